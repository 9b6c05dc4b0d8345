"""One entry point for every export: a torch model -> an ONNX (fp32 or int8) or TFLite file."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from torch import nn

from mmnet.export.onnx import export_onnx
from mmnet.files import atomic_write

FORMATS = ("onnx", "tflite")


def export_model(model: nn.Module, path: str | Path, fmt: str = "onnx", size: int = 256, dynamic: bool = False,
                 calibration: np.ndarray | None = None) -> Path:
    """Write `model` (eval mode) to `path` as `fmt`; `calibration` (N×3×S×S in [0, 1], see
    `mmnet.export.quantize.calibration_images`) makes an int8 ONNX file; `dynamic` leaves batch and sides
    free (ONNX only)."""
    if size < 32 or size % 16:
        raise ValueError(f"size must be a multiple of 16 of at least 32, got {size}")
    if fmt == "tflite":
        if dynamic or calibration is not None:
            raise ValueError("TFLite export is fp32 with a fixed 1×S×S×3 input: drop --dynamic and --int8")
        from mmnet.export.tflite import export_tflite  # noqa: PLC0415  (needs litert-torch)
        return export_tflite(model, path, size)
    if fmt != "onnx":
        raise ValueError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    if calibration is None:
        return atomic_write(path, lambda tmp: export_onnx(model, tmp, size, dynamic), suffix=".onnx")
    from mmnet.export.quantize import quantize_int8  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as scratch:  # summed merges cost in int8: see mmnet.export.rewrite
        fp32 = export_onnx(model, Path(scratch) / "fp32.onnx", size, dynamic, split_merges=False)
        return quantize_int8(fp32, path, [calibration])
