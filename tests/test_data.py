"""The data layer: decoding, pair discovery and its errors, geometry, augmentation, hold-out, dataset."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mmnet.data.augment import augment, reference_affine
from mmnet.data.dataset import DatasetError, MattingDataset, Pair, find_pairs, in_holdout, select
from mmnet.data.io import ImageReadError, decode_image_bytes, read_image, read_mask
from mmnet.data.preprocess import prepare_eval, resize_align_corners
from mmnet.data.synthetic import make_dataset, synthetic_pair

EG1800 = Path(__file__).resolve().parents[2] / "shared/data/eg1800"
WARP = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP


def write(path: Path, array: np.ndarray, ext: str | None = None) -> Path:
    path.write_bytes(cv2.imencode(ext or path.suffix, array)[1].tobytes())
    return path


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """`jpeg` with an APP1 EXIF segment whose only tag is Orientation (0x0112)."""
    tiff = (b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x01" + b"\x01\x12\x00\x03\x00\x00\x00\x01"
            + orientation.to_bytes(2, "big") + b"\x00\x00" + b"\x00\x00\x00\x00")
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


class FixedRng:
    """Stands in for np.random.Generator in `reference_affine`: integers -> low (scale 1.00, crop at
    0), random -> `chance` (< 0.5 flips / rotates), uniform -> `angle`."""

    def __init__(self, chance: float = 0.9, angle: float = 0.0) -> None:
        self.chance, self.angle = chance, angle

    def integers(self, low, high=None):
        return low if high is not None else 0

    def random(self):
        return self.chance

    def uniform(self, low, high):
        return self.angle


# ---------------------------------------------------------------------------------------------- io

def test_grey_rgba_and_16_bit_images(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    image = read_image(write(tmp_path / "grey.png", grey))
    assert image.shape == (20, 30, 3) and image.dtype == np.uint8
    assert all(np.array_equal(image[..., c], grey) for c in range(3))

    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    rgba = np.dstack([rgb[..., ::-1], np.full((20, 30), 9, np.uint8)])  # cv2 writes BGRA
    assert np.array_equal(read_image(write(tmp_path / "rgba.png", rgba)), rgb)

    values = np.array([0, 128, 129, 257, 32896, 65534, 65535], np.uint16)
    expected = np.array([0, 0, 1, 1, 128, 255, 255], np.uint8)  # round(v / 257)
    deep = np.tile(values, (4, 1))
    assert np.array_equal(read_image(write(tmp_path / "deep.png", np.dstack([deep] * 3)))[0, :, 1], expected)
    assert np.array_equal(read_mask(write(tmp_path / "deep_mask.png", deep))[0], expected)


def test_palette_png(tmp_path):
    image_module = pytest.importorskip("PIL.Image")
    rgb = np.zeros((8, 10, 3), np.uint8)
    rgb[:4] = (200, 30, 60)
    palette = image_module.fromarray(rgb).convert("P", palette=image_module.Palette.ADAPTIVE, colors=4)
    assert palette.mode == "P"
    palette.save(tmp_path / "palette.png")
    assert np.array_equal(read_image(tmp_path / "palette.png"), rgb)


def test_colour_masks(tmp_path):
    grey = np.random.default_rng(1).integers(0, 256, (12, 14), dtype=np.uint8)
    assert np.array_equal(read_mask(write(tmp_path / "equal.png", np.dstack([grey] * 4))), grey)
    bgr = np.zeros((12, 14, 3), np.uint8)
    bgr[..., 2] = 200  # red
    bgr[..., 1] = grey
    luminance = np.round(0.299 * 200 + 0.587 * grey.astype(float))
    assert np.abs(read_mask(write(tmp_path / "colour.png", bgr)).astype(float) - luminance).max() <= 1


def test_exif_orientation_is_applied(tmp_path):
    stored = np.zeros((40, 64, 3), np.uint8)
    stored[:16, :24] = (255, 0, 0)  # a red block at the stored top-left
    jpeg = cv2.imencode(".jpg", stored[..., ::-1])[1].tobytes()
    for orientation, turns in ((1, 0), (3, 2), (6, -1), (8, 1)):  # np.rot90 turns (anticlockwise)
        path = tmp_path / f"orientation{orientation}.jpg"
        path.write_bytes(with_exif_orientation(jpeg, orientation))
        image, expected = read_image(path), np.rot90(stored, turns)
        assert image.shape == expected.shape
        red = expected[..., 0] > 128
        assert image[..., 0][red].mean() > 200 and image[..., 0][~red].mean() < 30
        assert read_mask(path).shape == expected.shape[:2]


def test_truncated_and_unreadable_files_raise(tmp_path):
    image = cv2.GaussianBlur(np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8), (5, 5), 0)
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    png = cv2.imencode(".png", image)[1].tobytes()
    cases = {"half.jpg": (jpeg[:len(jpeg) // 2], "truncated"), "no_eoi.jpg": (jpeg[:-2], "truncated"),
             "half.png": (png[:len(png) // 2], "truncated"), "empty.jpg": (b"", "empty"),
             "text.jpg": (b"this is not an image\n", "not a readable image")}
    for name, (data, problem) in cases.items():
        (tmp_path / name).write_bytes(data)
        for read in (read_image, read_mask):
            with pytest.raises(ImageReadError, match=problem) as caught:
                read(tmp_path / name)
            assert caught.value.path == str(tmp_path / name) and str(caught.value).startswith(str(tmp_path / name))
    with pytest.raises(ImageReadError, match="does not exist"):
        read_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageReadError, match="^upload: truncated"):
        decode_image_bytes(jpeg[:100], "upload")
    (tmp_path / "trailing.jpg").write_bytes(jpeg + b"\x00trailing data")  # after EOI: fine
    assert read_image(tmp_path / "trailing.jpg").shape == (64, 64, 3)


# -------------------------------------------------------------------------------------- find_pairs

def test_find_pairs(tmp_path):
    split = make_dataset(tmp_path, n=5)
    (split / "image" / "synth_00003.jpg").rename(split / "image" / "synth_00003.JPG")
    (tmp_path / "notes.txt").write_text("ignored")
    (split / "mask" / "Thumbs.db").write_bytes(b"ignored")
    pairs = find_pairs(tmp_path, "train")
    assert [p.stem for p in pairs] == [f"synth_{i:05d}" for i in range(5)]
    assert pairs[3] == Pair("synth_00003", split / "image" / "synth_00003.JPG", split / "mask" / "synth_00003.png")


def test_find_pairs_errors(tmp_path):
    split = make_dataset(tmp_path, n=14)
    make_dataset(tmp_path, n=1, split="test")
    with pytest.raises(DatasetError, match=r"no split 'val' \(splits found: test, train\)"):
        find_pairs(tmp_path, "val")
    with pytest.raises(DatasetError, match="does not exist"):
        find_pairs(tmp_path / "nowhere", "train")

    (split / "mask" / "synth_00002.png").unlink()
    (split / "image" / "synth_00005.jpg").unlink()
    write(split / "image" / "synth_00007.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DatasetError) as caught:
        find_pairs(tmp_path, "train")
    message = str(caught.value)
    assert "no mask for these images (1): synth_00002.jpg" in message
    assert "no image for these masks (1): synth_00005.png" in message
    assert "synth_00007 (synth_00007.jpg, synth_00007.png)" in message

    for i in range(14):  # more than 10 unmatched: counted, 10 listed
        (split / "mask" / f"synth_{i:05d}.png").unlink(missing_ok=True)
    (split / "mask" / "extra.png").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"no mask for these images \(13\): synth_00000.jpg, .*, …"):
        find_pairs(tmp_path, "train")
    for path in (split / "mask").iterdir():
        path.unlink()
    (split / "mask").rmdir()
    with pytest.raises(DatasetError, match=r"train[/\\]mask: folder missing"):
        find_pairs(tmp_path, "train")


def test_dataset_reports_every_bad_file_at_once(tmp_path):
    split = make_dataset(tmp_path, n=6)
    truncated = split / "image" / "synth_00001.jpg"
    truncated.write_bytes(truncated.read_bytes()[:-300])
    not_image = split / "mask" / "synth_00003.png"
    not_image.write_text("a text file")
    small_mask = split / "mask" / "synth_00004.png"
    write(small_mask, np.zeros((80, 60), np.uint8))
    with pytest.raises(DatasetError) as caught:
        MattingDataset(tmp_path, "train", 32, progress=False)
    message = str(caught.value)
    assert "3 of 6 pairs cannot be used" in message
    assert f"{truncated}: truncated JPEG" in message
    assert f"{not_image}: not a readable image" in message
    assert "synth_00004.jpg: image is 120×160 (W×H) but its mask synth_00004.png is 60×80" in message


# ------------------------------------------------------------------------------------------ geometry

def bilinear_align_corners(array: np.ndarray, size: int) -> np.ndarray:
    """Direct float64 bilinear resize with src = dst·(in−1)/(out−1)."""
    height, width = array.shape[:2]
    ys, xs = np.linspace(0, height - 1, size), np.linspace(0, width - 1, size)
    y0, x0 = np.minimum(ys.astype(int), height - 2), np.minimum(xs.astype(int), width - 2)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    if array.ndim == 3:
        fy, fx = fy[..., None], fx[..., None]
    a = array.astype(np.float64)
    top = a[y0][:, x0] * (1 - fx) + a[y0][:, x0 + 1] * fx
    bottom = a[y0 + 1][:, x0] * (1 - fx) + a[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def test_resize_align_corners():
    rng = np.random.default_rng(3)
    # Source steps (5−1)/(9−1) = 0.5 and (17−1)/(9−1) = 2 lie on OpenCV's 1/32-pixel grid: exact.
    image = rng.random((5, 17, 3), dtype=np.float32)
    resized = resize_align_corners(image, 9)
    assert resized.shape == (9, 9, 3) and resized.dtype == np.float32
    np.testing.assert_allclose(resized, bilinear_align_corners(image, 9), atol=1e-5)
    for corner in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
        assert np.array_equal(resized[corner], image[corner])

    # Any ratio: within OpenCV's 1/32-pixel interpolation step, for H×W uint8 too.
    ys, xs = np.mgrid[0:37, 0:53]
    smooth = (127.5 + 120 * np.sin(ys / 5.0) * np.cos(xs / 7.0)).astype(np.float32)
    resized = resize_align_corners(smooth, 20)
    np.testing.assert_allclose(resized, bilinear_align_corners(smooth, 20), atol=120 * (1 / 5 + 1 / 7) / 32)
    assert resized[0, 0] == smooth[0, 0] and resized[-1, -1] == smooth[-1, -1]
    as_uint8 = resize_align_corners(smooth.round().astype(np.uint8), 20)
    assert as_uint8.dtype == np.uint8 and np.abs(as_uint8 - bilinear_align_corners(smooth, 20)).max() < 2
    assert resize_align_corners(np.zeros((10, 12, 1), np.float32), 4).shape == (4, 4, 1)


def test_reference_affine_identity_flip_and_rotation():
    size = 64
    np.testing.assert_allclose(reference_affine(FixedRng(), size), [[1, 0, 0], [0, 1, 0]], atol=1e-12)
    flipped = reference_affine(FixedRng(chance=0.4), size)  # flips, and rotates by 0°: crop 64, resize 1
    np.testing.assert_allclose(flipped, [[-1, 0, size - 1], [0, 1, 0]], atol=1e-12)
    rotated = reference_affine(FixedRng(chance=0.4, angle=10.0), size)
    theta = np.radians(10.0)
    ratio = round(size / (np.cos(theta) + np.sin(theta))) / size
    np.testing.assert_allclose(np.abs(rotated[:, :2]), ratio * np.abs([[np.cos(theta), np.sin(theta)],
                                                                         [np.sin(theta), np.cos(theta)]]))
    centre = (size - 1) / 2
    np.testing.assert_allclose(rotated @ [centre, centre, 1], [centre, centre], atol=1e-9)


def test_reference_affine_stays_inside_the_source():
    size = 64
    ones = np.ones((size, size), np.float32)
    corners = np.array([[0, 0, 1], [size - 1, 0, 1], [0, size - 1, 1], [size - 1, size - 1, 1]]).T
    scales = set()
    for seed in range(300):
        matrix = reference_affine(np.random.default_rng(seed), size)
        source = matrix @ corners
        assert source.min() >= -0.5 and source.max() <= size - 0.5  # inside the source's pixel area
        warped = cv2.warpAffine(ones, matrix, (size, size), flags=WARP, borderMode=cv2.BORDER_CONSTANT,
                                borderValue=0)
        assert warped.min() > 0.5  # no black (zero-filled) corners
        scales.add(round(float(np.hypot(*matrix[:, 0])), 3))
    assert len(scales) > 20  # scale and rotation do vary


# ---------------------------------------------------------------------------------------- augment

def aligned_pair(size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic pair whose image red channel is the mask."""
    image, mask = synthetic_pair(np.random.default_rng(4), size, size)
    image[..., 0] = mask
    return image, mask


