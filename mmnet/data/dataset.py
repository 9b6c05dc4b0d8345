"""Matting pairs on disk (`<root>/<split>/image/*`, `<root>/<split>/mask/*`), a deterministic validation
hold-out, and `MattingDataset`: every pair decoded, checked and cached once, squash-resized to S×S.

No torch here: a torch `DataLoader` takes any object with `__len__` / `__getitem__`, and its
`default_collate` turns the numpy arrays returned into tensors.
"""
from __future__ import annotations

import hashlib
import operator
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mmnet.data.augment import augment as augment_pair
from mmnet.data.io import IMAGE_SUFFIXES, ImageReadError, read_image, read_mask
from mmnet.data.preprocess import pixels_to_float, resize_align_corners
from mmnet.errors import ConfigError, MmnetError

MAX_LISTED = 10  # names listed in an error message before "…"


class DatasetError(MmnetError, ValueError):
    """A dataset folder that cannot be used as it is; the message names the folder or files."""


@dataclass(frozen=True)
class Pair:
    """A photo and its alpha matte, matched by file stem."""

    stem: str
    image: Path
    mask: Path


def find_pairs(root: str | Path, split: str, problems: list[str] | None = None) -> list[Pair]:
    """The pairs of `<root>/<split>/image/*` and `<root>/<split>/mask/*`, matched by stem, sorted by stem.

    Orphans (an image without a mask or a mask without an image) and stems with more than one file raise a
    DatasetError naming them all; given a `problems` list, they are appended to it instead and the pairs that
    do match are returned, so that a caller can check those too and report everything in one error."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset root does not exist")
    split_dir = root / split
    if not split_dir.is_dir():
        found = sorted(p.name for p in root.iterdir() if (p / "image").is_dir())
        raise DatasetError(f"{root}: no split {split!r} (splits found: {', '.join(found) or 'none'})")
    images = _files_by_stem(split_dir / "image")
    masks = _files_by_stem(split_dir / "mask")
    if not images:
        raise DatasetError(f"{split_dir / 'image'}: no images ({' '.join('*' + s for s in IMAGE_SUFFIXES)})")

    found: list[str] = []
    for folder, by_stem in ((split_dir / "image", images), (split_dir / "mask", masks)):
        repeated = [f"{stem} ({', '.join(p.name for p in paths)})" for stem, paths in by_stem.items()
                    if len(paths) > 1]
        if repeated:
            found.append(_problem(folder, "stems with more than one file", repeated))
    no_mask = sorted(paths[0].name for stem, paths in images.items() if stem not in masks)
    if no_mask:
        found.append(_problem(split_dir / "mask", "no mask for these images", no_mask))
    no_image = sorted(paths[0].name for stem, paths in masks.items() if stem not in images)
    if no_image:
        found.append(_problem(split_dir / "image", "no image for these masks", no_image))
    if found and problems is None:
        raise DatasetError("\n".join(found))
    if problems is not None:
        problems.extend(found)
    return [Pair(stem, images[stem][0], masks[stem][0]) for stem in sorted(images)
            if stem in masks and len(images[stem]) == 1 and len(masks[stem]) == 1]


def in_holdout(stem: str, percent: float) -> bool:
    """Whether `stem` is in the validation hold-out of `percent` % (stable: a SHA-1 of the stem)."""
    if not 0 <= percent <= 100:
        raise ConfigError(f"hold-out percent must be in [0, 100], got {percent}")
    return int(hashlib.sha1(stem.encode("utf-8")).hexdigest(), 16) % 10000 < percent * 100


def select(pairs: Iterable[Pair], holdout_percent: float, holdout: bool) -> list[Pair]:
    """The held-out part of `pairs` (holdout=True) or the rest, the training part (holdout=False)."""
    return [pair for pair in pairs if in_holdout(pair.stem, holdout_percent) == holdout]


class MattingDataset:
    """Every pair of a split (or of its training / held-out part), decoded and validated on open and
    cached squash-resized to size×size (align_corners=True bilinear) in two contiguous uint8 arrays,
    `images` (N×S×S×3 RGB) and `masks` (N×S×S), which forked DataLoader workers share; `aspects` holds
    each photo's own width / height.

    `dataset[i]` or `dataset[(i, seed)]` -> (float32 3×S×S image in [0, 1], float32 1×S×S alpha in
    [0, 1]): augmented with `np.random.default_rng(seed)` (a fresh generator for a plain index) when
    `augment`, else the evaluation pair.
    """

    def __init__(self, root: str | Path, split: str = "train", size: int = 256, *, augment: bool = True,
                 holdout_percent: float = 0.0, holdout: bool = False, color_jitter: float = 0.0,
                 keep_full_masks: bool = False, threads: int = 2, progress: bool = True) -> None:
        self.root, self.split, self.size = Path(root), split, size
        self.augment, self.color_jitter = augment, color_jitter
        layout: list[str] = []  # orphans and repeated stems, reported with the pairs' own problems
        self.pairs = select(find_pairs(root, split, layout), holdout_percent, holdout)
        if not self.pairs and layout:
            raise DatasetError("\n".join(layout))
        if not self.pairs:
            part = "held-out" if holdout else "training"
            raise DatasetError(f"{self.root / split}: the {part} part of a {holdout_percent:g}% hold-out is empty")
        self.stems = [pair.stem for pair in self.pairs]
        count = len(self.pairs)
        self.images = np.empty((count, size, size, 3), np.uint8)
        self.masks = np.empty((count, size, size), np.uint8)
        self.aspects = np.empty(count, np.float32)
        self._full_masks: list[np.ndarray | None] | None = [None] * count if keep_full_masks else None
        self._load(threads, progress, layout)

    def _load(self, threads: int, progress: bool, layout: list[str]) -> None:
        with ThreadPoolExecutor(max(1, threads)) as pool:
            results = pool.map(self._load_one, range(len(self.pairs)))
            problems = [problem for problem in tqdm(results, total=len(self.pairs), disable=not progress,
                                                    desc=f"open {self.split}", unit="pair", leave=False)
                        if problem]
        if problems:
            layout = [*layout, f"{self.root / self.split}: {len(problems)} of {len(self.pairs)} pairs cannot be "
                               f"used:\n  " + "\n  ".join(problems)]
        if layout:  # every problem of the split in one error: orphans, undecodable files, size mismatches
            raise DatasetError("\n".join(layout))

    def _load_one(self, index: int) -> str | None:
        """Decode, check and cache pair `index`; the problem, if any, as a message naming the file(s)."""
        pair = self.pairs[index]
        image, mask, errors = None, None, []
        try:
            image = read_image(pair.image)
        except ImageReadError as error:
            errors.append(str(error))
        try:
            mask = read_mask(pair.mask)
        except ImageReadError as error:
            errors.append(str(error))
        if errors:
            return "; ".join(errors)
        if image.shape[:2] != mask.shape:
            return (f"{pair.image}: image is {image.shape[1]}×{image.shape[0]} (W×H) but its mask "
                    f"{pair.mask.name} is {mask.shape[1]}×{mask.shape[0]}")
        self.images[index] = resize_align_corners(image, self.size)
        self.masks[index] = resize_align_corners(mask, self.size)
        self.aspects[index] = image.shape[1] / image.shape[0]
        if self._full_masks is not None:
            self._full_masks[index] = mask
        return None

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        index, seed = parse_item(item, len(self))
        image, mask = self.images[index], self.masks[index]
        if self.augment:
            return augment_pair(image, mask, np.random.default_rng(seed), self.color_jitter)
        return pixels_to_float(image), mask[None].astype(np.float32) / 255

    def full_mask(self, index: int) -> np.ndarray:
        """The original mask of pair `index` as float32 H×W in [0, 1] (needs keep_full_masks=True)."""
        if self._full_masks is None:
            raise RuntimeError("full_mask needs the dataset opened with keep_full_masks=True")
        return self._full_masks[index].astype(np.float32) / 255


class ConcatMatting:
    """Several people sets as one, indexed one set after the other: real photos of each set as they are (no
    compositing). Items are those of `MattingDataset` (an index, or the sampler's (index, seed))."""

    def __init__(self, bases: list[MattingDataset]) -> None:
        if not bases:
            raise ValueError("ConcatMatting needs at least one people set")
        self.bases = bases
        self.offsets = np.cumsum([0] + [len(base) for base in bases])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """(set, index within it) of item `index`."""
        which = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return which, index - int(self.offsets[which])

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        index, seed = parse_item(item, len(self))
        which, local = self.locate(index)
        return self.bases[which][local if seed is None else (local, seed)]


def parse_item(item: int | tuple[int, int], length: int) -> tuple[int, int | None]:
    """A dataset item, an index or the training sampler's (index, seed), as (index, seed or None)."""
    if isinstance(item, (tuple, list)):
        index, seed = operator.index(item[0]), operator.index(item[1])
    else:
        index, seed = operator.index(item), None
    if not 0 <= index < length:
        raise IndexError(f"index {index} out of range for a dataset of {length}")
    return index, seed


def _files_by_stem(folder: Path) -> dict[str, list[Path]]:
    if not folder.is_dir():
        raise DatasetError(f"{folder}: folder missing (expected <root>/<split>/{folder.name}/)")
    by_stem: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file():
            by_stem[path.stem].append(path)
    return dict(by_stem)


def _problem(folder: Path, what: str, names: list[str]) -> str:
    """'<folder>: <what> (count): a, b, …', listing at most MAX_LISTED names."""
    shown = ", ".join(names[:MAX_LISTED]) + (", …" if len(names) > MAX_LISTED else "")
    return f"{folder}: {what} ({len(names)}): {shown}"
