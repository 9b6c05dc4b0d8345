"""Whatever a caller hands us as a photo -> uint8 H×W×3 RGB, through the one decode path of `mmnet.data.io`."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Union

import cv2
import numpy as np

from mmnet.data.io import ImageReadError, decode_image_bytes, read_image, to_uint8

ImageLike = Union[np.ndarray, str, Path, bytes, Any]  # Any: a PIL image


def to_rgb(image: ImageLike) -> np.ndarray:
    """A photo as uint8 H×W×3 RGB. Accepts a path, encoded bytes, a PIL image, or an array: H×W grey,
    H×W×3 RGB, H×W×4 RGBA (alpha dropped); uint8, uint16, or float in [0, 1]."""
    if isinstance(image, (str, Path)):
        return read_image(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return decode_image_bytes(bytes(image), "<bytes>")
    if _is_pil(image):
        return np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        return _array_to_rgb(image)
    raise TypeError(f"expected a path, bytes, a numpy array or a PIL image, got {type(image).__name__}")


def _is_pil(image: Any) -> bool:
    """True for a PIL image; never imports PIL (a PIL image means PIL is already loaded)."""
    pil = sys.modules.get("PIL.Image")
    return pil is not None and isinstance(image, pil.Image)


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageReadError("<array>", f"expected H×W, H×W×3 or H×W×4, got shape {array.shape}")
    if min(array.shape[:2]) < 1:
        raise ImageReadError("<array>", f"image of {array.shape[1]}×{array.shape[0]} pixels is empty")
    array = to_uint8(array)
    if array.ndim == 2:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)
    return np.ascontiguousarray(array[..., :3])
