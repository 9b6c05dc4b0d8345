"""Inference preprocessing, shared by the runtime and training (numpy + cv2 only): the squash-resize that makes
a photo the network's S×S input, with TF's align_corners mapping, and the uint8 pixels to the float32 tensor
the network takes. `mmnet.data.augment` builds the training warps on `warp`.

Pixel coordinates are pixel centres (0 … n−1), as in `cv2.warpAffine`. Every resample is one bilinear
`cv2.warpAffine` with `WARP_INVERSE_MAP`, i.e. the matrix maps output coordinates to input coordinates
(OpenCV interpolates at 1/32-pixel positions).
"""
from __future__ import annotations

import cv2
import numpy as np


def resize_align_corners(array: np.ndarray, height: int, width: int | None = None) -> np.ndarray:
    """Bilinear resize of H×W or H×W×C (C ≤ 4) to height×width (width defaults to height) with TF's
    align_corners=True mapping, src = dst·(in−1)/(out−1), so corner pixels land exactly on corner pixels.
    The network's input is squashed this way, so its output goes back to the photo this way too. Keeps the
    dtype."""
    width = height if width is None else width
    if min(height, width) < 1:
        raise ValueError(f"the output must be at least 1×1, got {height}×{width}")
    in_height, in_width = array.shape[:2]
    if (in_height, in_width) == (height, width):
        return array
    matrix = np.array([[align_corners_scale(in_width, width), 0.0, 0.0],
                       [0.0, align_corners_scale(in_height, height), 0.0]])
    return warp(array, matrix, height, width)


def align_corners_scale(size_in: int, size_out: int) -> float:
    """Source pixels per output pixel under align_corners=True, (in−1)/(out−1); 0 for an output one pixel
    across (its pixel takes the first source pixel, as TF's resize does), so a 1×20000 photo has a matte too."""
    return (size_in - 1) / (size_out - 1) if size_out > 1 else 0.0


def prepare_eval(image: np.ndarray, size: int) -> np.ndarray:
    """The reference's `resize_bilinear` evaluation preprocessing: uint8 H×W×3 RGB -> align_corners
    resize (in uint8, as the dataset cache) -> float32 3×S×S in [0, 1]."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"prepare_eval needs a uint8 H×W×3 image, got {image.dtype} {image.shape}")
    return pixels_to_float(resize_align_corners(image, size))


def pixels_to_float(pixels: np.ndarray) -> np.ndarray:
    """uint8 …×H×W×3 -> C-contiguous float32 …×3×H×W in [0, 1]: what the network takes, from pixels."""
    return np.moveaxis(pixels, -1, -3).astype(np.float32, order="C") / 255


def warp(array: np.ndarray, matrix: np.ndarray, height: int, width: int | None = None) -> np.ndarray:
    """Bilinear warp to height×width (square if no width); `matrix` maps output to input coordinates;
    edges replicate."""
    if array.ndim == 3 and array.shape[2] > 4:
        raise ValueError(f"at most 4 channels can be warped, got {array.shape[2]}")
    warped = cv2.warpAffine(array, matrix, (width or height, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REPLICATE)
    return warped[..., None] if array.ndim == 3 and warped.ndim == 2 else warped
