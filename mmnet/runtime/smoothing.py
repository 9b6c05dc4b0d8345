"""Temporal smoothing of a video's mattes, which cuts flicker without a visible lag."""
from __future__ import annotations

import cv2
import numpy as np

SMOOTH_DEFAULT = 0.8  # `Smoother` strength; from benchmarks/video_speed.py --flicker
MOTION = 0.25  # an alpha change per frame at which smoothing stops (see `Smoother`)
IMAGE_MOTION = 0.05  # a change of the network's input per frame (colours in [0, 1]) at which it stops
_MEAN_OF_THREE = np.full((1, 3), 1 / 3, np.float32)


class Smoother:
    """Temporal smoothing of the network's S×S alpha, frame after frame: an exponential moving average
    s_t = k·s_{t−1} + (1 − k)·α_t whose weight on the past k is `strength` where the pixel holds still
    and 0 where it moves, so that still edges stop shimmering while a moving person is followed at once
    instead of trailing a ghost. A pixel holds still as far as either its alpha changed by less than
    `motion` since s_{t−1}, or the network's input (the S×S frame, if given) changed by less than
    `image_motion` there (mean over colours, 3×3 box): a flicker of the alpha over a still picture is
    smoothed however large, a real move changes both and is followed."""

    def __init__(self, strength: float = SMOOTH_DEFAULT, motion: float = MOTION,
                 image_motion: float = IMAGE_MOTION) -> None:
        self.strength, self.motion, self.image_motion = strength, motion, image_motion
        self.state: np.ndarray | None = None
        self.image: np.ndarray | None = None

    def __call__(self, alpha: np.ndarray, image: np.ndarray | None = None) -> np.ndarray:
        """The smoothed S×S alpha; `image`: the uint8 S×S×3 network input it came from."""
        previous, self.image = self.image, image
        if self.strength <= 0 or self.state is None or self.state.shape != alpha.shape:
            self.state = alpha
            return alpha
        still = np.clip(1 - np.abs(alpha - self.state) / self.motion, 0.0, 1.0)
        if image is not None and previous is not None and self.image_motion > 0:
            # the change averaged over the colours (cv2.transform: numpy's mean over the last axis is 25× slower)
            change = cv2.transform(cv2.absdiff(image, previous).astype(np.float32), _MEAN_OF_THREE)
            change = cv2.blur(change, (3, 3)) * np.float32(1 / 255)
            still = np.maximum(still, np.clip(1 - change / self.image_motion, 0.0, 1.0))
        self.state = alpha + self.strength * still * (self.state - alpha)
        return self.state
