"""Binary person masks -> soft alpha mattes, the way EG1800's `train/mask/` was made from `train/seg/`.

Recipe (it reproduces the shipped EG1800 mattes exactly): the mask thresholded at 128, eroded and dilated
by a (2·band+1)² elliptic structuring element, so the trimap's unknown band reaches `band` px on each side
of the edge; closed-form matting (Levin et al. 2008, `pymatting.estimate_alpha_cf`, default settings) on
the RGB photo in [0, 1]; alpha rounded to 8 bits.

pymatting is needed here only (imported lazily): `pip install pymatting`.
"""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from mmnet.data.io import IMAGE_SUFFIXES, ImageReadError, read_image, read_mask
from mmnet.errors import ConfigError
from mmnet.files import write_atomic

UNKNOWN = 128


@dataclass
class PrepareSummary:
    """What `prepare_alpha` did: mattes written, outputs already there, and a problem per failed file."""

    done: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.problems)

    @property
    def status(self) -> int:
        """An exit status: 0 when nothing failed, else 1."""
        return 1 if self.problems else 0

    def report(self) -> str:
        """One line of counts, then one line per problem."""
        lines = [f"{self.done} done, {self.skipped} skipped (already there), {self.failed} failed"]
        return "\n  ".join(lines + sorted(self.problems))


# ------------------------------------------------------------------------------------------ one image

def make_trimap(mask_u8: np.ndarray, band: int = 10) -> np.ndarray:
    """uint8 H×W mask (person > 127) -> uint8 trimap: 255 person, 0 background, 128 within `band` px of
    the edge on either side (erosion / dilation by a (2·band+1)² ellipse)."""
    mask = np.asarray(mask_u8)
    if mask.ndim != 2:
        raise ValueError(f"expected an H×W mask, got shape {mask.shape}")
    if band < 0:
        raise ValueError(f"band must be >= 0 px, got {band}")
    person = (mask > 127).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    sure, maybe = cv2.erode(person, kernel), cv2.dilate(person, kernel)
    trimap = np.where(maybe > 0, UNKNOWN, 0).astype(np.uint8)
    trimap[sure > 0] = 255
    return trimap


def mask_to_alpha(image_u8: np.ndarray, mask_u8: np.ndarray, band: int = 10) -> np.ndarray:
    """uint8 H×W×3 RGB photo and H×W binary mask -> uint8 H×W alpha (closed-form matting in the band)."""
    image = np.asarray(image_u8)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[:2] != np.shape(mask_u8):
        raise ValueError(f"expected an H×W×3 image and an H×W mask, got {image.shape} and {np.shape(mask_u8)}")
    trimap = make_trimap(mask_u8, band)
    if not np.any(trimap == UNKNOWN):
        return trimap
    from pymatting import estimate_alpha_cf
    alpha = estimate_alpha_cf(image.astype(np.float64) / 255, trimap.astype(np.float64) / 255)
    return np.round(np.clip(alpha, 0, 1) * 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------- folders

def prepare_alpha(images_dir: str | Path, masks_dir: str | Path, out_dir: str | Path, band: int = 10,
                  workers: int = 2, overwrite: bool = False, progress: bool = True,
                  split: str | None = None) -> PrepareSummary:
    """Write `<out_dir>/<stem>.png`, the alpha of every photo in `images_dir` and the mask of the same stem
    in `masks_dir`. Resumable: existing outputs are skipped unless `overwrite`. Files that cannot be used
    are listed in the summary's `problems`, by name; the others are still done.

    With a `split`, `out_dir` becomes a dataset in the original layout, as `mmnet train --add-dataset` and
    `mmnet pack` take it: the mattes in `<out_dir>/<split>/mask/` and, beside them, links to their photos in
    `<out_dir>/<split>/image/` (copies where the file system has no links)."""
    images_dir, masks_dir, out_dir = Path(images_dir), Path(masks_dir), Path(out_dir)
    mattes_dir, photos_dir = (out_dir / split / "mask", out_dir / split / "image") if split else (out_dir, None)
    if band < 0:
        raise ConfigError(f"band must be >= 0 px, got {band}")
    inputs = (images_dir.resolve(), masks_dir.resolve())
    if any(folder is not None and folder.resolve() in inputs for folder in (mattes_dir, photos_dir)):
        raise ConfigError(f"{out_dir}: the output folder must not be the images or masks folder")
    _require_pymatting()
    jobs, summary = _plan(images_dir, masks_dir, mattes_dir, overwrite)
    mattes_dir.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(jobs), disable=not progress or not jobs, desc="prepare-alpha", unit="image")
    with bar:
        for problem in _run(jobs, band, workers):
            if problem:
                summary.problems.append(problem)
            else:
                summary.done += 1
            bar.update()
    if photos_dir is not None:
        link_photos(images_dir, mattes_dir, photos_dir)
    return summary


