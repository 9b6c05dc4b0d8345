"""Composite portraits onto other backgrounds through their mattes (numpy + cv2 + pymatting, no torch).

A network trained only on centred head-and-shoulders photos learns that prior instead of the person.
Here each person is cut out (foreground colours estimated, so no halo of the old background remains),
scaled, moved off-centre, flipped and tilted, and pasted onto a background photo without people:

- `estimate_foreground`: the foreground colours of a photo given its matte (pymatting's ML estimator).
- `ForegroundCache`: those colours for every pair of a `MattingDataset`, computed once, kept on disk.
- `load_backgrounds`: background photos, split into a training and a held-out part by file name.
- `composite`: ONE resolution-agnostic function that places people on a background crop, where a
  `Placement` says (`PORTRAIT`: one or two people at 35–130 % of the height; `SCENE`: a group, each at
  5–100 %, anywhere, cut by any edge); `jitter_photo` adds the photometric jitter.
- `CompositeDataset`: training samples from one or more people sets (EG1800's busts, CCP's full figures),
  composited or (1 − p_composite) the sets' own photos.
- `build_composite_set`: a composited validation set on disk, in the original layout.

Geometry: pixel coordinates are pixel centres (0 … n−1), as in `cv2.warpAffine`. People are warped
premultiplied (RGB·a, a) with a zero border, so that bilinear resampling blends colours by alpha and
the colour of fully transparent pixels never shows.
"""
from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from mmnet.data.augment import MAX_ROTATION_DEG, jitter_colors
from mmnet.data.dataset import DatasetError, MattingDataset, find_pairs, in_holdout, parse_item, select
from mmnet.data.io import IMAGE_SUFFIXES, ImageReadError, read_image, read_mask
from mmnet.files import atomic_write

CACHE_VERSION = 1  # part of the foreground cache key: bump when the estimation changes
DEFAULT_CACHE_DIR = Path("~/.cache/mmnet/foregrounds")


@dataclass(frozen=True)
class Placement:
    """Where people go on the canvas, as fractions of it (see `composite`)."""

    scale: tuple[float, float]  # the person's box height / canvas height, log-uniform
    centre_x: tuple[float, float]  # the box centre / canvas width
    centre_y: tuple[float, float]  # the box centre / canvas height, for people not cut by their photo's bottom


# One or two people, small figure … close-up, off-centre and partly out at the sides.
PORTRAIT = Placement(scale=(0.35, 1.3), centre_x=(0.05, 0.95), centre_y=(0.25, 0.75))
# Everyday scenes: pedestrians down to 5 % of the height, anywhere, cut by any edge (a box centre on an edge
# cuts half of the person away).
SCENE = Placement(scale=(0.05, 1.0), centre_x=(0.0, 1.0), centre_y=(0.15, 0.95))
SCENE_MAX_PEOPLE, SCENE_P_MORE = 4, 0.5  # a scene holds 1 + Geometric(SCENE_P_MORE) people, at most this many
MAX_DROP = 0.25  # cut edge placed up to this × box height below the canvas's bottom edge
BOX_THRESHOLD = 0.1  # alpha above which a pixel counts for the person's box and cut edge
PRESHRINK_BELOW = 0.75  # scales below this first shrink the cut-out with INTER_AREA (no aliasing)

# Half figures from head-and-shoulders cut-outs (see `stretch_body`): the rows below a split at this fraction of
# the person's box, from its top, stretched vertically by a log-uniform factor in this range.
STRETCH_SPLIT_RANGE = (0.55, 0.85)
STRETCH_FACTOR_RANGE = (1.3, 3.0)

# Objects in front of people (see `occlude`): a random polygon of another background photo, its height this
# fraction of the canvas (log-uniform), with this many corners.
OCCLUDER_SIZE_RANGE = (0.2, 0.6)
OCCLUDER_CORNERS = (3, 9)

