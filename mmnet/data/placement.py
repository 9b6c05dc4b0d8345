"""Where people go in a composite (numpy + cv2, no torch): ONE resolution-agnostic `composite` that places
people on a background crop where a `Placement` says (`PORTRAIT`: one or two people at 35–130 % of the height;
`SCENE`: a group, each at 5–100 %, anywhere, cut by any edge), optionally standing on the ground and with
their colours moved toward the background's (`harmonised`); `stretch_body` makes half figures, `occlude` puts
objects in front of people, `jitter_photo` adds the photometric jitter and `jpeg_roundtrip` the artefacts of
a photo saved after it was composited.

Geometry: pixel coordinates are pixel centres (0 … n−1), as in `cv2.warpAffine`. People are warped
premultiplied (RGB·a, a) with a zero border, so that bilinear resampling blends colours by alpha and
the colour of fully transparent pixels never shows.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from mmnet.data.augment import MAX_ROTATION_DEG, jitter_colors


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

# Background crop: aspect = the photo's aspect × a log-uniform factor in [1/MAX, MAX]; area fraction of the
# largest crop of that aspect.
BACKGROUND_MAX_ASPECT_CHANGE = 4 / 3
BACKGROUND_AREA_RANGE = (0.4, 1.0)

# Realism (issue 23, item 3): a person not cut by the bottom edge standing on the ground (the bottom of the box,
# their feet, at this fraction of the canvas height, not floating at `centre_y`); harmonisation moves the
# person's Lab mean and spread toward the background's by a uniform share of this range; a JPEG round-trip of
# the finished composite at a uniform quality in this range.
GROUND_Y_RANGE = (0.6, 1.0)
HARMONISE_RANGE = (0.2, 0.8)
JPEG_QUALITY_RANGE = (30, 95)

# Photometric jitter of the composite (see `jitter_photo`).
JITTER_STRENGTH = 0.15  # brightness/contrast/saturation ×[0.85, 1.15], hue ±0.015 turns
P_BLUR, BLUR_SIGMA_RANGE = 0.15, (0.3, 1.2)  # sigma in pixels of a 256-pixel-high canvas
P_NOISE, NOISE_STD_RANGE = 0.15, (0.005, 0.03)


Person = tuple[np.ndarray, np.ndarray]  # (float32 h×w×3 foreground in [0, 1], float32 h×w alpha in [0, 1])


def touches_bottom_edge(alpha_u8: np.ndarray) -> np.ndarray | bool:
    """Whether a uint8 matte (H×W, or N×H×W for each) is cut by its photo's bottom edge."""
    result = alpha_u8[..., -1, :].max(axis=-1) > 127
    return bool(result) if result.ndim == 0 else result


def composite(rng: np.random.Generator, people: Sequence[Person], background: np.ndarray, out_h: int, out_w: int,
              *, touches_bottom: Sequence[bool], aspect: float | None = None,
              pixel_aspects: Sequence[float] | None = None, stretch: float = 0.0,
              placement: Placement = PORTRAIT, ground: float = 0.0,
              harmonise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
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
        if harmonise > 0 and rng.random() < harmonise:
            foreground = harmonised(foreground, alpha, image, rng.uniform(*HARMONISE_RANGE))
        placed = _place_person(rng, foreground, alpha, out_h, out_w, bool(bottom), pixel_aspect, squash, stretch,
                               placement, ground)
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
                  stretch: float = 0.0, placement: Placement = PORTRAIT, ground: float = 0.0) -> np.ndarray | None:
    """The person warped onto the canvas as premultiplied float32 out_h×out_w×4 (RGB·a, a), or None
    for an empty matte. A source pixel shows `pixel_aspect` (width / height); the canvas shows natural
    x scaled by `squash` relative to y; with p = `stretch` (if `touches_bottom`) the person is first made a
    half figure; with p = `ground` (if not) the box's bottom lands at GROUND_Y_RANGE × out_h. Draws the same
    random numbers whatever the branch."""
    if foreground.ndim != 3 or foreground.shape[2] != 3 or alpha.shape != foreground.shape[:2]:
        raise ValueError(f"a person needs an h×w×3 foreground and an h×w alpha, got {foreground.shape} "
                         f"and {alpha.shape}")
    box_height = out_h * math.exp(rng.uniform(*np.log(placement.scale)))
    centre_x = out_w * rng.uniform(*placement.centre_x)
    centre_y = out_h * rng.uniform(*placement.centre_y)
    drop = box_height * rng.uniform(0, MAX_DROP)
    flip = rng.random() < 0.5
    angle = math.radians(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG))
    feet_y = None
    if ground > 0:
        draws = rng.random(2)  # always two, whatever the branch
        if not touches_bottom and draws[0] < ground:
            low, high = GROUND_Y_RANGE
            feet_y = out_h * (low + (high - low) * draws[1])

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
    anchor_y = bottom if touches_bottom or feet_y is not None else (top + bottom) / 2
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
        matrix[1, 2] += centre_y if feet_y is None else feet_y
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


def harmonised(foreground: np.ndarray, alpha: np.ndarray, background: np.ndarray, share: float) -> np.ndarray:
    """The float32 h×w×3 `foreground` (in [0, 1]) with its Lab mean and spread over the person (alpha > 0.5)
    moved `share` of the way toward those of the float32 H×W×3 `background`: the person takes on some of the
    scene's light and colour cast, as in a photo (a partial Reinhard colour transfer)."""
    inside = alpha > 0.5
    if not inside.any():
        return foreground
    lab = cv2.cvtColor(foreground, cv2.COLOR_RGB2LAB)
    scene = cv2.cvtColor(background, cv2.COLOR_RGB2LAB).reshape(-1, 3)
    mean, std = lab[inside].mean(axis=0), lab[inside].std(axis=0) + 1e-3
    target_mean = mean + share * (scene.mean(axis=0) - mean)
    target_std = std + share * (scene.std(axis=0) + 1e-3 - std)
    moved = ((lab - mean) * (target_std / std) + target_mean).astype(np.float32)
    return np.clip(cv2.cvtColor(moved, cv2.COLOR_LAB2RGB), 0.0, 1.0)


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


def jpeg_roundtrip(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """A float32 H×W×3 image in [0, 1] saved as a JPEG of quality JPEG_QUALITY_RANGE (uniform) and read back:
    person and background share the photo's compression artefacts, as in a photo saved after compositing."""
    quality = int(rng.integers(JPEG_QUALITY_RANGE[0], JPEG_QUALITY_RANGE[1] + 1))
    pixels = cv2.cvtColor(np.round(image * 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("cv2.imencode failed on a composite")
    decoded = cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return decoded.astype(np.float32) * np.float32(1 / 255)
