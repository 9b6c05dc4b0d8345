"""A composited validation set on disk, in the original layout (numpy + cv2 + pymatting, no torch)."""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from mmnet.data import placement
from mmnet.data.backgrounds import load_backgrounds
from mmnet.data.dataset import DatasetError, find_pairs, select
from mmnet.data.foregrounds import estimate_foreground, process_pool
from mmnet.data.io import read_image, read_mask
from mmnet.files import atomic_write

JPEG_QUALITY = 95


class _Builder:
    """Writes the composites of one build (see `build_composite_set`); one per worker process."""

    def __init__(self, pairs: dict[str, tuple[Path, Path]], backgrounds: list[np.ndarray], out_dir: Path,
                 seed: int, height: int, width: int, p_two: float, scene: bool) -> None:
        self.pairs, self.stems, self.backgrounds = pairs, sorted(pairs), backgrounds
        self.out_dir, self.seed, self.height, self.width, self.p_two = out_dir, seed, height, width, p_two
        self.scene = scene

    def __call__(self, task: tuple[str, int, str]) -> None:
        stem, copy, name = task
        rng = np.random.default_rng([self.seed, _stem_hash(stem), copy])
        chosen = [stem]
        others = [other for other in self.stems if other != stem]
        if self.scene:
            while others and len(chosen) < placement.SCENE_MAX_PEOPLE and rng.random() < placement.SCENE_P_MORE:
                chosen.append(others[int(rng.integers(0, len(others)))])
        elif others and rng.random() < self.p_two:
            chosen.insert(int(rng.integers(0, 2)), others[int(rng.integers(0, len(others)))])
        people, bottoms = zip(*(self._person(other) for other in chosen))
        background = self.backgrounds[int(rng.integers(0, len(self.backgrounds)))]
        image, alpha = placement.composite(rng, people, background, self.height, self.width, touches_bottom=bottoms,
                                           placement=placement.SCENE if self.scene else placement.PORTRAIT)
        image = placement.jitter_photo(rng, image)
        image_u8 = np.round(image * 255).astype(np.uint8)
        alpha_u8 = np.round(alpha * 255).astype(np.uint8)
        _write_image(self.out_dir / "mask" / f"{name}.png", alpha_u8, [])
        _write_image(self.out_dir / "image" / f"{name}.jpg", cv2.cvtColor(image_u8, cv2.COLOR_RGB2BGR),
                     [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])

    def _person(self, stem: str) -> tuple[placement.Person, bool]:
        image_path, mask_path = self.pairs[stem]
        image, mask = read_image(image_path), read_mask(mask_path)
        if image.shape[:2] != mask.shape:
            raise DatasetError(f"{image_path}: image is {image.shape[1]}×{image.shape[0]} (W×H) but its mask "
                               f"{mask_path.name} is {mask.shape[1]}×{mask.shape[0]}")
        person = (estimate_foreground(image, mask), mask.astype(np.float32) / 255)
        return person, placement.touches_bottom_edge(mask)


_BUILDER: _Builder | None = None  # the worker process's builder, set by `_init_builder`


def _init_builder(builder: _Builder) -> None:
    global _BUILDER
    _BUILDER = builder


def _run_builder(task: tuple[str, int, str]) -> None:
    _BUILDER(task)


def build_composite_set(dataset_roots: str | Path | Sequence[str | Path], split: str, holdout_percent: float,
                        backgrounds_folder: str | Path, out_root: str | Path, *, seed: int = 0, height: int = 800,
                        width: int = 600, per_image: int = 1, workers: int = 2, p_two: float = 0.25,
                        scene: bool = False, progress: bool = True) -> Path:
    """A composited validation set: for every held-out pair of `<root>/<split>` of each dataset root,
    `per_image` composites at height×width (foreground estimated at the photo's full resolution) onto the
    held-out backgrounds, each a function of (seed, name, copy) only: as a portrait (`PORTRAIT` placement,
    a second held-out person with p = `p_two`) or with `scene` as a scene (`SCENE` placement, a group of
    held-out people from every root). Writes `<out_root>/<split>/image/<name>.jpg` and `mask/<name>.png`
    atomically, skipping those already present; name = the stem (`<root folder>-<stem>` for several roots),
    `_<k>` appended when per_image > 1. Returns the split folder.
    """
    if per_image < 1:
        raise ValueError(f"per_image must be at least 1, got {per_image}")
    roots = [Path(dataset_roots)] if isinstance(dataset_roots, (str, Path)) else [Path(r) for r in dataset_roots]
    pairs = {}
    for root in roots:
        held = select(find_pairs(root, split), holdout_percent, True)
        if not held:
            raise DatasetError(f"{root / split}: the held-out part of a {holdout_percent:g}% hold-out is empty")
        prefix = f"{root.name}-" if len(roots) > 1 else ""
        pairs.update({f"{prefix}{pair.stem}": (pair.image, pair.mask) for pair in held})
    out_dir = Path(out_root) / split
    tasks = [(stem, copy, stem if per_image == 1 else f"{stem}_{copy}") for stem in sorted(pairs)
             for copy in range(per_image)]
    tasks = [task for task in tasks if not ((out_dir / "image" / f"{task[2]}.jpg").is_file()
                                            and (out_dir / "mask" / f"{task[2]}.png").is_file())]
    if not tasks:
        return out_dir
    for folder in ("image", "mask"):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    backgrounds = load_backgrounds(backgrounds_folder, min(height, width), holdout_percent, holdout=True)
    builder = _Builder(pairs, backgrounds, out_dir, seed, height, width, p_two, scene)
    bar = dict(total=len(tasks), disable=not progress, desc=f"composite {split}", unit="image")
    if workers <= 1:
        for _ in tqdm(map(builder, tasks), **bar):
            pass
    else:
        with process_pool(workers, _init_builder, (builder,)) as pool:
            for _ in tqdm(pool.map(_run_builder, tasks), **bar):
                pass
    return out_dir


def _stem_hash(stem: str) -> int:
    return int(hashlib.sha1(stem.encode("utf-8")).hexdigest()[:16], 16)


def _write_image(path: Path, array: np.ndarray, params: list[int]) -> None:
    ok, encoded = cv2.imencode(path.suffix, array, params)
    if not ok:
        raise OSError(f"{path}: could not encode")
    atomic_write(path, lambda tmp: tmp.write_bytes(encoded.tobytes()))