# The photo a training composite stands for: aspect (width / height) log-uniform in this range, squashed to
# the S×S canvas as every photo is at inference. Everyday photos are 9:16 … 16:9, not only 3:4 portraits.
PHOTO_ASPECT_RANGE = (9 / 16, 16 / 9)

# Background crop: aspect = the photo's aspect × a log-uniform factor in [1/MAX, MAX]; area fraction of the
# largest crop of that aspect.
BACKGROUND_MAX_ASPECT_CHANGE = 4 / 3
BACKGROUND_AREA_RANGE = (0.4, 1.0)

# Photometric jitter of the composite (see `jitter_photo`).
JITTER_STRENGTH = 0.15  # brightness/contrast/saturation ×[0.85, 1.15], hue ±0.015 turns
P_BLUR, BLUR_SIGMA_RANGE = 0.15, (0.3, 1.2)  # sigma in pixels of a 256-pixel-high canvas
P_NOISE, NOISE_STD_RANGE = 0.15, (0.005, 0.03)

JPEG_QUALITY = 95

Person = tuple[np.ndarray, np.ndarray]  # (float32 h×w×3 foreground in [0, 1], float32 h×w alpha in [0, 1])


# ------------------------------------------------------------------------------------------ foreground

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


def _process_pool(workers: int, initializer: Callable[..., None] | None = None,
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
    (uint8 N×S×S×3, aligned with `dataset.images`): loaded from `<cache_dir>/<key>.npy`, or computed
    with a pool of `workers` processes and written there atomically."""

    def __init__(self, dataset: MattingDataset, cache_dir: str | Path | None = None, *, workers: int = 2,
                 progress: bool = True) -> None:
        folder = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR.expanduser()
        self.path = folder / f"{foreground_cache_key(dataset)}.npy"
        expected = dataset.images.shape
        if self.path.is_file():
            self.foregrounds = _load_array(self.path, expected)
        else:
            self.foregrounds = _compute_foregrounds(dataset, workers, progress)
            atomic_write(self.path, lambda tmp: _save_array(tmp, self.foregrounds))


def _compute_foregrounds(dataset: MattingDataset, workers: int, progress: bool) -> np.ndarray:
    foregrounds = np.empty_like(dataset.images)
    bar = dict(total=len(dataset), disable=not progress, desc=f"foregrounds {dataset.split} @{dataset.size}",
               unit="pair")
    if workers <= 1:
        for index, foreground in enumerate(tqdm(map(_foreground_u8, dataset.images, dataset.masks), **bar)):
            foregrounds[index] = foreground
        return foregrounds
    with _process_pool(workers) as pool:
        results = pool.map(_foreground_u8, dataset.images, dataset.masks, chunksize=8)
        for index, foreground in enumerate(tqdm(results, **bar)):
            foregrounds[index] = foreground
    return foregrounds


def _load_array(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    try:
        array = np.load(path)
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(f"{path}: unreadable foreground cache ({error}); delete it to recompute") from None
    if array.dtype != np.uint8 or array.shape != shape:
        raise ValueError(f"{path}: foreground cache is {array.dtype} {array.shape}, expected uint8 {shape}; "
                         f"delete it to recompute")
    return array


def _save_array(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as file:
        np.save(file, array)
        file.flush()
        os.fsync(file.fileno())


# ------------------------------------------------------------------------------------------ backgrounds

def split_backgrounds(folder: str | Path, holdout_percent: float = 15.0, holdout: bool = False) -> list[Path]:
    """The image files of `folder`, sorted: the held-out part by `in_holdout(stem, holdout_percent)`
    (holdout=True) or the rest, the training part."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: background folder does not exist")
    files = [path for path in sorted(folder.iterdir()) if path.suffix.lower() in IMAGE_SUFFIXES
             and not path.name.startswith(".") and path.is_file()]
    return [path for path in files if in_holdout(path.stem, holdout_percent) == holdout]