def test_augment_shapes_reproducibility_and_alignment():
    image, mask = aligned_pair()
    for seed in range(20):
        x, alpha = augment(image, mask, np.random.default_rng(seed))
        assert x.shape == (3, 48, 48) and alpha.shape == (1, 48, 48)
        assert x.dtype == alpha.dtype == np.float32 and x.flags.c_contiguous
        assert 0 <= x.min() and x.max() <= 1 and 0 <= alpha.min() and alpha.max() <= 1
        np.testing.assert_allclose(x[0], alpha[0], atol=1e-6)  # image and mask warped alike
        again = augment(image, mask, np.random.default_rng(seed))
        assert np.array_equal(x, again[0]) and np.array_equal(alpha, again[1])
    first, second = (augment(image, mask, np.random.default_rng(s))[1] for s in (0, 1))
    assert not np.array_equal(first, second)
    assert 0.1 < ((alpha > 0.02) & (alpha < 0.98)).mean() + (alpha >= 0.98).mean() < 1  # a figure is there

    jittered, jittered_alpha = augment(image, mask, np.random.default_rng(7), color_jitter=0.4)
    plain, plain_alpha = augment(image, mask, np.random.default_rng(7))
    assert np.array_equal(jittered_alpha, plain_alpha) and not np.allclose(jittered, plain)
    assert 0 <= jittered.min() and jittered.max() <= 1


