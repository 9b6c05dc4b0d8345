"""Composite portraits onto other backgrounds through their mattes (numpy + cv2 + pymatting, no torch).

A network trained only on centred head-and-shoulders photos learns that prior instead of the person.
Here each person is cut out (foreground colours estimated, so no halo of the old background remains),
scaled, moved off-centre, flipped and tilted, and pasted onto a background photo without people:

- `mmnet.data.foregrounds`: the foreground colours of every pair of a `MattingDataset`, cached on disk.
- `mmnet.data.backgrounds`: background photos, split into a training and a held-out part by file name.
- `mmnet.data.placement`: `composite`, which places people on a background crop, and the jitter.
- here, `CompositeDataset`: training samples from one or more people sets (EG1800's busts, CCP's full
  figures), composited or (1 − p_composite) the sets' own photos.
- `mmnet.data.composite_set`: a composited validation set on disk, in the original layout.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mmnet.data.dataset import ConcatMatting, MattingDataset, parse_item
from mmnet.data.placement import (
    JITTER_STRENGTH,
    PORTRAIT,
    SCENE,
    SCENE_MAX_PEOPLE,
    SCENE_P_MORE,
    Person,
    composite,
    jitter_photo,
    jpeg_roundtrip,
    occlude,
    touches_bottom_edge,
)
from mmnet.errors import ConfigError

# The photo a training composite stands for: aspect (width / height) log-uniform in this range, squashed to
# the S×S canvas as every photo is at inference. Everyday photos are 9:16 … 16:9, not only 3:4 portraits.
PHOTO_ASPECT_RANGE = (9 / 16, 16 / 9)


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
    p = `p_occlude` an object is put in front of the people (`occlude`). With p = `p_ground` a person not cut
    by the bottom edge stands on the ground, with p = `p_harmonise` a person's colours move toward the
    background's, and with p = `p_jpeg` the finished composite goes through a JPEG round-trip (`composite`,
    `jpeg_roundtrip`). A probability of 0 draws no random numbers, so that the samples of the other options
    stay as they were.

    `dataset[(index, seed)]` -> (float32 3×S×S image in [0, 1], float32 1×S×S alpha), a function of the
    seed, as `MattingDataset`. Holds only numpy arrays: cheap for forked DataLoader workers.
    """

    def __init__(self, bases: Sequence[MattingDataset], backgrounds: Sequence[np.ndarray],
                 foregrounds: Sequence[np.ndarray], *, p_composite: float = 0.7, p_two: float = 0.25,
                 jitter: float = JITTER_STRENGTH, p_stretch: float = 0.0, p_occlude: float = 0.0,
                 p_scene: float = 0.0, p_ground: float = 0.0, p_harmonise: float = 0.0,
                 p_jpeg: float = 0.0) -> None:
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
                        ("p_occlude", p_occlude), ("p_scene", p_scene), ("p_ground", p_ground),
                        ("p_harmonise", p_harmonise), ("p_jpeg", p_jpeg)):
            if not 0 <= p <= 1:
                raise ConfigError(f"{name} must be in [0, 1], got {p}")
        self.bases, self.backgrounds, self.foregrounds = bases, list(backgrounds), foregrounds
        self.size = bases[0].size
        self.p_composite, self.p_two, self.jitter = p_composite, p_two, jitter
        self.p_stretch, self.p_occlude, self.p_scene = p_stretch, p_occlude, p_scene
        self.p_ground, self.p_harmonise, self.p_jpeg = p_ground, p_harmonise, p_jpeg
        self.touches_bottom = [touches_bottom_edge(base.masks) for base in bases]
        self.people = ConcatMatting(bases)  # the sets' own photos, and where item i lies among them

    def __len__(self) -> int:
        return len(self.people)

    def _person(self, index: int) -> tuple[Person, bool, float]:
        which, local = self.people.locate(index)
        base = self.bases[which]
        person = (self.foregrounds[which][local].astype(np.float32) * np.float32(1 / 255),
                  base.masks[local].astype(np.float32) * np.float32(1 / 255))
        return person, bool(self.touches_bottom[which][local]), float(base.aspects[local])

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        index, seed = parse_item(item, len(self))
        # A stream of its own: base[(index, seed)] draws from default_rng(seed).
        rng = np.random.default_rng(None if seed is None else [seed, 1])
        if rng.random() >= self.p_composite:
            return self.people[item]
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
                                 placement=SCENE if scene else PORTRAIT, ground=self.p_ground,
                                 harmonise=self.p_harmonise)
        if self.p_occlude > 0 and rng.random() < self.p_occlude:  # no draw when off: seeds keep their samples
            texture = self.backgrounds[int(rng.integers(0, len(self.backgrounds)))]
            image, alpha = occlude(rng, image, alpha, texture)
        image = jitter_photo(rng, image, self.jitter)
        if self.p_jpeg > 0 and rng.random() < self.p_jpeg:  # no draw when off: seeds keep their samples
            image = jpeg_roundtrip(rng, image)
        return np.ascontiguousarray(image.transpose(2, 0, 1)), alpha[None]