def load_backgrounds(folder: str | Path, size: int, holdout_percent: float = 15.0, holdout: bool = False,
                     *, threads: int = 2) -> list[np.ndarray]:
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


# ------------------------------------------------------------------------------------------ composite

def touches_bottom_edge(alpha_u8: np.ndarray) -> np.ndarray | bool:
    """Whether a uint8 matte (H×W, or N×H×W for each) is cut by its photo's bottom edge."""
    result = alpha_u8[..., -1, :].max(axis=-1) > 127
    return bool(result) if result.ndim == 0 else result


def composite(rng: np.random.Generator, people: Sequence[Person], background: np.ndarray, out_h: int, out_w: int,
              *, touches_bottom: Sequence[bool], aspect: float | None = None,
              pixel_aspects: Sequence[float] | None = None, stretch: float = 0.0,
              placement: Placement = PORTRAIT) -> tuple[np.ndarray, np.ndarray]:
    """`people` (back to front) placed on a random crop of `background` (uint8 RGB, any size) resized
    to out_h×out_w. Returns (float32 out_h×out_w×3 image in [0, 1], float32 out_h×out_w alpha).

    The canvas shows a photo of `aspect` (width / height; default out_w / out_h, i.e. unsquashed) squashed
    to out_h×out_w, as a photo is squashed to the network's S×S. `pixel_aspects` gives, for each person,
    the width / height of what one pixel of its arrays shows (default 1; a 600×800 photo cached at S×S: 0.75),
    so that people keep their natural proportions in that photo.

    Each person: box height `placement.scale` × out_h (log-uniform), box centre at `placement.centre_x`
    × out_w, flipped with p = 0.5, rotated by U(±15°). When `touches_bottom` (the matte is cut by its photo's
    bottom edge) the whole cut edge lands on or below the canvas's bottom row, a further U(0, MAX_DROP)
    × box height down; otherwise the box centre is at `placement.centre_y` × out_h. With p = `stretch` a person
    cut by the bottom edge is first made a half figure (`stretch_body`); stretch = 0 draws no random numbers
    for it. Then image = fg·a + image·(1 − a) for each, and alpha = 1 − Π(1 − a_i).
    """
    pixel_aspects = [1.0] * len(people) if pixel_aspects is None else list(pixel_aspects)
    if len(touches_bottom) != len(people) or len(pixel_aspects) != len(people):
        raise ValueError(f"touches_bottom and pixel_aspects need {len(people)} entries, one per person, got "
                         f"{len(touches_bottom)} and {len(pixel_aspects)}")
    if background.dtype != np.uint8 or background.ndim != 3 or background.shape[2] != 3:
        raise ValueError(f"composite needs a uint8 H×W×3 background, got {background.dtype} {background.shape}")
    aspect = out_w / out_h if aspect is None else aspect
    squash = out_w / out_h / aspect  # canvas x per natural x, relative to y
    image = _background_crop(rng, background, out_h, out_w, aspect)
    keep = np.ones((out_h, out_w), np.float32)  # Π(1 − a_i)
    for (foreground, alpha), bottom, pixel_aspect in zip(people, touches_bottom, pixel_aspects):
        placed = _place_person(rng, foreground, alpha, out_h, out_w, bool(bottom), pixel_aspect, squash, stretch,
                               placement)
        if placed is None:
            continue
        coverage = placed[..., 3]
        image *= (1 - coverage)[..., None]
        image += placed[..., :3]
        keep *= 1 - coverage
    np.clip(image, 0.0, 1.0, out=image)
    return image, np.clip(1 - keep, 0.0, 1.0)


