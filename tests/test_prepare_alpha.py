"""`mmnet.data.prepare_alpha`: trimap, closed-form alpha, and the resumable folder run."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mmnet.data.io import read_image, read_mask
from mmnet.data.prepare_alpha import make_trimap, mask_to_alpha, prepare_alpha
from mmnet.evaluation.metrics import mad

pytest.importorskip("pymatting")


def _square(size: int = 100, lo: int = 30, hi: int = 70) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    mask[lo:hi, lo:hi] = 255
    return mask


def _photo(size: int = 100, lo: int = 33, hi: int = 67, blur: float = 1.0) -> np.ndarray:
    """Red square on blue, edges softened: the colours say where the person really is."""
    image = np.zeros((size, size, 3), np.uint8)
    image[...] = (20, 40, 220)
    image[lo:hi, lo:hi] = (230, 30, 30)
    return cv2.GaussianBlur(image, (0, 0), blur)


def test_trimap_band_is_exact_on_a_square():
    trimap = make_trimap(_square(), band=10)
    assert set(np.unique(trimap)) == {0, 128, 255}
    row = trimap[50]  # the square spans 30..69: band 20..39 and 60..79, sure person 40..59
    assert np.all(row[:20] == 0) and np.all(row[20:40] == 128) and np.all(row[40:60] == 255)
    assert np.all(row[60:80] == 128) and np.all(row[80:] == 0)
    assert np.array_equal(trimap[:, 50], row)


def test_trimap_without_band_is_the_mask_and_rejects_a_negative_band():
    assert np.array_equal(make_trimap(_square(), band=0), _square())
    with pytest.raises(ValueError, match="band"):
        make_trimap(_square(), band=-1)


def test_alpha_is_hard_outside_the_band_and_follows_the_colours_inside():
    mask = _square()  # 3 px too large on every side: the photo's square spans 33..66
    trimap, alpha = make_trimap(mask), mask_to_alpha(_photo(), mask)
    assert alpha.dtype == np.uint8 and alpha.shape == mask.shape
    assert np.all(alpha[trimap == 255] == 255) and np.all(alpha[trimap == 0] == 0)
    soft = (alpha > 0) & (alpha < 255)
    assert soft.any() and np.all(trimap[soft] == 128)
    coverage = np.zeros(mask.shape, np.float32)
    coverage[33:67, 33:67] = 1
    coverage = cv2.GaussianBlur(coverage, (0, 0), 1.0)  # how much red each pixel of the photo holds
    assert np.abs(alpha / 255 - coverage).max() < 0.02  # the mask's edge moved to the colour edge


def test_alpha_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="H×W×3"):
        mask_to_alpha(_photo(), _square(90))


def _folder_dataset(root: Path, count: int = 3) -> tuple[Path, Path]:
    images, masks = root / "image", root / "seg"
    images.mkdir(parents=True)
    masks.mkdir()
    for i in range(count):
        cv2.imwrite(str(images / f"{i:03d}.jpg"), _photo(60, 20 + i, 40)[..., ::-1])
        cv2.imwrite(str(masks / f"{i:03d}.png"), _square(60, 18 + i, 42))
    return images, masks


def test_prepare_alpha_writes_then_resumes(tmp_path):
    images, masks = _folder_dataset(tmp_path)
    out = tmp_path / "mask"
    first = prepare_alpha(images, masks, out, band=4, workers=1, progress=False)
    assert (first.done, first.skipped, first.failed, first.status) == (3, 0, 0, 0)
    assert sorted(p.name for p in out.iterdir()) == ["000.png", "001.png", "002.png"]  # no temp files left
    assert np.array_equal(read_mask(out / "001.png"),
                          mask_to_alpha(read_image(images / "001.jpg"), read_mask(masks / "001.png"), 4))
    again = prepare_alpha(images, masks, out, band=4, workers=1, progress=False)
    assert (again.done, again.skipped, again.failed) == (0, 3, 0)
    forced = prepare_alpha(images, masks, out, band=4, workers=1, overwrite=True, progress=False)
    assert (forced.done, forced.skipped) == (3, 0)


def test_prepare_alpha_reports_bad_files_by_name_and_does_the_rest(tmp_path):
    images, masks = _folder_dataset(tmp_path)
    (images / "001.jpg").write_bytes((images / "001.jpg").read_bytes()[:200])  # truncated JPEG
    cv2.imwrite(str(masks / "orphan.png"), _square(60))
    out = tmp_path / "mask"
    summary = prepare_alpha(images, masks, out, band=4, workers=2, progress=False)
    assert (summary.done, summary.skipped, summary.failed, summary.status) == (2, 0, 2, 1)
    report = summary.report()
    assert "001.jpg: truncated JPEG" in report and "orphan.png: no image" in report
    assert sorted(p.name for p in out.iterdir()) == ["000.png", "002.png"]


def test_recipe_matches_the_shipped_eg1800_mattes(eg1800):
    train = eg1800 / "train"
    errors = []
    for stem in ("00001", "00003", "00004"):
        alpha = mask_to_alpha(read_image(train / "image" / f"{stem}.jpg"), read_mask(train / "seg" / f"{stem}.png"))
        errors.append(mad(alpha, read_mask(train / "mask" / f"{stem}.png")))
    print(f"MAD vs shipped mask/: {errors}")
    assert max(errors) < 1e-3


def test_prepare_alpha_refuses_to_write_into_its_inputs(tmp_path):
    images, masks = _folder_dataset(tmp_path, count=1)
    with pytest.raises(ValueError, match="must not be the images or masks folder"):
        prepare_alpha(images, masks, masks, progress=False)


def test_prepare_alpha_writes_the_dataset_layout_that_training_and_pack_take(tmp_path):
    from mmnet.cli import main
    from mmnet.data.dataset import find_pairs
    from mmnet.data.pack import pack
    images, masks = _folder_dataset(tmp_path / "ccp", count=4)
    (images / "003.jpg").write_bytes((images / "003.jpg").read_bytes()[:200])  # truncated: no matte, no link
    out = tmp_path / "ccp-mattes"
    with pytest.raises(SystemExit, match="1"):
        main(["prepare-alpha", str(images), str(masks), str(out), "--split", "train", "--band", "4", "--workers", "1"])
    pairs = find_pairs(out, "train")  # every photo has its matte: no orphan
    assert [pair.stem for pair in pairs] == ["000", "001", "002"]
    assert all(pair.image.resolve() == (images / pair.image.name).resolve() for pair in pairs)
    summary = pack(tmp_path / "pack", [out], holdout_percent=0, progress=False)
    assert summary.files_by_part["ccp-mattes mattes"] == 3
    again = prepare_alpha(images, masks, out, band=4, workers=1, progress=False, split="train")
    assert (again.done, again.skipped, again.failed) == (0, 3, 1)


def test_prepare_alpha_refuses_a_dataset_layout_over_its_inputs(tmp_path):
    images, masks = _folder_dataset(tmp_path / "set" / "train", count=1)  # set/train/image, set/train/seg
    with pytest.raises(ValueError, match="must not be the images or masks folder"):
        prepare_alpha(images, masks, tmp_path / "set", progress=False, split="train")