def link_photos(images_dir: Path, mattes_dir: Path, photos_dir: Path) -> int:
    """Link (or, without links, copy) into `photos_dir` the photo of each matte in `mattes_dir`, under its own
    name; photos already there are kept. Returns how many were added."""
    photos_dir.mkdir(parents=True, exist_ok=True)
    photos, added = _files_by_stem(images_dir), 0
    for stem in _files_by_stem(mattes_dir):
        if len(photos.get(stem, [])) != 1:
            continue  # no photo (a failed pair's problem says why) or more than one
        source, target = photos[stem][0].resolve(), photos_dir / photos[stem][0].name
        if target.exists() or target.is_symlink():
            continue
        try:
            target.symlink_to(source)
        except OSError:
            shutil.copy2(source, target)
        added += 1
    return added


def _require_pymatting() -> None:
    try:
        import pymatting  # noqa: F401
    except ImportError:
        raise ImportError("prepare-alpha needs pymatting: pip install 'mmnet[train]' "
                          "(or pip install pymatting)") from None


def _plan(images_dir: Path, masks_dir: Path, out_dir: Path,
          overwrite: bool) -> tuple[list[tuple[Path, Path, Path]], PrepareSummary]:
    """(image, mask, output) jobs still to do, and a summary holding the skips and the pairing problems."""
    images, masks = _files_by_stem(images_dir), _files_by_stem(masks_dir)
    summary, jobs = PrepareSummary(), []
    for stem in sorted(set(images) | set(masks)):
        problem = _pairing_problem(stem, images.get(stem, []), masks.get(stem, []), images_dir, masks_dir)
        if problem:
            summary.problems.append(problem)
            continue
        out = out_dir / f"{stem}.png"
        if out.exists() and not overwrite:
            summary.skipped += 1
        else:
            jobs.append((images[stem][0], masks[stem][0], out))
    return jobs, summary


def _pairing_problem(stem: str, images: list[Path], masks: list[Path], images_dir: Path,
                     masks_dir: Path) -> str | None:
    for paths in (images, masks):
        if len(paths) > 1:
            return f"{paths[0].parent}: more than one file for {stem!r} ({', '.join(p.name for p in paths)})"
    if not masks:
        return f"{images[0]}: no mask {stem}.* in {masks_dir}"
    if not images:
        return f"{masks[0]}: no image {stem}.* in {images_dir}"
    return None


def _files_by_stem(folder: Path) -> dict[str, list[Path]]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: folder does not exist")
    by_stem: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file():
            by_stem.setdefault(path.stem, []).append(path)
    return by_stem


def _run(jobs: list[tuple[Path, Path, Path]], band: int, workers: int) -> Iterator[str | None]:
    """Each job's problem (None when written), in completion order; in-process when workers <= 1."""
    if workers <= 1 or len(jobs) <= 1:
        yield from (_one(*job, band) for job in jobs)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_one, *job, band) for job in jobs]
        for future in as_completed(futures):
            yield future.result()


def _one(image_path: Path, mask_path: Path, out_path: Path, band: int) -> str | None:
    """Make and write one matte; the problem as "<file>: <what>", or None."""
    try:
        image, mask = read_image(image_path), read_mask(mask_path)
    except ImageReadError as error:
        return str(error)
    if image.shape[:2] != mask.shape:
        return (f"{mask_path}: mask is {mask.shape[1]}×{mask.shape[0]} (W×H) but its image {image_path.name} "
                f"is {image.shape[1]}×{image.shape[0]}")
    try:
        _write_png_atomic(out_path, mask_to_alpha(image, mask, band))
    except Exception as error:  # one bad file must not stop the batch: report it by name
        return f"{image_path}: {type(error).__name__}: {error}"
    return None


def _write_png_atomic(path: Path, alpha: np.ndarray) -> None:
    """Encode as PNG and write it atomically (see `mmnet.files`)."""
    ok, encoded = cv2.imencode(".png", alpha)
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    write_atomic(path, encoded.tobytes())