def _background_crop(rng: np.random.Generator, background: np.ndarray, out_h: int, out_w: int,
                     aspect: float) -> np.ndarray:
    """A random crop of about `aspect` and of random size, flipped with p = 0.5, resized to float32
    out_h×out_w×3."""
    height, width = background.shape[:2]
    log_change = math.log(BACKGROUND_MAX_ASPECT_CHANGE)
    aspect = aspect * math.exp(rng.uniform(-log_change, log_change))
    side = math.sqrt(rng.uniform(*BACKGROUND_AREA_RANGE))
    crop_h = min(height, max(1, round(min(height, width / aspect) * side)))
    crop_w = min(width, max(1, round(crop_h * aspect)))
    top = int(rng.integers(0, height - crop_h + 1))
    left = int(rng.integers(0, width - crop_w + 1))
    flip = rng.random() < 0.5
    crop = background[top:top + crop_h, left:left + crop_w]
    interpolation = cv2.INTER_AREA if crop_h > out_h else cv2.INTER_LINEAR
    resized = cv2.resize(crop, (out_w, out_h), interpolation=interpolation)
    if flip:
        resized = cv2.flip(resized, 1)
    return resized.astype(np.float32) * np.float32(1 / 255)


def _place_person(rng: np.random.Generator, foreground: np.ndarray, alpha: np.ndarray, out_h: int, out_w: int,
                  touches_bottom: bool, pixel_aspect: float = 1.0, squash: float = 1.0,
                  stretch: float = 0.0, placement: Placement = PORTRAIT) -> np.ndarray | None:
    """The person warped onto the canvas as premultiplied float32 out_h×out_w×4 (RGB·a, a), or None
    for an empty matte. A source pixel shows `pixel_aspect` (width / height); the canvas shows natural
    x scaled by `squash` relative to y; with p = `stretch` (if `touches_bottom`) the person is first made a
    half figure. Draws the same random numbers whatever the branch."""
    if foreground.ndim != 3 or foreground.shape[2] != 3 or alpha.shape != foreground.shape[:2]:
        raise ValueError(f"a person needs an h×w×3 foreground and an h×w alpha, got {foreground.shape} "
                         f"and {alpha.shape}")
    box_height = out_h * math.exp(rng.uniform(*np.log(placement.scale)))
    centre_x = out_w * rng.uniform(*placement.centre_x)
    centre_y = out_h * rng.uniform(*placement.centre_y)
    drop = box_height * rng.uniform(0, MAX_DROP)
    flip = rng.random() < 0.5
    angle = math.radians(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG))

    rgba = np.empty((*alpha.shape, 4), np.float32)
    rgba[..., 3] = alpha
    np.multiply(foreground, rgba[..., 3:], out=rgba[..., :3])
    if stretch > 0:
        draws = rng.random(3)  # always three, whatever the branch
        if touches_bottom and draws[0] < stretch:
            rgba = stretch_body(rgba, *draws[1:])
    box = _box(rgba[..., 3])
    if box is None:
        return None
    scale = box_height / (box[3] - box[1] + 1)
    if min(scale, scale * pixel_aspect * squash) < PRESHRINK_BELOW:  # shrink by area first: a bilinear warp
        height, width = alpha.shape                                   # alone would alias hair and edges
        size = (max(1, round(width * min(1.0, scale * pixel_aspect * squash))),
                max(1, round(height * min(1.0, scale))))
        pixel_aspect *= width / size[0] * size[1] / height
        rgba = cv2.resize(rgba, size, interpolation=cv2.INTER_AREA)
        box = _box(rgba[..., 3])
        if box is None:
            return None
        scale = box_height / (box[3] - box[1] + 1)

    left, top, right, bottom = box
    anchor_y = bottom if touches_bottom else (top + bottom) / 2
    cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
    mirror = -1.0 if flip else 1.0
    # source -> canvas: move the anchor to 0; to natural proportions, mirrored; scaled and rotated; squashed
    # as the canvas is; moved to the target
    linear = np.diag([squash, 1.0]) @ np.array([[cos, -sin], [sin, cos]]) @ np.diag([mirror * pixel_aspect, 1.0])
    matrix = np.hstack([linear, (-linear @ [(left + right) / 2, anchor_y])[:, None]])
    matrix[0, 2] += centre_x
    if touches_bottom:
        cut = np.flatnonzero(rgba[bottom, :, 3] > BOX_THRESHOLD)  # the box's bottom row: the cut edge
        ends_y = matrix[1] @ np.array([[cut[0], cut[-1]], [bottom, bottom], [1.0, 1.0]])
        matrix[1, 2] += out_h - 1 + drop - ends_y.min()  # its highest point on or below the last row
    else:
        matrix[1, 2] += centre_y
    return cv2.warpAffine(rgba, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))


