"""What a matte is for: a transparent cut-out, a new background (colour, image, or the photo's own
background blurred), and the background options of the command line."""
from __future__ import annotations

from pathlib import Path
from typing import Union

import cv2
import numpy as np

from mmnet.data.io import to_uint8  # also for callers of this module
from mmnet.runtime import foreground
from mmnet.runtime.images import to_rgb

Background = Union[tuple[int, int, int], np.ndarray, str, Path]
BLUR = "blur"
BLUR_SIGMA = 0.02  # of the photo's longer side
BLUR_SHRINK = 8  # the blurred background is made at 1/8 of the photo's size
BLUR_ROWS = 256  # rows per band of the weighting
COLOURS = {"white": (255, 255, 255), "black": (0, 0, 0), "grey": (128, 128, 128), "gray": (128, 128, 128),
           "green": (0, 255, 0), "blue": (0, 0, 255), "red": (255, 0, 0)}


def cutout(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """uint8 H×W×4 RGBA: the estimated foreground colours, and alpha as `to_uint8(alpha)`; fully
    transparent pixels are black (they show nothing, and compress best)."""
    out = np.empty((*rgb.shape[:2], 4), np.uint8)  # written band by band: no other full-size buffer
    for rows, band, _ in foreground.bands(rgb, alpha):
        alpha8 = to_uint8(alpha[rows])
        colours = cv2.convertScaleAbs(band)  # rounded; band is in [0, 255]
        out[rows] = cv2.merge([*cv2.split(cv2.copyTo(colours, alpha8)), alpha8])  # copyTo: 0 where alpha8 is 0
    return out


def composite(rgb: np.ndarray, alpha: np.ndarray, background: Background) -> np.ndarray:
    """uint8 H×W×3: round(α·F + (1 − α)·B), F the estimated foreground, B from `backdrop`."""
    out = backdrop(background, rgb, alpha)
    for rows, colours, a in foreground.bands(rgb, alpha):
        behind = out[rows].astype(np.float32)
        colours -= behind
        colours *= a
        colours += behind
        out[rows] = cv2.convertScaleAbs(colours)
    return out


def background_image(background: Background, rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """`backdrop` as float32 H×W×3 in [0, 1]."""
    return backdrop(background, rgb, alpha).astype(np.float32) * np.float32(1 / 255)


def backdrop(background: Background, rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """A new uint8 H×W×3 background for a photo: an (R, G, B) colour (0-255), a colour name or "#rrggbb",
    "blur" (the photo's background, blurred without the person), or an image / path resized to cover."""
    height, width = rgb.shape[:2]
    if isinstance(background, str) and background == BLUR:
        return blurred_background(rgb, alpha)
    if isinstance(background, str) and parse_colour(background) is not None:
        background = parse_colour(background)
    if isinstance(background, tuple):
        if len(background) != 3 or not all(0 <= int(c) <= 255 for c in background):
            raise ValueError(f"a background colour is (R, G, B) with values 0-255, got {background}")
        return cv2.merge([np.full((height, width), c, np.uint8) for c in background])  # faster than np.full
    return np.array(cover(to_rgb(background), height, width))


def parse_colour(text: str) -> tuple[int, int, int] | None:
    """"#rrggbb", "#rgb", "r,g,b" or a name of COLOURS -> (R, G, B); None if `text` is none of these."""
    text = text.strip().lower()
    if text in COLOURS:
        return COLOURS[text]
    digits = text[1:] if text.startswith("#") else ""
    if len(digits) in (3, 6) and all(c in "0123456789abcdef" for c in digits):
        digits = digits if len(digits) == 6 else "".join(c * 2 for c in digits)
        return tuple(int(digits[i:i + 2], 16) for i in (0, 2, 4))
    parts = text.split(",")
    if len(parts) == 3 and all(p.strip().isdigit() and int(p) <= 255 for p in parts):
        return tuple(int(p) for p in parts)
    return None


def cover(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Scale `image` to cover height×width (keeping its aspect ratio), then crop the centre."""
    in_height, in_width = image.shape[:2]
    if (in_height, in_width) == (height, width):
        return image
    scale = max(height / in_height, width / in_width)
    new_width, new_height = max(width, round(in_width * scale)), max(height, round(in_height * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_width, new_height), interpolation=interpolation)
    top, left = (new_height - height) // 2, (new_width - width) // 2
    return resized[top:top + height, left:left + width]


def blurred_background(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """uint8 H×W×3: the photo's background blurred with the person left out (normalised convolution with
    weights 1 − α), so the person's colours do not bleed into it as a halo. Blurred at 1/`BLUR_SHRINK` size
    (the blur is wide: its σ is 2 % of the longer side)."""
    height, width = rgb.shape[:2]
    small = (max(2, width // BLUR_SHRINK), max(2, height // BLUR_SHRINK))
    weighted, weight = _shrunk_weighted(rgb, alpha, small)
    image = cv2.resize(rgb, small, interpolation=cv2.INTER_AREA).astype(np.float32)
    sigma = BLUR_SIGMA * max(small)
    blurred = cv2.GaussianBlur(weighted, (0, 0), sigma)
    norm = cv2.GaussianBlur(weight, (0, 0), sigma)[..., None]
    background = blurred / np.maximum(norm, 1e-3)
    # Where the person hides everything nearby, fall back to the plain blur of the photo.
    plain = cv2.GaussianBlur(image, (0, 0), sigma)
    trust = np.clip(norm / 0.05, 0.0, 1.0)
    background = trust * background + (1 - trust) * plain
    return cv2.resize(np.clip(background + 0.5, 0, 255).astype(np.uint8), (width, height),
                      interpolation=cv2.INTER_LINEAR)


def _shrunk_weighted(rgb: np.ndarray, alpha: np.ndarray, small: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The photo weighted by 1 − α and those weights, each shrunk to `small` (float32, weights in [0, 1]):
    shrunk separately, so no person colour enters at the edge. The weighting runs band by band of rows."""
    weight_full = 255 - to_uint8(alpha)
    weighted_full = np.empty(rgb.shape, np.uint8)
    for top in range(0, len(rgb), BLUR_ROWS):
        rows = slice(top, top + BLUR_ROWS)
        cv2.multiply(rgb[rows], cv2.merge([weight_full[rows]] * 3), dst=weighted_full[rows], scale=1 / 255)
    del weight_full
    weighted = cv2.resize(weighted_full, small, interpolation=cv2.INTER_AREA).astype(np.float32)
    del weighted_full
    shrunk_alpha = cv2.resize(alpha.astype(np.float32, copy=False), small, interpolation=cv2.INTER_AREA)
    return weighted, 1 - np.clip(shrunk_alpha, 0.0, 1.0)
