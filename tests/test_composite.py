"""Compositing people onto other backgrounds: foreground estimation and its cache, backgrounds and their
hold-out, the geometry of `composite`, `CompositeDataset`, and the composited validation set."""
from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from mmnet.data import foregrounds as cache_module
from mmnet.data import placement as placing
from mmnet.data.backgrounds import load_backgrounds, split_backgrounds
from mmnet.data.composite import CompositeDataset
from mmnet.data.composite_set import build_composite_set
from mmnet.data.dataset import DatasetError, MattingDataset, find_pairs, in_holdout
from mmnet.data.foregrounds import ForegroundCache, estimate_foreground
from mmnet.data.io import read_image, read_mask
from mmnet.data.placement import composite, touches_bottom_edge
from mmnet.data.synthetic import make_dataset

EG1800 = Path(__file__).resolve().parents[2] / "shared/data/eg1800"
BACKGROUNDS = Path(__file__).resolve().parents[2] / "shared/data/backgrounds"

INSIDE_RGB = np.array([0.2, 0.6, 0.3], np.float32)
OUTSIDE_RGB = np.array([1.0, 0.0, 0.0], np.float32)  # fg colour where alpha = 0: must never show
BACKGROUND_RGB = np.array([40, 90, 200], np.uint8)


def bust(height: int = 120, width: int = 90, soft: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A uniform-colour head over shoulders cut by the bottom edge: (fg h×w×3, alpha h×w), float32."""
    alpha = np.zeros((height, width), np.uint8)
    cv2.ellipse(alpha, (width // 2, height // 3), (width // 6, height // 5), 0, 0, 360, 255, -1)
    cv2.ellipse(alpha, (width // 2, height), (width * 2 // 5, height // 2), 0, 180, 360, 255, -1)
    alpha = alpha.astype(np.float32) / 255
    if soft:
        alpha = cv2.GaussianBlur(alpha, (0, 0), 2.0)
    fg = np.where(alpha[..., None] > 0, INSIDE_RGB, OUTSIDE_RGB).astype(np.float32)
    return fg, alpha


def blob() -> tuple[np.ndarray, np.ndarray]:
    """A person-sized ellipse well inside its photo (not cut by the bottom edge)."""
    fg, alpha = bust()
    alpha[int(alpha.shape[0] * 0.6):] = 0
    return fg, alpha


def plain_background(height: int = 50, width: int = 70) -> np.ndarray:
    return np.broadcast_to(BACKGROUND_RGB, (height, width, 3)).copy()


def write_backgrounds(folder: Path, count: int, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        height, width = rng.integers(40, 90, 2)
        image = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (0, 0), 3)
        paths.append(folder / f"bg_{i:03d}.jpg")
        cv2.imwrite(str(paths[-1]), image)
    return paths


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> tuple[MattingDataset, np.ndarray, list[np.ndarray]]:
    """A 64×64 MattingDataset of 10 synthetic pairs, its foregrounds and 5 backgrounds."""
    root = tmp_path_factory.mktemp("composite")
    make_dataset(root, n=10, height=96, width=72)
    dataset = MattingDataset(root, "train", 64, progress=False)
    foregrounds = ForegroundCache(dataset, root / "cache", workers=1, progress=False).foregrounds
    write_backgrounds(root / "backgrounds", 5)
    backgrounds = load_backgrounds(root / "backgrounds", 64, holdout_percent=0)
    return dataset, foregrounds, backgrounds


# ------------------------------------------------------------------------------------------ foreground

def test_estimate_foreground_removes_the_old_background():
    height, width = 40, 60
    alpha = np.tile(np.linspace(0, 1, width, dtype=np.float32), (height, 1))  # a soft edge everywhere
    foreground, background = np.array([0.9, 0.5, 0.1]), np.array([0.1, 0.2, 0.9])
    image = alpha[..., None] * foreground + (1 - alpha[..., None]) * background
    image_u8, alpha_u8 = np.round(image * 255).astype(np.uint8), np.round(alpha * 255).astype(np.uint8)
    estimated = estimate_foreground(image_u8, alpha_u8)
    assert estimated.shape == (height, width, 3) and estimated.dtype == np.float32
    soft = (alpha > 0.2) & (alpha < 0.9)
    assert np.abs(estimated[soft] - foreground).max() < 0.06  # the raw photo is up to 0.64 off there
    assert np.abs(image[soft] - foreground).max() > 0.3
    with pytest.raises(ValueError, match="uint8"):
        estimate_foreground(image.astype(np.float32), alpha_u8)


def test_foreground_cache_is_computed_once_and_keyed(tmp_path, monkeypatch):
    make_dataset(tmp_path, n=4, height=64, width=48)
    dataset = MattingDataset(tmp_path, "train", 32, progress=False)
    cache = ForegroundCache(dataset, tmp_path / "cache", workers=2, progress=False)
    assert cache.foregrounds.shape == (4, 32, 32, 3) and cache.foregrounds.dtype == np.uint8
    assert cache.path.is_file() and [p.name for p in cache.path.parent.iterdir()] == [cache.path.name]
    direct = np.round(estimate_foreground(dataset.images[2], dataset.masks[2]) * 255)
    assert np.abs(cache.foregrounds[2].astype(int) - direct).max() <= 1

    monkeypatch.setattr(cache_module, "_compute_foregrounds", lambda *args: pytest.fail("recomputed"))
    assert np.array_equal(ForegroundCache(dataset, tmp_path / "cache").foregrounds, cache.foregrounds)
    other_size = MattingDataset(tmp_path, "train", 16, progress=False)
    assert cache_module.foreground_cache_key(other_size) != cache_module.foreground_cache_key(dataset)

    np.save(cache.path, np.zeros((3, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match=f"{cache.path.name}.*expected uint8"):
        ForegroundCache(dataset, tmp_path / "cache")


# ------------------------------------------------------------------------------------------ backgrounds

def test_background_holdout_is_disjoint_and_complete(tmp_path):
    paths = write_backgrounds(tmp_path, 20)
    train = split_backgrounds(tmp_path, 30, holdout=False)
    held = split_backgrounds(tmp_path, 30, holdout=True)
    assert train and held and not set(train) & set(held)
    assert sorted(train + held) == sorted(paths)
    assert all(in_holdout(path.stem, 30) for path in held)
    loaded = load_backgrounds(tmp_path, 32, 30, holdout=True)
    assert len(loaded) == len(held)
    for image, path in zip(loaded, held):
        original = read_image(path).shape[:2]
        assert min(image.shape[:2]) == 32 and image.dtype == np.uint8
        assert abs(image.shape[1] / image.shape[0] - original[1] / original[0]) < 0.05


def test_unreadable_backgrounds_are_skipped_with_a_warning(tmp_path):
    write_backgrounds(tmp_path, 2)
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.warns(UserWarning, match="broken.jpg"):
        assert len(load_backgrounds(tmp_path, 16, holdout_percent=0)) == 2
    for path in tmp_path.glob("bg_*"):
        path.unlink()
    with pytest.warns(UserWarning), pytest.raises(DatasetError, match="no readable background"):
        load_backgrounds(tmp_path, 16, holdout_percent=0)


# ------------------------------------------------------------------------------------------ composite

@pytest.mark.parametrize("seed", range(6))
def test_composite_is_fg_inside_and_background_outside(seed):
    fg, alpha = bust(soft=True)
    image, total = composite(np.random.default_rng(seed), [(fg, alpha)], plain_background(), 80, 60,
                             touches_bottom=[True])
    assert image.shape == (80, 60, 3) and total.shape == (80, 60)
    assert image.dtype == np.float32 and total.dtype == np.float32
    background = BACKGROUND_RGB.astype(np.float32) / 255
    inside, outside = total > 1 - 1e-6, total == 0
    assert inside.sum() > 50 and outside.sum() > 50
    np.testing.assert_allclose(image[inside], np.broadcast_to(INSIDE_RGB, image[inside].shape), atol=1e-5)
    np.testing.assert_allclose(image[outside], np.broadcast_to(background, image[outside].shape), atol=1e-6)
    # soft edges blend the person's colour only: the red outside its matte never shows
    expected = total[..., None] * INSIDE_RGB + (1 - total[..., None]) * background
    np.testing.assert_allclose(image, expected, atol=1e-5)


def test_two_people_alpha_is_the_union():
    (fg1, a1), (fg2, a2) = bust(soft=True), bust(soft=True)
    fg2 = np.broadcast_to(np.float32([0.9, 0.9, 0.1]), fg2.shape).copy()
    empty = (fg1, np.zeros_like(a1))
    background = BACKGROUND_RGB.astype(np.float32) / 255
    overlaps = 0
    for seed in range(8):
        def run(people):
            return composite(np.random.default_rng(seed), people, plain_background(), 80, 60,
                             touches_bottom=[True, True])
        image, total = run([(fg1, a1), (fg2, a2)])
        _, alone1 = run([(fg1, a1), empty])  # `composite` draws the same numbers for an empty matte
        _, alone2 = run([empty, (fg2, a2)])
        np.testing.assert_allclose(total, 1 - (1 - alone1) * (1 - alone2), atol=1e-6)
        back = alone1[..., None] * INSIDE_RGB + (1 - alone1[..., None]) * background
        np.testing.assert_allclose(image, alone2[..., None] * fg2[0, 0] + (1 - alone2[..., None]) * back, atol=1e-5)
        overlaps += bool(((alone1 > 0.5) & (alone2 > 0.5)).any())
    assert overlaps >= 2


def test_composite_is_deterministic_in_the_seed():
    people = [bust(soft=True), blob()]

    def run(seed):
        background = plain_background() + np.arange(70, dtype=np.uint8)[:, None]
        return composite(np.random.default_rng(seed), people, background, 64, 48, touches_bottom=[True, False])
    first, again, other = run(3), run(3), run(4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[1], other[1])


def test_cut_edge_lands_on_the_bottom_row():
    """A matte cut by its photo's bottom edge always reaches the canvas's last row (no floating busts);
    placed anywhere, it often does not."""
    fg, alpha = bust()
    placed = [composite(np.random.default_rng(seed), [(fg, alpha)], plain_background(), 80, 60,
                        touches_bottom=[True])[1] for seed in range(40)]
    assert min(a[-1].max() for a in placed) > 0.9
    anywhere = [composite(np.random.default_rng(seed), [(fg, alpha)], plain_background(), 80, 60,
                          touches_bottom=[False])[1] for seed in range(40)]
    assert sum(a[-1].max() == 0 for a in anywhere) >= 5


def test_scale_varies_from_small_figure_to_close_up():
    fg, alpha = blob()  # fully inside its photo: its whole box is placed
    heights = []
    for seed in range(60):
        total = composite(np.random.default_rng(seed), [(fg, alpha)], plain_background(), 100, 100,
                          touches_bottom=[False])[1]
        rows = np.flatnonzero((total > 0.1).any(axis=1))
        heights.append(rows[-1] - rows[0] + 1)
    heights = np.array(heights)
    assert heights.min() < 45 and heights.max() >= 90  # 0.35 … 1.3 of the canvas (clipped at 100)
    assert heights.min() > 25


def test_people_keep_their_proportions_in_a_squashed_photo():
    """A person in a photo of aspect a, squashed to the canvas, is squash = (out_w / out_h) / a as wide as
    unsquashed; a person stored twice as wide, whose pixels show half their width, comes out as the original."""
    fg, alpha = blob()
    wide = (cv2.resize(fg, (2 * fg.shape[1], fg.shape[0])), cv2.resize(alpha, (2 * fg.shape[1], fg.shape[0])))

    def width_height(seed, person=(fg, alpha), **kwargs):
        placed = placing._place_person(np.random.default_rng(seed), *person, 200, 200, False, **kwargs)[..., 3]
        rows, cols = np.flatnonzero((placed > 0.5).any(axis=1)), np.flatnonzero((placed > 0.5).any(axis=0))
        inside = rows[0] > 0 and cols[0] > 0 and rows[-1] < 199 and cols[-1] < 199
        return cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1, inside

    checked = 0
    for seed in range(30):
        natural, squashed = width_height(seed), width_height(seed, squash=0.5)
        stored_wide = width_height(seed, wide, pixel_aspect=0.5)
        if not all(box[2] for box in (natural, squashed, stored_wide)):
            continue  # partly out of the canvas: its box is cut
        checked += 1
        assert abs(squashed[1] - natural[1]) <= 1 and squashed[0] == pytest.approx(natural[0] / 2, abs=1.5)
        assert stored_wide[:2] == pytest.approx(natural[:2], abs=2)
    assert checked >= 5


def test_stretch_body_keeps_the_head_and_lengthens_the_body():
    """A half figure from a bust: the rows above the split unchanged, the rows below stretched by the factor."""
    fg, alpha = bust(120, 90)
    rgba = np.dstack([fg * alpha[..., None], alpha])
    top = int(np.flatnonzero((alpha > placing.BOX_THRESHOLD).any(axis=1))[0])
    low, high = placing.STRETCH_SPLIT_RANGE
    smallest, largest = placing.STRETCH_FACTOR_RANGE
    for where, how_much in [(0.0, 0.0), (0.5, 0.5), (0.99, 0.99)]:
        stretched = placing.stretch_body(rgba, where, how_much)
        split = top + round((119 - top) * (low + (high - low) * where))
        factor = smallest * (largest / smallest) ** how_much
        assert stretched.shape[1:] == rgba.shape[1:]
        assert np.array_equal(stretched[:split], rgba[:split])
        assert stretched.shape[0] - split == round((120 - split) * factor)
        assert stretched[-1, :, 3].max() > 0.9  # still cut by the bottom edge
    assert placing.stretch_body(np.zeros((10, 8, 4), np.float32), 0.5, 0.5).shape == (10, 8, 4)  # empty: as it is


def test_stretch_makes_the_head_smaller_against_the_body_and_is_off_by_default():
    """With stretch the head is a smaller share of the person placed on the canvas; with stretch = 0 the
    random stream, so every composite and validation set, is what it was."""
    fg, alpha = bust(120, 90)
    fg = np.zeros_like(fg)
    fg[: 120 * 55 // 100, :, 0] = 1.0  # red: the head, above the neck; black: the body

    def head_share(seed, **kwargs):
        placed = placing._place_person(np.random.default_rng(seed), fg, alpha, 300, 200, True, **kwargs)
        return placed[..., 0].sum() / placed[..., 3].sum()

    plain = [placing._place_person(np.random.default_rng(s), fg, alpha, 300, 200, True) for s in range(20)]
    again = [placing._place_person(np.random.default_rng(s), fg, alpha, 300, 200, True, stretch=0.0) for s in range(20)]
    assert all(np.array_equal(a, b) for a, b in zip(plain, again))
    shares, stretched = [head_share(s) for s in range(20)], [head_share(s, stretch=1.0) for s in range(20)]
    assert np.median(stretched) < 0.8 * np.median(shares)


def test_occluder_covers_the_lower_person_and_the_alpha_follows():
    """The object hides part of the lower half of the person: there the image is the texture's and the alpha
    drops by what it covers; nothing else changes."""
    fg, alpha = bust(120, 90)
    image = np.broadcast_to(INSIDE_RGB, (120, 90, 3)).copy()
    texture = np.full((50, 70, 3), 255, np.uint8)  # white: where the occluder is shows in the image
    for seed in range(10):
        out, cut = placing.occlude(np.random.default_rng(seed), image, alpha, texture)
        cover = out[..., 0] - INSIDE_RGB[0]  # white over green: cover × (1 − 0.2)
        cover /= 1 - INSIDE_RGB[0]
        assert np.allclose(cut, alpha * (1 - cover), atol=1e-5)
        covered = (cover > 0.5) & (alpha > 0.5)
        assert covered.any()  # on the person ...
        rows = np.flatnonzero((alpha > 0.5).any(axis=1))
        assert covered[(rows[0] + rows[-1] + 1) // 2:].any()  # ... in its lower half
        assert (cover < 0.5).mean() > 0.3  # and not the whole photo
    nobody = np.zeros_like(alpha)
    out, cut = placing.occlude(np.random.default_rng(0), image, nobody, texture)
    assert out is image and cut is nobody


def test_composite_dataset_occludes_only_when_asked(small_set):
    dataset, foregrounds, backgrounds = small_set
    plain = CompositeDataset([dataset], backgrounds, [foregrounds], p_composite=1.0, p_two=0.0)
    occluded = CompositeDataset([dataset], backgrounds, [foregrounds], p_composite=1.0, p_two=0.0, p_occlude=1.0)
    off = CompositeDataset([dataset], backgrounds, [foregrounds], p_composite=1.0, p_two=0.0, p_occlude=0.0)
    differs = 0
    for seed in range(6):
        first, second = plain[(seed, seed)], off[(seed, seed)]
        assert all(np.array_equal(a, b) for a, b in zip(first, second))
        differs += not np.array_equal(first[1], occluded[(seed, seed)][1])
    assert differs >= 3
    with pytest.raises(ValueError, match="p_occlude"):
        CompositeDataset([dataset], backgrounds, [foregrounds], p_occlude=1.5)


def test_composite_dataset_draws_photos_of_every_aspect(small_set):
    """Composites stand for photos from 9:16 to 16:9: a person's width on the canvas, relative to its
    height, spans about the ratio of the two extremes (16/9)² ≈ 3.2."""
    dataset, foregrounds, backgrounds = small_set
    composited = CompositeDataset([dataset], backgrounds, [foregrounds], p_composite=1.0, p_two=0.0)
    ratios = []
    for seed in range(60):
        alpha = composited[(0, seed)][1][0]
        rows, cols = np.flatnonzero((alpha > 0.5).any(axis=1)), np.flatnonzero((alpha > 0.5).any(axis=0))
        if rows.size and cols[0] > 0 and cols[-1] < alpha.shape[1] - 1 and rows[0] > 0:
            ratios.append((cols[-1] - cols[0] + 1) / (rows[-1] - rows[0] + 1))
    assert len(ratios) >= 10
    assert max(ratios) / min(ratios) > 2.0


# ------------------------------------------------------------------------------------------ dataset

def test_composite_dataset_samples(small_set):
    dataset, foregrounds, backgrounds = small_set
    composited = CompositeDataset([dataset], backgrounds, [foregrounds], p_composite=1.0, p_two=0.5)
    assert len(composited) == len(dataset)
    for seed in range(8):
        image, alpha = composited[(seed % len(dataset), seed)]
        assert image.shape == (3, 64, 64) and alpha.shape == (1, 64, 64)
        assert image.dtype == np.float32 and alpha.dtype == np.float32
        assert 0 <= image.min() and image.max() <= 1 and 0 <= alpha.min() and alpha.max() <= 1
        assert alpha.max() > 0.9 and alpha[0, -1].max() > 0.5  # synthetic figures reach the bottom
    first, again = composited[(3, 11)], composited[(3, 11)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    base = [dataset[(i, 100 + i)] for i in range(len(dataset))]
    assert not any(np.array_equal(composited[(i, 100 + i)][1], base[i][1]) for i in range(len(dataset)))

    untouched = CompositeDataset([dataset], backgrounds, [foregrounds], p_composite=0.0)
    for i in range(len(dataset)):
        assert all(np.array_equal(a, b) for a, b in zip(untouched[(i, 100 + i)], base[i]))


def test_composite_dataset_in_a_dataloader(small_set):
    torch = pytest.importorskip("torch")
    dataset, foregrounds, backgrounds = small_set
    composited = CompositeDataset([dataset], backgrounds, [foregrounds])
    items = [(i % len(dataset), 1000 + i) for i in range(8)]
    copy = pickle.loads(pickle.dumps(composited))  # for spawned workers
    assert all(np.array_equal(a, b) for a, b in zip(copy[items[0]], composited[items[0]]))
    loader = torch.utils.data.DataLoader(composited, batch_size=4, sampler=items, num_workers=2)
    images, alphas = zip(*loader)
    images, alphas = torch.cat(images).numpy(), torch.cat(alphas).numpy()
    assert images.shape == (8, 3, 64, 64) and alphas.shape == (8, 1, 64, 64)
    for k, item in enumerate(items):
        image, alpha = composited[item]
        assert np.array_equal(images[k], image) and np.array_equal(alphas[k], alpha)


def test_composite_dataset_rejects_mismatched_foregrounds(small_set):
    dataset, foregrounds, backgrounds = small_set
    with pytest.raises(ValueError, match="expected uint8"):
        CompositeDataset([dataset], backgrounds, [foregrounds[:-1]])


# ------------------------------------------------------------------------------------------ validation set

def test_build_composite_set(tmp_path):
    make_dataset(tmp_path / "data", n=8, height=80, width=60)
    write_backgrounds(tmp_path / "backgrounds", 8)
    held = [pair.stem for pair in find_pairs(tmp_path / "data", "train") if in_holdout(pair.stem, 50)]
    assert len(held) >= 2
    split_dir = build_composite_set(tmp_path / "data", "train", 50, tmp_path / "backgrounds", tmp_path / "out",
                                    height=80, width=60, workers=2, progress=False)
    assert split_dir == tmp_path / "out" / "train"
    opened = MattingDataset(tmp_path / "out", "train", 32, augment=False, progress=False)
    assert opened.stems == held
    for stem in held:
        assert read_image(split_dir / "image" / f"{stem}.jpg").shape == (80, 60, 3)
        assert read_mask(split_dir / "mask" / f"{stem}.png").shape == (80, 60)
    assert all(touches_bottom_edge(read_mask(path)) for path in (split_dir / "mask").iterdir())

    written = {path: path.stat().st_mtime_ns for path in split_dir.rglob("*")}
    build_composite_set(tmp_path / "data", "train", 50, tmp_path / "backgrounds", tmp_path / "out",
                        height=80, width=60, workers=2, progress=False)
    assert {path: path.stat().st_mtime_ns for path in split_dir.rglob("*")} == written

    # each composite depends on its stem and the seed only, not on which others are (re)built
    victim = split_dir / "mask" / f"{held[-1]}.png"
    before = victim.read_bytes()
    victim.unlink()
    build_composite_set(tmp_path / "data", "train", 50, tmp_path / "backgrounds", tmp_path / "out",
                        height=80, width=60, workers=1, progress=False)
    assert victim.read_bytes() == before


# ------------------------------------------------------------------------------------------ real photos

def test_real_portraits_contact_sheet(tmp_path):
    """3 EG1800 portraits at S=128 on 3 real backgrounds; writes contact_sheet.png (image | alpha)."""
    if not (EG1800 / "train" / "image").is_dir() or not BACKGROUNDS.is_dir():
        pytest.skip(f"the EG1800 portraits or backgrounds are not at {EG1800.parent}")
    stems = [path.stem for path in sorted((EG1800 / "train" / "image").glob("*.jpg"))[:3]]
    for folder, suffix in (("image", ".jpg"), ("mask", ".png")):  # links, never copies, of the photos
        (tmp_path / "eg" / "train" / folder).mkdir(parents=True)
        for stem in stems:
            name = f"{stem}{suffix}"
            (tmp_path / "eg" / "train" / folder / name).symlink_to(EG1800 / "train" / folder / name)
    (tmp_path / "bg").mkdir()
    for path in sorted(BACKGROUNDS.glob("*.jpg"))[:3]:
        (tmp_path / "bg" / path.name).symlink_to(path)

    dataset = MattingDataset(tmp_path / "eg", "train", 128, progress=False)
    foregrounds = ForegroundCache(dataset, tmp_path / "cache", workers=1, progress=False).foregrounds
    backgrounds = load_backgrounds(tmp_path / "bg", 128, holdout_percent=0)
    assert len(backgrounds) == 3 and all(touches_bottom_edge(dataset.masks))
    composited = CompositeDataset([dataset], backgrounds, [foregrounds], p_composite=1.0, p_two=0.3)
    tiles = []
    for seed in range(12):
        image, alpha = composited[(seed % 3, seed)]
        assert alpha[0, -1].max() > 0.5  # no floating busts
        tiles.append(np.hstack([image.transpose(1, 2, 0), np.repeat(alpha[0][..., None], 3, axis=2)]))
    rows = [np.hstack(tiles[i:i + 3]) for i in range(0, 12, 3)]
    sheet = np.round(np.vstack(rows) * 255).astype(np.uint8)
    assert cv2.imwrite(str(tmp_path / "contact_sheet.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


# ------------------------------------------------------------------------------------------ scenes

def test_scene_placement_spans_pedestrians_to_close_ups_cut_by_any_edge():
    """SCENE puts a full figure anywhere from 5 % of the height (a pedestrian) to the whole height, and cuts
    people by every edge of the frame; PORTRAIT never makes them that small."""
    fg, alpha = blob()
    heights, cut = {"scene": [], "portrait": []}, set()
    for seed in range(200):
        for name, placement in (("scene", placing.SCENE), ("portrait", placing.PORTRAIT)):
            total = composite(np.random.default_rng(seed), [(fg, alpha)], plain_background(), 200, 200,
                              touches_bottom=[False], placement=placement)[1]
            rows, cols = np.flatnonzero((total > 0.5).any(axis=1)), np.flatnonzero((total > 0.5).any(axis=0))
            if rows.size == 0:
                continue
            heights[name].append((rows[-1] - rows[0] + 1) / 200)
            if name == "scene":
                cut.update(edge for edge, touches in (("top", rows[0] == 0), ("bottom", rows[-1] == 199),
                                                      ("left", cols[0] == 0), ("right", cols[-1] == 199)) if touches)
    assert min(heights["scene"]) < 0.08 and max(heights["scene"]) > 0.6
    assert min(heights["portrait"]) > 0.15
    assert cut == {"top", "bottom", "left", "right"}


@pytest.fixture(scope="module")
def two_sets(tmp_path_factory, small_set) -> tuple[list[MattingDataset], list[np.ndarray], list[np.ndarray]]:
    """small_set's pairs and a second set of 6 other synthetic pairs (a different seed), both at 64×64."""
    dataset, foregrounds, backgrounds = small_set
    root = tmp_path_factory.mktemp("second")
    make_dataset(root, n=6, height=80, width=80, seed=7)
    second = MattingDataset(root, "train", 64, progress=False)
    return ([dataset, second], [foregrounds, ForegroundCache(second, root / "cache", workers=1,
                                                             progress=False).foregrounds], backgrounds)


def test_composite_dataset_indexes_its_people_sets_one_after_the_other(two_sets):
    bases, foregrounds, backgrounds = two_sets
    mixed = CompositeDataset(bases, backgrounds, foregrounds, p_composite=0.0)
    assert len(mixed) == 16
    for index, (base, local) in ((3, (0, 3)), (10, (1, 0)), (15, (1, 5))):
        assert all(np.array_equal(a, b) for a, b in zip(mixed[(index, 5)], bases[base][(local, 5)]))
    with pytest.raises(ValueError, match="one foreground array per people set"):
        CompositeDataset(bases, backgrounds, foregrounds[:1])
    with pytest.raises(ValueError, match="p_scene"):
        CompositeDataset(bases, backgrounds, foregrounds, p_scene=-0.1)


def test_composite_dataset_scenes_hold_groups_of_small_people(two_sets):
    """Scenes draw people from both sets, more of them and smaller than portrait composites do; with
    p_scene = 0 the samples are exactly those of a dataset without scenes."""
    bases, foregrounds, backgrounds = two_sets
    scenes = CompositeDataset(bases, backgrounds, foregrounds, p_composite=1.0, p_scene=1.0)
    portraits = CompositeDataset(bases, backgrounds, foregrounds, p_composite=1.0, p_two=0.25)
    off = CompositeDataset(bases, backgrounds, foregrounds, p_composite=1.0, p_two=0.25, p_scene=0.0)
    area = {"scenes": [], "portraits": []}
    for seed in range(40):
        item = (seed % 16, seed)
        for name, dataset in (("scenes", scenes), ("portraits", portraits)):
            area[name].append(float((dataset[item][1] > 0.5).mean()))
        assert all(np.array_equal(a, b) for a, b in zip(portraits[item], off[item]))
    assert all(np.array_equal(a, b) for a, b in zip(scenes[(3, 11)], scenes[(3, 11)]))
    assert np.median(area["scenes"]) < np.median(area["portraits"])
    assert min(area["scenes"]) < 0.01  # a pedestrian's share of the frame


def test_build_scene_set_from_two_datasets(tmp_path):
    make_dataset(tmp_path / "eg", n=8, height=80, width=60)
    make_dataset(tmp_path / "ccp", n=8, height=90, width=60, seed=3)
    write_backgrounds(tmp_path / "backgrounds", 8)
    held = sorted(f"{root}-{pair.stem}" for root in ("eg", "ccp")
                  for pair in find_pairs(tmp_path / root, "train") if in_holdout(pair.stem, 50))
    roots = [tmp_path / "eg", tmp_path / "ccp"]
    scenes = build_composite_set(roots, "train", 50, tmp_path / "backgrounds", tmp_path / "scenes", height=60,
                                 width=80, scene=True, workers=1, progress=False)
    opened = MattingDataset(tmp_path / "scenes", "train", 32, augment=False, progress=False)
    assert opened.stems == held
    assert all(read_mask(path).shape == (60, 80) for path in (scenes / "mask").iterdir())
    portraits = build_composite_set(roots, "train", 50, tmp_path / "backgrounds", tmp_path / "portraits",
                                    height=60, width=80, workers=1, progress=False)
    masks = [(read_mask(scenes / "mask" / f"{name}.png"), read_mask(portraits / "mask" / f"{name}.png"))
             for name in held]
    assert any(not np.array_equal(a, b) for a, b in masks)
    assert np.mean([(a > 127).mean() for a, _ in masks]) < np.mean([(b > 127).mean() for _, b in masks])


# ------------------------------------------------------------------------------------------ realism

def test_grounded_people_stand_in_the_lower_part_of_the_frame():
    """With ground=1 a person inside its photo has its feet at 60-100 % of the canvas height; without, the
    feet of some land higher (floating)."""
    fg, alpha = blob()

    def feet(ground: float) -> list[float]:
        rows = []
        for seed in range(40):
            total = composite(np.random.default_rng(seed), [(fg, alpha)], plain_background(), 100, 100,
                              touches_bottom=[False], placement=placing.SCENE, ground=ground)[1]
            found = np.flatnonzero((total > 0.5).any(axis=1))
            if found.size:
                rows.append(found[-1] / 100)
        return rows

    grounded, floating = feet(1.0), feet(0.0)
    assert len(grounded) >= 30 and min(grounded) >= 0.55  # 0.6, less the tilt's and the resampling's reach
    assert sum(row < 0.5 for row in floating) >= 5


def test_harmonised_moves_the_person_toward_the_scene_and_keeps_the_matte():
    fg, alpha = bust()
    scene = np.full((40, 40, 3), (0.9, 0.6, 0.2), np.float32)  # warm, bright light
    inside = alpha > 0.5
    half, none = placing.harmonised(fg, alpha, scene, 0.5), placing.harmonised(fg, alpha, scene, 0.0)
    np.testing.assert_allclose(none[inside], fg[inside], atol=2e-3)
    before = np.abs(fg[inside].mean(axis=0) - scene[0, 0]).sum()
    after = np.abs(half[inside].mean(axis=0) - scene[0, 0]).sum()
    assert after < 0.75 * before
    assert half.dtype == np.float32 and half.min() >= 0 and half.max() <= 1


def test_jpeg_roundtrip_keeps_the_photo_and_adds_artefacts():
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.random((64, 64, 3), np.float32), (0, 0), 2.0)
    saved = placing.jpeg_roundtrip(np.random.default_rng(1), image)
    assert saved.shape == image.shape and saved.dtype == np.float32
    difference = np.abs(saved - image)
    assert 0 < difference.mean() < 0.05


def test_composite_dataset_realism_options_change_samples_only_when_asked(small_set):
    dataset, foregrounds, backgrounds = small_set
    plain = CompositeDataset([dataset], backgrounds, [foregrounds], p_composite=1.0, p_two=0.0)
    off = CompositeDataset([dataset], backgrounds, [foregrounds], p_composite=1.0, p_two=0.0, p_ground=0.0,
                           p_harmonise=0.0, p_jpeg=0.0)
    real = CompositeDataset([dataset], backgrounds, [foregrounds], p_composite=1.0, p_two=0.0, p_ground=1.0,
                            p_harmonise=1.0, p_jpeg=1.0)
    differs = 0
    for seed in range(4):
        first = plain[(seed, seed)]
        assert all(np.array_equal(a, b) for a, b in zip(first, off[(seed, seed)]))
        image, alpha = real[(seed, seed)]
        assert image.shape == first[0].shape and alpha.shape == first[1].shape
        differs += not np.array_equal(image, first[0])
    assert differs == 4
    with pytest.raises(ValueError, match="p_jpeg"):
        CompositeDataset([dataset], backgrounds, [foregrounds], p_jpeg=2.0)