def stretch_body(rgba: np.ndarray, where: float, how_much: float) -> np.ndarray:
    """A head-and-shoulders cut-out (h×w×C, cut by its bottom edge) made into a half figure: the rows below a
    split stretched vertically, so that the head is smaller against the body, as in everyday photos.
    `where` and `how_much` in [0, 1) pick the split in STRETCH_SPLIT_RANGE of the person's box (from its top)
    and the factor in STRETCH_FACTOR_RANGE (log-uniform)."""
    box = _box(rgba[..., 3])
    if box is None:
        return rgba
    top, bottom = box[1], box[3]
    low, high = STRETCH_SPLIT_RANGE
    split = top + round((bottom - top) * (low + (high - low) * where))
    smallest, largest = STRETCH_FACTOR_RANGE
    factor = smallest * (largest / smallest) ** how_much
    lower = rgba[split:]
    height = max(1, round(lower.shape[0] * factor))
    stretched = cv2.resize(lower, (rgba.shape[1], height), interpolation=cv2.INTER_LINEAR)
    return np.concatenate([rgba[:split], stretched.reshape(height, *rgba.shape[1:])])


def _box(alpha: np.ndarray) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom), inclusive, of the pixels with alpha > BOX_THRESHOLD; None if none."""
    inside = alpha > BOX_THRESHOLD
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


def occlude(rng: np.random.Generator, image: np.ndarray, alpha: np.ndarray,
            texture: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An object in front of the person: a random star-shaped polygon of `texture` (uint8 RGB, a background
    photo) pasted over the float32 H×W×3 composite `image`, centred on a random pixel of the lower half of the
    people (where held objects, tables and helmets are), so that people are found beside and behind objects.
    The alpha loses what it covers."""
    height, width = alpha.shape
    rows = np.flatnonzero((alpha > 0.5).any(axis=1))
    if rows.size == 0:
        return image, alpha
    lower = (rows[0] + rows[-1] + 1) // 2
    person = np.flatnonzero(alpha[lower:] > 0.5)
    centre_y, centre_x = divmod(int(person[rng.integers(0, person.size)]), width)
    centre_y += lower
    radius = height * math.exp(rng.uniform(*np.log(OCCLUDER_SIZE_RANGE))) / 2
    corners = int(rng.integers(OCCLUDER_CORNERS[0], OCCLUDER_CORNERS[1] + 1))
    angles = np.sort(rng.uniform(0, 2 * math.pi, corners))
    radii = radius * rng.uniform(0.4, 1.0, corners)
    points = np.stack([centre_x + radii * np.cos(angles), centre_y + radii * np.sin(angles)], axis=1)
    shape = np.zeros((height, width), np.uint8)
    cv2.fillPoly(shape, [np.round(points).astype(np.int32)], 255, lineType=cv2.LINE_AA)
    cover = shape.astype(np.float32) * np.float32(1 / 255)
    patch = _background_crop(rng, texture, height, width, width / height)
    image = image * (1 - cover)[..., None] + patch * cover[..., None]
    return image, alpha * (1 - cover)


