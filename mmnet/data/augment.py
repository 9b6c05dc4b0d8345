"""Geometry and colour augmentation of training pairs (numpy + cv2 only), on the resampling of
`mmnet.data.preprocess` (its coordinate conventions)."""
from __future__ import annotations

import math

import numpy as np

from mmnet.data.preprocess import warp

SCALE_STEPS = 16  # up-scale factors 1.00, 1.01, …, 1.15
MAX_ROTATION_DEG = 15.0
MAX_HUE_TURNS = 0.1  # hue rotation, in turns of the colour circle, at color_jitter = 1

_GREY = np.array([0.299, 0.587, 0.114], np.float32)  # RGB luminance weights
_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def reference_affine(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random 2×3 matrix mapping output pixel coordinates to input coordinates of a size×size image:
    the reference's `resize_random_scale_crop_flip_rotate` after its first squash-resize.

    Steps, as drawn from `rng` in this order: independent height/width up-scale factors from
    {1.00, …, 1.15} and an align_corners=True resize to (⌊size·s_h⌋, ⌊size·s_w⌋); a random size×size
    crop; a horizontal flip with p = 0.5; with p = 0.5 a rotation by θ ~ U(−15°, 15°) about the centre
    (TF `rotate` convention), a centre crop of round(size/(|cos θ|+|sin θ|)) and a half-pixel
    (align_corners=False) resize back to size. The reference resamples at every step; here the steps
    are composed into ONE affine so that image and mask are resampled once (bilinear). The geometry is
    the same, except that the rotation's centre crop is centred exactly rather than at an integer offset.
    """
    last = size - 1
    height = size * (100 + int(rng.integers(0, SCALE_STEPS))) // 100  # exact ⌊size·s⌋
    width = size * (100 + int(rng.integers(0, SCALE_STEPS))) // 100
    top = int(rng.integers(0, height - size + 1))
    left = int(rng.integers(0, width - size + 1))
    flip = rng.random() < 0.5
    rotate = rng.random() < 0.5

    # Each matrix maps a stage's output coordinates to its input's; the product goes source-first.
    matrix = _affine(last / max(width - 1, 1), 0, 0, 0, last / max(height - 1, 1), 0)  # scale up
    matrix = matrix @ _affine(1, 0, left, 0, 1, top)  # crop
    if flip:
        matrix = matrix @ _affine(-1, 0, last, 0, 1, 0)
    if rotate:
        theta = math.radians(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG))
        cos, sin = math.cos(theta), math.sin(theta)
        centre = last / 2
        crop = round(size / (abs(cos) + abs(sin)))
        ratio = crop / size
        matrix = matrix @ _affine(cos, -sin, centre - cos * centre + sin * centre,  # rotate about centre
                                  sin, cos, centre - sin * centre - cos * centre)
        matrix = matrix @ _affine(1, 0, (size - crop) / 2, 0, 1, (size - crop) / 2)  # centre crop
        matrix = matrix @ _affine(ratio, 0, 0.5 * ratio - 0.5, 0, ratio, 0.5 * ratio - 0.5)  # resize back
    return matrix[:2]


def augment(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
            color_jitter: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """One training sample from a squash-resized S×S pair (uint8 S×S×3 RGB image, uint8 S×S mask):
    the same `reference_affine` warp for both, then optional colour jitter of the image.
    Returns (float32 3×S×S image in [0, 1], float32 1×S×S alpha in [0, 1])."""
    size = image.shape[0]
    if image.shape != (size, size, 3) or mask.shape != (size, size):
        raise ValueError(f"augment needs an S×S×3 image and an S×S mask, got {image.shape} and {mask.shape}")
    stacked = np.dstack([image, mask]).astype(np.float32)
    warped = warp(stacked, reference_affine(rng, size), size)
    warped *= 1 / 255
    np.clip(warped, 0.0, 1.0, out=warped)
    rgb, alpha = warped[..., :3], warped[..., 3]
    if color_jitter > 0:
        rgb = jitter_colors(rgb, rng, color_jitter)
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)), np.ascontiguousarray(alpha[None])


def jitter_colors(rgb: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Brightness, contrast and saturation by factors in [1−strength, 1+strength], then a hue rotation
    of up to ±MAX_HUE_TURNS·strength turns (in YIQ), of a float H×W×3 RGB image in [0, 1]."""
    low, high = max(0.0, 1 - strength), 1 + strength
    brightness, contrast, saturation = rng.uniform(low, high, size=3)
    hue = 2 * math.pi * MAX_HUE_TURNS * strength * rng.uniform(-1, 1)
    rgb = rgb * np.float32(brightness)
    mean = float((rgb @ _GREY).mean())
    rgb = (rgb - mean) * np.float32(contrast) + np.float32(mean)
    grey = (rgb @ _GREY)[..., None]
    rgb = grey + (rgb - grey) * np.float32(saturation)
    cos, sin = math.cos(hue), math.sin(hue)
    rotate_iq = np.array([[1, 0, 0], [0, cos, -sin], [0, sin, cos]])
    colour = np.linalg.inv(_RGB_TO_YIQ) @ rotate_iq @ _RGB_TO_YIQ
    rgb = rgb @ colour.T.astype(np.float32)
    return np.clip(rgb, 0.0, 1.0, out=rgb)


def _affine(a: float, b: float, c: float, d: float, e: float, f: float) -> np.ndarray:
    return np.array([[a, b, c], [d, e, f], [0.0, 0.0, 1.0]])


