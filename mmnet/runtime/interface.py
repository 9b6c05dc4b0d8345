"""What a backend is, apart from which one: the interface `Matting` runs (`Backend`), its graph's ports, the
error a backend raises, and the pixels -> batch conversion that the float backends share. `backends` (ONNX
Runtime, OpenVINO, the choice) and `litert` both build on it."""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np

from mmnet.data.preprocess import pixels_to_float
from mmnet.errors import WeightsError

INPUT, OUTPUT = "image", "alpha"


class BackendError(WeightsError):
    """A backend that is unknown, not installed or cannot run the file; the message says which."""


class Port(NamedTuple):
    """An input or output of the graph: its name and shape (None or a string for a free dimension)."""

    name: str
    shape: list[int | str | None]


class Backend(Protocol):
    """What `Matting` needs from a runtime."""

    name: str
    path: Path

    def run(self, batch: np.ndarray) -> np.ndarray: ...

    def run_pixels(self, pixels: np.ndarray) -> np.ndarray: ...

    def get_inputs(self) -> list[Port]: ...

    def get_outputs(self) -> list[Port]: ...


def last_line(error: Exception) -> str:
    """The last line of an error's message (a runtime's own is often a long trace), or its type's name."""
    lines = str(error).strip().splitlines()
    return lines[-1] if lines else type(error).__name__


def pixels_to_batch(pixels: np.ndarray) -> np.ndarray:
    """uint8 N×H×W×3 RGB -> float32 N×3×H×W in [0, 1], as `mmnet.data.preprocess.prepare_eval` makes them."""
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[3] != 3:
        raise ValueError(f"expected uint8 N×H×W×3 pixels, got {pixels.dtype} {pixels.shape}")
    return pixels_to_float(pixels)