def jitter_photo(rng: np.random.Generator, image: np.ndarray, strength: float = JITTER_STRENGTH) -> np.ndarray:
    """Photometric jitter of a float32 H×W×3 image in [0, 1]: `jitter_colors` (brightness, contrast,
    saturation, hue), then a mild Gaussian blur with p = P_BLUR and Gaussian noise with p = P_NOISE."""
    image = jitter_colors(image, rng, strength) if strength > 0 else image
    if rng.random() < P_BLUR:
        sigma = rng.uniform(*BLUR_SIGMA_RANGE) * image.shape[0] / 256
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    if rng.random() < P_NOISE:
        noise = rng.standard_normal(image.shape, np.float32) * np.float32(rng.uniform(*NOISE_STD_RANGE))
        image = np.clip(image + noise, 0.0, 1.0)
    return image.astype(np.float32, copy=False)


# ------------------------------------------------------------------------------------------ training set

class CompositeDataset:
    """Training samples from one or more people sets `bases` (each a `MattingDataset` with its foreground
    colours in `foregrounds`), indexed one set after the other. Item `index`, with p = 1 − `p_composite`,
    is its set's own reference-augmented sample `base[(index, seed)]`; otherwise it is composited onto a
    random background, in a photo of a random aspect in PHOTO_ASPECT_RANGE squashed to S×S, with
    `jitter_photo`:
    - with p = `p_scene` as a scene (`SCENE` placement): with 1 + Geometric(SCENE_P_MORE) people in all, at
      most SCENE_MAX_PEOPLE, the others drawn from every set;
    - else as a portrait (`PORTRAIT` placement), with p = `p_two` a second person.
    With p = `p_stretch` each person cut by the bottom edge becomes a half figure (`stretch_body`); with
    p = `p_occlude` an object is put in front of the people (`occlude`). A probability of 0 draws no random
    numbers, so that the samples of the other options stay as they were.

    `dataset[(index, seed)]` -> (float32 3×S×S image in [0, 1], float32 1×S×S alpha), a function of the
    seed, as `MattingDataset`. Holds only numpy arrays: cheap for forked DataLoader workers.
    """

    def __init__(self, bases: Sequence[MattingDataset], backgrounds: Sequence[np.ndarray],
                 foregrounds: Sequence[np.ndarray], *, p_composite: float = 0.7, p_two: float = 0.25,
                 jitter: float = JITTER_STRENGTH, p_stretch: float = 0.0, p_occlude: float = 0.0,
                 p_scene: float = 0.0) -> None:
        bases, foregrounds = list(bases), list(foregrounds)
        if not bases or len(foregrounds) != len(bases):
            raise ValueError(f"CompositeDataset needs one foreground array per people set, got {len(bases)} "
                             f"sets and {len(foregrounds)} arrays")
        for base, colours in zip(bases, foregrounds):
            if colours.shape != base.images.shape or colours.dtype != np.uint8:
                raise ValueError(f"foregrounds are {colours.dtype} {colours.shape}, expected uint8 "
                                 f"{base.images.shape} like the images of {base.root / base.split}")
        if len({base.size for base in bases}) != 1:
            raise ValueError(f"people sets of different sizes: {[base.size for base in bases]}")
        if not backgrounds:
            raise ValueError("CompositeDataset needs at least one background")
        for name, p in (("p_composite", p_composite), ("p_two", p_two), ("p_stretch", p_stretch),
                        ("p_occlude", p_occlude), ("p_scene", p_scene)):
            if not 0 <= p <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {p}")
        self.bases, self.backgrounds, self.foregrounds = bases, list(backgrounds), foregrounds
        self.size = bases[0].size
        self.p_composite, self.p_two, self.jitter = p_composite, p_two, jitter
        self.p_stretch, self.p_occlude, self.p_scene = p_stretch, p_occlude, p_scene
        self.touches_bottom = [touches_bottom_edge(base.masks) for base in bases]
        self.offsets = np.cumsum([0] + [len(base) for base in bases])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def _locate(self, index: int) -> tuple[int, int]:
        """(set, index within it) of item `index`."""
        which = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return which, index - int(self.offsets[which])

    def _person(self, index: int) -> tuple[Person, bool, float]:
        which, local = self._locate(index)
        base = self.bases[which]
        person = (self.foregrounds[which][local].astype(np.float32) * np.float32(1 / 255),
                  base.masks[local].astype(np.float32) * np.float32(1 / 255))
        return person, bool(self.touches_bottom[which][local]), float(base.aspects[local])

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        index, seed = parse_item(item, len(self))
        # A stream of its own: base[(index, seed)] draws from default_rng(seed).
        rng = np.random.default_rng(None if seed is None else [seed, 1])
        if rng.random() >= self.p_composite:
            which, local = self._locate(index)
            base = self.bases[which]
            return base[(local, seed)] if seed is not None else base[local]
        scene = self.p_scene > 0 and rng.random() < self.p_scene  # no draw when off: seeds keep their samples
        chosen = [index]
        if scene:
            while len(chosen) < SCENE_MAX_PEOPLE and rng.random() < SCENE_P_MORE:
                chosen.append(int(rng.integers(0, len(self))))
        elif len(self) > 1 and rng.random() < self.p_two:
            other = int(rng.integers(0, len(self) - 1))
            chosen.insert(int(rng.integers(0, 2)), other + (other >= index))  # in front or behind
        people, bottoms, pixel_aspects = zip(*(self._person(i) for i in chosen))
        background = self.backgrounds[int(rng.integers(0, len(self.backgrounds)))]
        aspect = math.exp(rng.uniform(*np.log(PHOTO_ASPECT_RANGE)))
        image, alpha = composite(rng, people, background, self.size, self.size, aspect=aspect,
                                 touches_bottom=bottoms, pixel_aspects=pixel_aspects, stretch=self.p_stretch,
                                 placement=SCENE if scene else PORTRAIT)
        if self.p_occlude > 0 and rng.random() < self.p_occlude:  # no draw when off: seeds keep their samples
            texture = self.backgrounds[int(rng.integers(0, len(self.backgrounds)))]
            image, alpha = occlude(rng, image, alpha, texture)
        image = jitter_photo(rng, image, self.jitter)
        return np.ascontiguousarray(image.transpose(2, 0, 1)), alpha[None]


