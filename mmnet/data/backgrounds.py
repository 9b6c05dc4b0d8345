"""Background photos for composites: a folder split into a training and a held-out part by file name."""
from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from mmnet.data.dataset import DatasetError, in_holdout
from mmnet.data.holdout import BACKGROUND_HOLDOUT_PERCENT
from mmnet.data.io import IMAGE_SUFFIXES, ImageReadError, read_image


def split_backgrounds(folder: str | Path, holdout_percent: float = BACKGROUND_HOLDOUT_PERCENT,
                      holdout: bool = False) -> list[Path]:
    """The image files of `folder`, sorted: the held-out part by `in_holdout(stem, holdout_percent)`
    (holdout=True) or the rest, the training part."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: background folder does not exist")
    files = [path for path in sorted(folder.iterdir()) if path.suffix.lower() in IMAGE_SUFFIXES
             and not path.name.startswith(".") and path.is_file()]
    return [path for path in files if in_holdout(path.stem, holdout_percent) == holdout]


def load_backgrounds(folder: str | Path, size: int, holdout_percent: float = BACKGROUND_HOLDOUT_PERCENT,
                     holdout: bool = False, *, threads: int = 2) -> list[np.ndarray]:
    """The training (or held-out) background photos of `folder` as uint8 RGB arrays whose SHORT side is
    `size` (aspect kept). Unreadable files are skipped with a warning naming them."""
    paths = split_backgrounds(folder, holdout_percent, holdout)
    with ThreadPoolExecutor(max(1, threads)) as pool:
        loaded = list(pool.map(lambda path: _load_background(path, size), paths))
    backgrounds = []
    for path, result in zip(paths, loaded):
        if isinstance(result, str):
            warnings.warn(f"{path}: background skipped ({result})", stacklevel=2)
        else:
            backgrounds.append(result)
    if not backgrounds:
        part = "held-out" if holdout else "training"
        raise DatasetError(f"{folder}: no readable background images in the {part} part of a "
                           f"{holdout_percent:g}% hold-out ({len(paths)} files)")
    return backgrounds


def _load_background(path: Path, size: int) -> np.ndarray | str:
    """The photo resized so that its short side is `size`, or the problem as a message."""
    try:
        image = read_image(path)
    except ImageReadError as error:
        return error.problem
    height, width = image.shape[:2]
    scale = size / min(height, width)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, new_size, interpolation=interpolation)
