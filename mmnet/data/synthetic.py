"""Synthetic portrait-like pairs, for tests and smoke runs: a soft-edged figure (head with hair over a
rounded torso) composited over a textured background, with its soft alpha matte."""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np


def synthetic_pair(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 H×W×3 RGB image, uint8 H×W matte) of a random figure over a random background."""
    head, hair, torso = _figure_masks(rng, height, width)
    figure = np.maximum(np.maximum(head, hair), torso)
    sigma = rng.uniform(0.6, 2.0) * min(height, width) / 120  # soft band a few pixels wide
    alpha = cv2.GaussianBlur(figure, (0, 0), sigma)

    torso_colour = rng.uniform(20, 235, 3).astype(np.float32)
    skin = np.array([rng.uniform(150, 240), rng.uniform(100, 190), rng.uniform(70, 160)], np.float32)
    hair_colour = rng.uniform(10, 110, 3).astype(np.float32)
    texture = _fine_noise(rng, height, width, 1.0)
    foreground = torso_colour + 12 * texture
    foreground += _stripes(rng, height, width, amplitude=rng.uniform(0, 25), cycles=(6, 20))
    for part, colour in ((hair, hair_colour), (head, skin)):
        weight = cv2.GaussianBlur(part, (0, 0), 0.7)[..., None]
        foreground = foreground * (1 - weight) + (colour + 6 * texture) * weight

    a = alpha[..., None]
    image = a * foreground + (1 - a) * _background(rng, height, width)
    image += _fine_noise(rng, height, width, 2.0)
    return np.clip(image, 0, 255).round().astype(np.uint8), np.clip(alpha * 255, 0, 255).round().astype(np.uint8)


def make_dataset(root: str | Path, n: int = 16, height: int = 160, width: int = 120, split: str = "train",
                 seed: int = 0) -> Path:
    """Write n pairs in the original layout, `<root>/<split>/image/synth_00000.jpg` and
    `<root>/<split>/mask/synth_00000.png`, …; returns `<root>/<split>`."""
    split_dir = Path(root) / split
    (split_dir / "image").mkdir(parents=True, exist_ok=True)
    (split_dir / "mask").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        image, mask = synthetic_pair(np.random.default_rng([seed, i]), height, width)
        stem = f"synth_{i:05d}"
        _write(split_dir / "image" / f"{stem}.jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
               [cv2.IMWRITE_JPEG_QUALITY, 92])
        _write(split_dir / "mask" / f"{stem}.png", mask)
    return split_dir


def _figure_masks(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, ...]:
    """Float32 {0, 1} (anti-aliased) masks of the face, the hair and the torso."""
    centre_x = width * rng.uniform(0.3, 0.7)
    head_y = height * rng.uniform(0.22, 0.4)
    head_ry = height * rng.uniform(0.1, 0.17)
    head_rx = head_ry * rng.uniform(0.7, 0.9)
    tilt = rng.uniform(-12, 12)
    torso_top = head_y + head_ry * rng.uniform(0.8, 1.1)
    torso_rx = head_rx * rng.uniform(1.8, 2.8)
    torso_ry = height * rng.uniform(0.45, 0.7)  # reaches past the bottom edge
    masks = []
    for centre, axes, angle in (
        ((centre_x, head_y + head_ry * 0.1), (head_rx, head_ry * 0.9), tilt),  # face
        ((centre_x, head_y - head_ry * 0.15), (head_rx * 1.1, head_ry * 0.95), tilt),  # hair
        ((centre_x + rng.uniform(-0.2, 0.2) * torso_rx, torso_top + torso_ry), (torso_rx, torso_ry), 0.0),  # torso
    ):
        canvas = np.zeros((height, width), np.uint8)
        cv2.ellipse(canvas, (_fixed(centre[0]), _fixed(centre[1])), (_fixed(axes[0]), _fixed(axes[1])),
                    angle, 0, 360, 255, -1, cv2.LINE_AA, _SHIFT)
        masks.append(canvas.astype(np.float32) / 255)
    return tuple(masks)


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Float H×W×3: a random two-colour gradient, stripes and smooth noise blobs."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    ramp = xs * math.cos(angle) + ys * math.sin(angle)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    start, stop = rng.uniform(0, 255, (2, 3)).astype(np.float32)
    background = start + (stop - start) * ramp[..., None]
    background += _stripes(rng, height, width, amplitude=rng.uniform(0, 40), cycles=(2, 10))
    blobs = rng.standard_normal((height // 16 + 2, width // 16 + 2, 3), np.float32)
    background += np.float32(rng.uniform(0, 35)) * cv2.resize(blobs, (width, height), interpolation=cv2.INTER_CUBIC)
    return background + _fine_noise(rng, height, width, 3.0)


def _stripes(rng: np.random.Generator, height: int, width: int, amplitude: float,
             cycles: tuple[float, float]) -> np.ndarray:
    """Float H×W×3 sinusoidal stripes of a random colour, direction and frequency."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, math.pi)
    frequency = 2 * math.pi * rng.uniform(*cycles) / max(height, width)
    wave = np.sin(frequency * (xs * math.cos(angle) + ys * math.sin(angle)) + rng.uniform(0, 2 * math.pi))
    return (amplitude * wave[..., None] * rng.uniform(-1, 1, 3)).astype(np.float32)


def _fine_noise(rng: np.random.Generator, height: int, width: int, std: float) -> np.ndarray:
    return rng.standard_normal((height, width, 3), np.float32) * np.float32(std)


_SHIFT = 4  # cv2 drawing with 1/16-pixel precision


def _fixed(value: float) -> int:
    return int(round(value * (1 << _SHIFT)))


def _write(path: Path, array: np.ndarray, params: list[int] | None = None) -> None:
    ok, encoded = cv2.imencode(path.suffix, array, params or [])
    if not ok:
        raise OSError(f"{path}: could not encode")
    path.write_bytes(encoded.tobytes())