# ------------------------------------------------------------------------------------------ validation set

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
            while others and len(chosen) < SCENE_MAX_PEOPLE and rng.random() < SCENE_P_MORE:
                chosen.append(others[int(rng.integers(0, len(others)))])
        elif others and rng.random() < self.p_two:
            chosen.insert(int(rng.integers(0, 2)), others[int(rng.integers(0, len(others)))])
        people, bottoms = zip(*(self._person(other) for other in chosen))
        background = self.backgrounds[int(rng.integers(0, len(self.backgrounds)))]
        image, alpha = composite(rng, people, background, self.height, self.width, touches_bottom=bottoms,
                                 placement=SCENE if self.scene else PORTRAIT)
        image = jitter_photo(rng, image)
        image_u8 = np.round(image * 255).astype(np.uint8)
        alpha_u8 = np.round(alpha * 255).astype(np.uint8)
        _write_image(self.out_dir / "mask" / f"{name}.png", alpha_u8, [])
        _write_image(self.out_dir / "image" / f"{name}.jpg", cv2.cvtColor(image_u8, cv2.COLOR_RGB2BGR),
                     [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])

    def _person(self, stem: str) -> tuple[Person, bool]:
        image_path, mask_path = self.pairs[stem]
        image, mask = read_image(image_path), read_mask(mask_path)
        if image.shape[:2] != mask.shape:
            raise DatasetError(f"{image_path}: image is {image.shape[1]}×{image.shape[0]} (W×H) but its mask "
                               f"{mask_path.name} is {mask.shape[1]}×{mask.shape[0]}")
        person = (estimate_foreground(image, mask), mask.astype(np.float32) / 255)
        return person, touches_bottom_edge(mask)


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
        with _process_pool(workers, _init_builder, (builder,)) as pool:
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
