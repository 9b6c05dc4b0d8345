"""int8 ONNX by static quantization (ONNX Runtime's tools), in QDQ form, which mobile runtimes accept.

The choice, measured in `benchmarks/export_graph.py` on MMNet 1.0 @256 (ONNX Runtime, x86): unsigned 8-bit
activations with signed per-channel weights (U8S8) run about 1.5× faster than fp32, where the tools'
default, signed activations (S8S8), runs slower than fp32. MinMax calibration on a few dozen photos keeps
GAUSS_GRAD within 1% of fp32 on the validation hold-out; nothing needs to be left in float.
"""
from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from mmnet.data.dataset import find_pairs, select
from mmnet.data.holdout import HOLDOUT_PERCENT
from mmnet.data.io import find_photos, read_image
from mmnet.data.preprocess import prepare_eval
from mmnet.files import atomic_write

CALIBRATION_IMAGES = 64


class _Images(CalibrationDataReader):
    """The calibration arrays, one image (1×3×S×S) per step."""

    def __init__(self, batches: Sequence[np.ndarray]) -> None:
        self._images: Iterator[np.ndarray] = (image[None] for batch in batches for image in batch)

    def get_next(self) -> dict[str, np.ndarray] | None:
        image = next(self._images, None)
        return None if image is None else {"image": np.ascontiguousarray(image, np.float32)}


def quantize_int8(src: str | Path, dst: str | Path, calibration: Sequence[np.ndarray]) -> Path:
    """Write the int8 QDQ form of the fp32 ONNX model `src` to `dst`, its activation ranges taken from
    `calibration`: N×3×S×S float32 arrays in [0, 1] (see `calibration_images`)."""
    if not calibration or not sum(len(batch) for batch in calibration):
        raise ValueError("int8 quantization needs at least one calibration image")
    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.onnx"  # shapes inferred, graph optimized: what quantize expects
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        atomic_write(dst, lambda tmp: quantize_static(
            prepared, tmp, _Images(calibration), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8), suffix=".onnx")
    return Path(dst)


def calibration_images(folder: str | Path, size: int, limit: int = CALIBRATION_IMAGES) -> np.ndarray:
    """Up to `limit` photos of `folder` (recursively, evenly spread over its sorted list), prepared as the
    runtime prepares them: N×3×S×S float32 in [0, 1]."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: the calibration folder does not exist")
    photos = find_photos(folder)
    if not photos:
        raise ValueError(f"{folder}: no photos to calibrate int8 with")
    picked = [photos[int(i)] for i in np.unique(np.linspace(0, len(photos) - 1, min(limit, len(photos))).round())]
    return np.stack([prepare_eval(read_image(path), size) for path in picked])  # ImageReadError names the file


def training_calibration(dataset: str | Path, size: int, count: int = CALIBRATION_IMAGES) -> np.ndarray:
    """float32 count×3×S×S calibration inputs: photos of `<dataset>/train` outside its hold-out
    (HOLDOUT_PERCENT), spread over the split."""
    pairs = select(find_pairs(Path(dataset), "train"), HOLDOUT_PERCENT, holdout=False)
    chosen = pairs[:: max(1, len(pairs) // count)][:count]
    return np.stack([prepare_eval(read_image(pair.image), size) for pair in chosen])
