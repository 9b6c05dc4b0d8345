"""One entry point for every export: trained weights (`Trained.load`) or a torch model -> an ONNX (fp32 or
int8) or TFLite file. `mmnet export`, `mmnet ship`, `mmnet bench` and the runtime (a `.pt` given to
`mmnet.load`, exported on the fly) all start here. A new format is a branch of `export_model` (and a choice
of `mmnet export --format`)."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from mmnet.export import FORMATS
from mmnet.export.onnx import export_onnx
from mmnet.files import atomic_write
from mmnet.models.variants import ONNX_MIN_SIZE, check_size
from mmnet.training.checkpoint import Checkpoint, load_model


@dataclass
class Trained:
    """A trained network, ready to export: the model (eval mode), its checkpoint and the side S."""

    model: nn.Module
    checkpoint: Checkpoint
    size: int

    @classmethod
    def load(cls, source: str | Path, size: int | None = None, use_ema: bool = True) -> Trained:
        """A shipped model name, a checkpoint file or a train dir (its newest); `size` (default: the
        checkpoint's) is the side the files will take."""
        model, checkpoint = load_model(source, use_ema)
        return cls(model, checkpoint, int(size or checkpoint.size))

    def export(self, path: str | Path, fmt: str = "onnx", dynamic: bool = False,
               calibration: np.ndarray | None = None) -> Path:
        """`export_model` of this network at its side."""
        return export_model(self.model, path, fmt, self.size, dynamic, calibration)


def export_model(model: nn.Module, path: str | Path, fmt: str = "onnx", size: int = 256, dynamic: bool = False,
                 calibration: np.ndarray | None = None) -> Path:
    """Write `model` (eval mode) to `path` as `fmt`; `calibration` (N×3×S×S in [0, 1], see
    `mmnet.export.quantize.calibration_images`) makes an int8 ONNX file; `dynamic` leaves batch and sides
    free (ONNX only)."""
    check_size(size, ONNX_MIN_SIZE)
    if fmt == "tflite":
        if dynamic or calibration is not None:
            raise ValueError("TFLite export is fp32 with a fixed 1×S×S×3 input: drop --dynamic and --int8")
        from mmnet.export.tflite import export_tflite  # needs litert-torch
        return export_tflite(model, path, size)
    if fmt != "onnx":
        raise ValueError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    if calibration is None:
        return atomic_write(path, lambda tmp: export_onnx(model, tmp, size, dynamic), suffix=".onnx")
    from mmnet.export.quantize import quantize_int8

    with tempfile.TemporaryDirectory() as scratch:  # summed merges cost in int8: see mmnet.export.rewrite
        fp32 = export_onnx(model, Path(scratch) / "fp32.onnx", size, dynamic, split_merges=False)
        return quantize_int8(fp32, path, [calibration])
