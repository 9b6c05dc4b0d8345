"""The LiteRT backend: a `.tflite` matting model (fp32 or full-integer int8) on `ai-edge-litert`'s
interpreter with its XNNPACK delegate, behind the interface of `mmnet.runtime.backends`.

mmnet's `.tflite` files take one NHWC photo, 1×S×S×3, and give 1×S×S×1 alpha (float32). An fp32 file takes
RGB in [0, 1]; an int8 file takes int8 pixels quantized with scale 1/255 and zero point -128, which is the
uint8 pixel minus 128 (`run_pixels` feeds uint8 photos so, with no float conversion on the way in).
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mmnet.runtime.interface import BackendError, Port, last_line, pixels_to_batch

PIXEL_SCALE, PIXEL_ZERO = 1 / 255, -128  # an int8 input that is exactly the uint8 pixel minus 128
# LiteRT's own default is one thread; mmnet's, as ONNX Runtime's, is the cores, up to 4 (these graphs are small).
DEFAULT_THREADS = min(4, os.cpu_count() or 1)
# What LiteRT's C++ prints to stderr, once per process, as its first interpreter creates the XNNPACK delegate.
XNNPACK_NOTICE = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
_notice = {"seen": False, "lock": threading.Lock()}


def allocate_quietly(interpreter) -> None:
    """`interpreter.allocate_tensors()` without LiteRT's XNNPACK notice on stderr; anything else it prints passes
    through. LiteRT has no switch for it (TF_CPP_MIN_LOG_LEVEL does not reach it), so stderr's file descriptor is
    captured around the process's first allocation, under a lock."""
    with _notice["lock"]:
        if _notice["seen"]:
            interpreter.allocate_tensors()
            return
        with _stderr_without(XNNPACK_NOTICE):
            interpreter.allocate_tensors()
        _notice["seen"] = True


@contextlib.contextmanager
def _stderr_without(line: bytes) -> Iterator[None]:
    """Capture what is written to file descriptor 2 within, and write it back without the lines that are `line`."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [text for text in captured.read().splitlines(keepends=True) if text.rstrip(b"\r\n") != line]
            if kept:
                os.write(2, b"".join(kept))


class LiteRtBackend:
    """A LiteRT interpreter (XNNPACK on the CPU, `threads` threads, default DEFAULT_THREADS) for one 1×S×S×3
    `.tflite` model."""

    name = "litert"

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as error:
            raise BackendError(f"backend 'litert' is not installed ({error}; pip install mmnet[litert])") from None
        self.path, self.threads = Path(path), threads or DEFAULT_THREADS
        try:
            self.session = Interpreter(model_path=str(self.path), num_threads=self.threads)
            allocate_quietly(self.session)
        except (ValueError, RuntimeError) as error:
            raise BackendError(f"{self.path}: cannot load it in LiteRT ({last_line(error)})") from None
        inputs, outputs = self.session.get_input_details(), self.session.get_output_details()
        shape = tuple(int(n) for n in inputs[0]["shape"]) if len(inputs) == 1 else ()
        if len(shape) != 4 or shape[0] != 1 or shape[1] != shape[2] or shape[3] != 3 or len(outputs) != 1 \
                or tuple(outputs[0]["shape"]) != (*shape[:3], 1):
            found = [tuple(d["shape"]) for d in inputs], [tuple(d["shape"]) for d in outputs]
            raise BackendError(f"{self.path}: not an mmnet model (expected one 1×S×S×3 input and one 1×S×S×1 "
                               f"output, found {found[0]} -> {found[1]})")
        self.size = shape[1]
        self._input, self._output = inputs[0], outputs[0]
        self.dtype = np.dtype(self._input["dtype"])
        scale, zero = self._input["quantization"]
        self.precision = "int8" if self.dtype == np.int8 else "fp32"
        if self.dtype not in (np.float32, np.int8):
            raise BackendError(f"{self.path}: input type {self.dtype}; mmnet models take float32 or int8")
        self._scale, self._zero = (float(scale), int(zero)) if self.precision == "int8" else (1.0, 0)
        self._pixels_as_is = self.precision == "int8" and self._zero == PIXEL_ZERO \
            and abs(self._scale * 255 - 1) < 1e-6

    def __repr__(self) -> str:
        return f"litert[XNNPACK, {self.precision}]"

    def get_inputs(self) -> list[Port]:
        return [Port("image", [1, 3, self.size, self.size])]

    def get_outputs(self) -> list[Port]:
        return [Port("alpha", [1, 1, self.size, self.size])]

    def _invoke(self, tensor: np.ndarray) -> np.ndarray:
        self.session.set_tensor(self._input["index"], tensor)
        self.session.invoke()
        return self.session.get_tensor(self._output["index"])[0, :, :, 0].astype(np.float32)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """float32 N×3×S×S in [0, 1] -> float32 N×1×S×S alpha, one interpreter call per image."""
        alphas = []
        for image in np.asarray(batch, np.float32):
            nhwc = image.transpose(1, 2, 0)[None]
            if self.precision == "int8":
                nhwc = np.clip(np.rint(nhwc / self._scale) + self._zero, -128, 127)
            alphas.append(self._invoke(np.ascontiguousarray(nhwc, self.dtype)))
        return np.stack(alphas)[:, None]

    def run_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 N×S×S×3 RGB -> float32 N×1×S×S alpha; an int8 model takes them as the pixel minus 128."""
        pixels = np.asarray(pixels)
        if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[1:] != (self.size, self.size, 3):
            raise ValueError(f"expected uint8 N×{self.size}×{self.size}×3 pixels, got {pixels.dtype} {pixels.shape}")
        if not self._pixels_as_is:
            return self.run(pixels_to_batch(pixels))
        signed = np.bitwise_xor(pixels, np.uint8(128)).view(np.int8)  # pixel - 128, without widening
        return np.stack([self._invoke(signed[i:i + 1]) for i in range(len(signed))])[:, None]
