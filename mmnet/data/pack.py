"""`mmnet pack`: the training data of a recipe in one small folder, to carry to a training machine.

For each people set only its training part (the pairs outside `in_holdout(stem, holdout)`), each photo and matte
resized so that the short side is the training resolution (aspect kept: the composites use each photo's
aspect), in the original layout `<pack>/<set name>/<split>/{image,mask}`; and the training part of the
backgrounds (`split_backgrounds(folder, BACKGROUND_HOLDOUT_PERCENT, holdout=False)`) at the same short side in
`<pack>/backgrounds`.
Every file keeps its stem, so the hold-out splits of the pack select all of it. Photos are WebP, mattes PNG.

Everything is encoded in memory first: a pack over the cap is refused before anything is written, and the
pack is built in a hidden sibling folder that is renamed into place once complete.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from mmnet.data.backgrounds import split_backgrounds
from mmnet.data.dataset import DatasetError, Pair, find_pairs, select
from mmnet.data.holdout import BACKGROUND_HOLDOUT_PERCENT, HOLDOUT_PERCENT
from mmnet.data.io import read_image, read_mask
from mmnet.errors import MmnetError

MIB = 2**20
CAP_BYTES = 50 * MIB
# Measured on the real recipe (EG1800 + CCP + backgrounds at 256; docs/training.md, "Training on a GPU"): WebP 78
# for the people, 70 for the backgrounds and PNG mattes keep the pack under 50 MiB.
PHOTO_QUALITY = 78
BACKGROUND_QUALITY = 70
BACKGROUNDS = "backgrounds"
MANIFEST = "pack.json"


class PackError(MmnetError, ValueError):
    """A pack that cannot be written as asked; the message says why (the file, or the size over the cap)."""


@dataclass
class PackSummary:
    """What a pack holds: bytes and file counts by part (a people set's photos and mattes, the backgrounds)."""

    out: Path
    bytes_by_part: dict[str, int] = field(default_factory=dict)
    files_by_part: dict[str, int] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes_by_part.values())

    def report(self) -> str:
        lines = [f"{part:<24} {self.files_by_part[part]:>5} files {size / MIB:7.2f} MiB"
                 for part, size in self.bytes_by_part.items()]
        return "\n".join([*lines, f"{'total':<24} {sum(self.files_by_part.values()):>5} files "
                                  f"{self.total_bytes / MIB:7.2f} MiB in {self.out}"])


def short_side_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(width, height) with the short side `size`, aspect kept; the size itself when the short side is already
    `size` or less (a pack never enlarges: the trainer resizes anyway)."""
    scale = size / min(height, width)
    if scale >= 1:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def _resize(pixels: np.ndarray, new_size: tuple[int, int]) -> np.ndarray:
    if (pixels.shape[1], pixels.shape[0]) == new_size:
        return pixels
    return cv2.resize(pixels, new_size, interpolation=cv2.INTER_AREA)


def _encode(pixels: np.ndarray, suffix: str, params: list[int], name: str) -> bytes:
    if pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(suffix, pixels, params)
    if not ok:
        raise PackError(f"{name}: could not encode as {suffix}")
    return encoded.tobytes()


def _webp(quality: int) -> list[int]:
    return [cv2.IMWRITE_WEBP_QUALITY, quality]


_PNG = [cv2.IMWRITE_PNG_COMPRESSION, 9]

Encoded = list[tuple[str, bytes]]  # (path relative to the pack, file bytes)


def _pack_pair(pair, prefix: str, size: int, quality: int) -> Encoded:
    image, mask = read_image(pair.image), read_mask(pair.mask)  # ImageReadError names the file
    if image.shape[:2] != mask.shape:
        raise PackError(f"{pair.image}: image is {image.shape[1]}×{image.shape[0]} (W×H) but its mask "
                        f"{pair.mask.name} is {mask.shape[1]}×{mask.shape[0]}")
    new_size = short_side_size(*mask.shape, size)
    return [(f"{prefix}/image/{pair.stem}.webp", _encode(_resize(image, new_size), ".webp", _webp(quality),
                                                         str(pair.image))),
            (f"{prefix}/mask/{pair.stem}.png", _encode(_resize(mask, new_size), ".png", _PNG, str(pair.mask)))]


def _pack_background(path: Path, size: int, quality: int) -> Encoded:
    image = read_image(path)
    resized = _resize(image, short_side_size(*image.shape[:2], size))
    return [(f"{BACKGROUNDS}/{path.stem}.webp", _encode(resized, ".webp", _webp(quality), str(path)))]


def _set_names(dataset_paths: Sequence[str | Path]) -> list[str]:
    names = [Path(path).resolve().name for path in dataset_paths]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise PackError(f"people sets with the same folder name: {', '.join(repeated)} (the pack names each set "
                        f"by its folder)")
    if BACKGROUNDS in names or MANIFEST in names:
        raise PackError(f"a people set may not be named {BACKGROUNDS!r} or {MANIFEST!r}")
    return names


def _training_pairs(root: str | Path, split: str, holdout_percent: float) -> list[Pair]:
    """A people set's pairs outside the hold-out; `DatasetError` for a set that is not in the layout or has none."""
    pairs = select(find_pairs(root, split), holdout_percent, holdout=False)
    if not pairs:
        raise DatasetError(f"{Path(root) / split}: the training part of a {holdout_percent:g}% hold-out is empty")
    return pairs


def _training_backgrounds(folder: str | Path, holdout_percent: float) -> list[Path]:
    """The backgrounds outside the hold-out; an error for none, or for two that the pack would name alike."""
    paths = split_backgrounds(folder, holdout_percent, holdout=False)
    if not paths:
        raise DatasetError(f"{folder}: no background images in the training part of a {holdout_percent:g}% hold-out")
    stems = [path.stem for path in paths]
    repeated = sorted({stem for stem in stems if stems.count(stem) > 1})
    if repeated:
        raise PackError(f"{folder}: backgrounds with the same stem would overwrite each other in the pack: "
                        f"{', '.join(repeated[:10])}")
    return paths