def test_prepare_eval():
    image, _ = aligned_pair()
    x = prepare_eval(image, 32)
    assert x.shape == (3, 32, 32) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0, 0], image[0, 0] / 255)
    np.testing.assert_allclose(x[:, -1, -1], image[-1, -1] / 255)


# ---------------------------------------------------------------------------------------- hold-out

def test_holdout_is_deterministic_and_complete():
    stems = [f"img_{i:05d}" for i in range(4000)]
    held = [s for s in stems if in_holdout(s, 10)]
    assert held == [s for s in stems if in_holdout(s, 10)]
    assert 0.08 < len(held) / len(stems) < 0.12
    assert not any(in_holdout(s, 0) for s in stems) and all(in_holdout(s, 100) for s in stems)
    pairs = [Pair(s, Path(s + ".jpg"), Path(s + ".png")) for s in stems]
    validation, training = select(pairs, 10, True), select(pairs, 10, False)
    assert [p.stem for p in validation] == held
    assert not set(validation) & set(training) and len(validation) + len(training) == len(pairs)
    with pytest.raises(ValueError):
        in_holdout("x", 150)


# ----------------------------------------------------------------------------------------- dataset

def test_matting_dataset(synthetic_root):
    train = MattingDataset(synthetic_root, "train", 32, progress=False)
    assert len(train) == 24 and train.images.shape == (24, 32, 32, 3) and train.masks.shape == (24, 32, 32)
    assert train.stems == [p.stem for p in train.pairs] and train.images.flags.c_contiguous
    image, alpha = train[(3, 12345)]
    assert image.shape == (3, 32, 32) and alpha.shape == (1, 32, 32) and image.dtype == np.float32
    assert np.array_equal(train[(3, 12345)][0], image) and not np.array_equal(train[(3, 54321)][0], image)
    assert train[3][0].shape == (3, 32, 32)
    with pytest.raises(IndexError):
        train[24]
    with pytest.raises(RuntimeError, match="keep_full_masks"):
        train.full_mask(0)

    test = MattingDataset(synthetic_root, "test", 32, augment=False, keep_full_masks=True, progress=False)
    image, alpha = test[2]
    np.testing.assert_array_equal(image, prepare_eval(read_image(test.pairs[2].image), 32))
    np.testing.assert_allclose(alpha[0], resize_align_corners(read_mask(test.pairs[2].mask), 32) / 255)
    full = test.full_mask(2)
    assert full.shape == (160, 120) and full.dtype == np.float32
    np.testing.assert_allclose(full, read_mask(test.pairs[2].mask) / 255, atol=1e-7)

    held = MattingDataset(synthetic_root, "train", 32, holdout_percent=30, holdout=True, progress=False)
    kept = MattingDataset(synthetic_root, "train", 32, holdout_percent=30, holdout=False, progress=False)
    assert len(held) + len(kept) == 24 and not set(held.stems) & set(kept.stems)


