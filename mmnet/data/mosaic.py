"""Mosaics of real photos: the training sample split at a random point into 2×2 tiles, each tile a whole training
sample (a photo with its own surroundings and its matte) resized into it. People come out smaller, several to a
frame and at every place, as in everyday photos, without a cut-out's pasted edge: the seams are straight lines
between two photos, which no photo of a person has (YOLOv4's mosaic augmentation, for mattes)."""
from __future__ import annotations

import cv2
import numpy as np

from mmnet.data.dataset import parse_item

SPLIT_RANGE = (0.3, 0.7)  # where the tiles meet, as a share of the side: no tile squashed more than 7:3


class MosaicDataset:
    """`base`'s samples, each a mosaic of four of them with probability `p_mosaic` (else `base`'s own).

    Items are `base`'s: an index or the sampler's (index, seed); a mosaic's first tile is that item's own sample,
    the other three are drawn from the whole of `base` by the item's seed (a fresh generator for a plain index)."""

    def __init__(self, base, p_mosaic: float) -> None:
        if not 0 <= p_mosaic <= 1:
            raise ValueError(f"p_mosaic must be in [0, 1], got {p_mosaic}")
        self.base, self.p_mosaic = base, p_mosaic

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        index, seed = parse_item(item, len(self))
        rng = np.random.default_rng(None if seed is None else [seed, 0x6D6F73])
        if rng.random() >= self.p_mosaic:
            return self.base[item]
        image, alpha = self.base[item]
        size_y, size_x = image.shape[1:]
        split_x, split_y = (round(side * rng.uniform(*SPLIT_RANGE)) for side in (size_x, size_y))
        tiles = [(0, split_y, 0, split_x), (0, split_y, split_x, size_x), (split_y, size_y, 0, split_x),
                 (split_y, size_y, split_x, size_x)]
        out_image, out_alpha = np.empty_like(image), np.empty_like(alpha)
        for number, (top, bottom, left, right) in enumerate(tiles):
            if number:
                image, alpha = self.base[(int(rng.integers(len(self.base))), int(rng.integers(2**62)))]
            out_image[:, top:bottom, left:right] = _resize(image, bottom - top, right - left)
            out_alpha[:, top:bottom, left:right] = _resize(alpha, bottom - top, right - left)
        return out_image, out_alpha


def _resize(planes: np.ndarray, height: int, width: int) -> np.ndarray:
    """C×H×W float32 planes resized to C×height×width (area averaging, as a camera sees a smaller scene)."""
    hwc = cv2.resize(np.ascontiguousarray(planes.transpose(1, 2, 0)), (width, height), interpolation=cv2.INTER_AREA)
    return hwc.reshape(height, width, -1).transpose(2, 0, 1)
