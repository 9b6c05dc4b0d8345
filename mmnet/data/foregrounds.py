"""Foreground colours of the people sets (numpy + cv2 + pymatting, no torch): estimated through their mattes, so
that a cut-out carries no halo of its old background, and cached on disk per dataset (`<cache>/foregrounds`,
bounded: see `mmnet.cache`)."""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mmnet.cache import FOREGROUNDS, FOREGROUNDS_CAP_BYTES, evict, mark_used
from mmnet.cache import cache_dir as mmnet_cache_dir
from mmnet.data.dataset import DatasetError, MattingDataset
from mmnet.files import atomic_write

CACHE_VERSION = 1  # part of the foreground cache key: bump when the estimation changes


def estimate_foreground(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Foreground colours of a uint8 H×W×3 photo given its uint8 H×W matte: float32 H×W×3 in [0, 1]
    (pymatting's multi-level `estimate_foreground_ml`, Germer et al. 2020). Not from two threads at once
    (see `_pymatting_ml`)."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"estimate_foreground needs a uint8 H×W×3 image, got {image.dtype} {image.shape}")
    if alpha.dtype != np.uint8 or alpha.shape != image.shape[:2]:
        raise ValueError(f"estimate_foreground needs a uint8 {image.shape[:2]} matte, got {alpha.dtype} {alpha.shape}")
    foreground = _pymatting_ml()(image.astype(np.float32) / 255, alpha.astype(np.float32) / 255)
    return np.clip(foreground, 0.0, 1.0).astype(np.float32, copy=False)


def _pymatting_ml() -> Callable[..., np.ndarray]:
    """pymatting's `estimate_foreground_ml`, imported on first use (its import loads every compiled
    kernel of pymatting: about a second), with numba's fork-safe "workqueue" threading layer unless
    numba already started another. Importing pymatting starts that layer; numba's default on Linux,
    GNU OpenMP, kills forked children that run a kernel (and spun 30× slower here on busy cores).
    "workqueue" must not run kernels from two threads at once."""
    import numba

    try:
        numba.threading_layer()
    except ValueError:  # not started yet
        numba.config.THREADING_LAYER = "workqueue"
    from pymatting import estimate_foreground_ml
    return estimate_foreground_ml


def process_pool(workers: int, initializer: Callable[..., None] | None = None,
                  initargs: tuple = ()) -> ProcessPoolExecutor:
    """A pool whose workers can run pymatting: forked (the platform default) with pymatting already
    imported, or spawned when this process runs numba on GNU OpenMP, whose forked children abort.
    (Forked workers must not call cv2.setNumThreads: it can hang on the parent's thread pool.)"""
    import numba

    _pymatting_ml()
    context = multiprocessing.get_context("spawn" if numba.threading_layer() == "omp" else None)
    return ProcessPoolExecutor(workers, context, initializer=initializer, initargs=initargs)


def _foreground_u8(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return np.round(estimate_foreground(image, alpha) * 255).astype(np.uint8)


def foreground_cache_key(dataset: MattingDataset) -> str:
    """A hash of the dataset root, split, cache size S and stems (not of the pixels: a folder whose
    files change under the same names needs its cache file deleted)."""
    content = [CACHE_VERSION, str(dataset.root.resolve()), dataset.split, dataset.size, dataset.stems]
    return hashlib.sha1(json.dumps(content).encode("utf-8")).hexdigest()[:20]


class ForegroundCache:
    """The foreground colours of every pair of `dataset` at its cache resolution, `foregrounds`
    (uint8 N×S×S×3, aligned with `dataset.images`): loaded from `<cache_dir>/<key>.npy` (default
    `<mmnet cache>/foregrounds`), or computed with a pool of `workers` processes and written there atomically,
    the least recently used files of the folder then deleted down to `cap_bytes`."""

    def __init__(self, dataset: MattingDataset, cache_dir: str | Path | None = None, *, workers: int = 2,
                 progress: bool = True, cap_bytes: int = FOREGROUNDS_CAP_BYTES) -> None:
        folder = Path(cache_dir) if cache_dir is not None else mmnet_cache_dir() / FOREGROUNDS
        self.path = folder / f"{foreground_cache_key(dataset)}.npy"
        expected = dataset.images.shape
        if self.path.is_file():
            self.foregrounds = _load_array(self.path, expected)
            mark_used(self.path)
        else:
            self.foregrounds = _compute_foregrounds(dataset, workers, progress)
            atomic_write(self.path, lambda tmp: _save_array(tmp, self.foregrounds))
            evict(folder.glob("*.npy"), cap_bytes, keep=self.path)


def _compute_foregrounds(dataset: MattingDataset, workers: int, progress: bool) -> np.ndarray:
    foregrounds = np.empty_like(dataset.images)
    bar = dict(total=len(dataset), disable=not progress, desc=f"foregrounds {dataset.split} @{dataset.size}",
               unit="pair")
    if workers <= 1:
        for index, foreground in enumerate(tqdm(map(_foreground_u8, dataset.images, dataset.masks), **bar)):
            foregrounds[index] = foreground
        return foregrounds
    with process_pool(workers) as pool:
        results = pool.map(_foreground_u8, dataset.images, dataset.masks, chunksize=8)
        for index, foreground in enumerate(tqdm(results, **bar)):
            foregrounds[index] = foreground
    return foregrounds


def _load_array(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    try:
        array = np.load(path)
    except (OSError, ValueError, EOFError) as error:
        raise DatasetError(f"{path}: unreadable foreground cache ({error}); delete it to recompute") from None
    if array.dtype != np.uint8 or array.shape != shape:
        raise DatasetError(f"{path}: foreground cache is {array.dtype} {array.shape}, expected uint8 {shape}; "
                         f"delete it to recompute")
    return array


def _save_array(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as file:
        np.save(file, array)
        file.flush()
        os.fsync(file.fileno())