def _map(function: Callable, items: list, workers: int, desc: str, progress: bool) -> list[Encoded]:
    with ThreadPoolExecutor(max(1, workers)) as pool:  # cv2 releases the GIL
        return list(tqdm(pool.map(function, items), total=len(items), desc=desc, unit="file", leave=False,
                         disable=not progress))


def pack(out: str | Path, dataset_paths: Sequence[str | Path], backgrounds: str | Path | None = None, *,
         split: str = "train", size: int = 256, holdout_percent: float = HOLDOUT_PERCENT,
         background_holdout_percent: float = BACKGROUND_HOLDOUT_PERCENT, quality: int = PHOTO_QUALITY,
         background_quality: int = BACKGROUND_QUALITY, cap_bytes: int = CAP_BYTES, overwrite: bool = False,
         workers: int = 2, progress: bool = True) -> PackSummary:
    """Write the pack to `out` (see the module's docstring) and return its summary. Raises `PackError` for a
    pack over `cap_bytes` (nothing written), `DatasetError` / `ImageReadError` for input that cannot be used."""
    out = Path(out)
    if not dataset_paths:
        raise PackError("give at least one people set")
    _check_replaceable(out, [*dataset_paths, *([backgrounds] if backgrounds is not None else [])], overwrite)
    names = _set_names(dataset_paths)
    # Every input is listed and checked before anything is encoded: a bad last set fails at once.
    training_pairs = [_training_pairs(root, split, holdout_percent) for root in dataset_paths]
    background_paths = (_training_backgrounds(backgrounds, background_holdout_percent)
                        if backgrounds is not None else [])
    summary = PackSummary(out)
    files: Encoded = []
    sets = []
    for root, name, pairs in zip(dataset_paths, names, training_pairs):
        prefix = f"{name}/{split}"
        encoded = _map(lambda pair: _pack_pair(pair, prefix, size, quality), pairs, workers, f"pack {name}",
                       progress)
        for part, kind in ((f"{name} photos", "/image/"), (f"{name} mattes", "/mask/")):
            chosen = [(path, data) for pair in encoded for path, data in pair if kind in path]
            summary.bytes_by_part[part] = sum(len(data) for _, data in chosen)
            summary.files_by_part[part] = len(chosen)
            files.extend(chosen)
        sets.append({"name": name, "source": str(Path(root).resolve()), "pairs": len(pairs)})
    if backgrounds is not None:
        encoded = _map(lambda path: _pack_background(path, size, background_quality), background_paths, workers,
                       "pack backgrounds", progress)
        chosen = [item for items in encoded for item in items]
        summary.bytes_by_part[BACKGROUNDS] = sum(len(data) for _, data in chosen)
        summary.files_by_part[BACKGROUNDS] = len(chosen)
        files.extend(chosen)

    manifest = json.dumps({"size": size, "split": split, "holdout_percent": holdout_percent,
                           "background_holdout_percent": background_holdout_percent, "quality": quality,
                           "background_quality": background_quality, "sets": sets,
                           "backgrounds": str(Path(backgrounds).resolve()) if backgrounds is not None else None,
                           "bytes_by_part": summary.bytes_by_part}, indent=1).encode()
    summary.bytes_by_part[MANIFEST], summary.files_by_part[MANIFEST] = len(manifest), 1
    files.append((MANIFEST, manifest))
    if summary.total_bytes > cap_bytes:
        raise PackError(f"{out}: the pack would be {summary.total_bytes / MIB:.2f} MiB, "
                        f"{(summary.total_bytes - cap_bytes) / MIB:.2f} MiB over the {cap_bytes / MIB:.2f} MiB cap "
                        f"(nothing written; lower --quality / --background-quality or --size):\n"
                        + summary.report())
    _write_tree(out, files)
    return summary


def _check_replaceable(out: Path, inputs: Sequence[str | Path], overwrite: bool) -> None:
    """PackError unless `out` is free (absent, or an empty folder) or, with `overwrite`, a pack this command made:
    --overwrite deletes nothing else (a data folder named by mistake, a folder that holds an input)."""
    if not out.exists() or out.is_dir() and not any(out.iterdir()):
        return
    if not overwrite:
        raise PackError(f"{out}: already exists and is not empty (--overwrite replaces a pack made by mmnet pack)")
    inside = next((path for path in inputs if out.resolve() in (Path(path).resolve(), *Path(path).resolve().parents)),
                  None)
    if inside is not None:
        raise PackError(f"{out}: holds the input {inside}; write the pack elsewhere")
    if not is_pack(out):
        raise PackError(f"{out}: not a pack made by mmnet pack (no {MANIFEST} naming all it holds); --overwrite "
                        f"replaces only a pack, never other files")


def is_pack(folder: Path) -> bool:
    """Whether `folder` is a pack as `pack` writes it: its manifest, and besides it only the sets and backgrounds
    the manifest names."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        names = {MANIFEST, BACKGROUNDS, *(entry["name"] for entry in manifest["sets"])}
        return all(entry.name in names for entry in folder.iterdir())
    except (OSError, ValueError, TypeError, KeyError):  # no manifest, or not one of ours
        return False


def _write_tree(out: Path, files: Encoded) -> None:
    """Write `files` into a hidden sibling folder of `out`, then rename it into place (replacing `out`)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    building = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
    try:
        for relative, data in files:
            path = building / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.{secrets.token_hex(4)}.old")
            os.replace(out, old)
        os.replace(building, out)
        if old is not None:
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