def test_dataloader_with_workers(synthetic_root):
    torch = pytest.importorskip("torch")
    dataset = MattingDataset(synthetic_root, "train", 32, progress=False)
    items = [(i % 24, 1000 + i) for i in range(16)]
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, sampler=items, num_workers=2)
    batches = list(loader)
    assert len(batches) == 4
    images, alphas = batches[1]
    assert images.shape == (4, 3, 32, 32) and alphas.shape == (4, 1, 32, 32) and images.dtype == torch.float32
    expected = dataset[items[5]]
    assert np.array_equal(images[1].numpy(), expected[0]) and np.array_equal(alphas[1].numpy(), expected[1])


@pytest.mark.skipif(not (EG1800 / "train" / "image").is_dir(), reason=f"the EG1800 portraits are not at {EG1800}")
def test_real_eg1800_holdout():
    dataset = MattingDataset(EG1800, "train", 256, augment=False, holdout_percent=5, holdout=True,
                             keep_full_masks=True, progress=False)
    assert 30 < len(dataset) < 110  # 5% of 1341
    assert dataset.images.shape == (len(dataset), 256, 256, 3) and dataset.masks.shape == (len(dataset), 256, 256)
    image, alpha = dataset[0]
    assert image.shape == (3, 256, 256) and alpha.shape == (1, 256, 256)
    assert dataset.full_mask(0).shape == (800, 600)
    assert 0.05 < alpha.mean() < 0.95 and alpha.max() == 1.0
    x, a = augment(dataset.images[0], dataset.masks[0], np.random.default_rng(0))
    assert x.shape == (3, 256, 256) and a.shape == (1, 256, 256)
