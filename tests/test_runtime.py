"""The runtime world with a real ONNX model: no torch, predictions at the photo's size for every kind of
input, batches, cut-outs, composites, guided upsampling, foreground colours and model resolution."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from helpers import SIZE
from mmnet import manifest
from mmnet.data.preprocess import prepare_eval, resize_align_corners
from mmnet.data.synthetic import synthetic_pair
from mmnet.errors import WeightsError
from mmnet.manifest import Manifest, ManifestEntry, ShippedFile, read_manifest, write_manifest
from mmnet.runtime import compose, foreground, refine, weights
from mmnet.runtime.model import Matting, load


@pytest.fixture(scope="session")
def matting(model_path) -> Matting:
    return load(model_path, size=SIZE, threads=1)


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    return synthetic_pair(np.random.default_rng(7), 150, 110)[0]


def test_runtime_never_imports_torch(model_path):
    code = f"""
import sys
import mmnet
assert "onnxruntime" not in sys.modules and "torch" not in sys.modules, "import mmnet is not light"
import numpy as np
import mmnet.runtime.matte
matting = mmnet.load({str(model_path)!r}, size={SIZE})
alpha = matting.predict(np.zeros((40, 30, 3), np.uint8))
assert alpha.shape == (40, 30)
assert "torch" not in sys.modules, "the runtime imported torch"
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_predict_every_kind_of_input(matting, photo, tmp_path):
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    expected = matting.predict(photo)
    assert expected.shape == photo.shape[:2] and expected.dtype == np.float32
    assert 0 <= expected.min() and expected.max() <= 1 and expected.std() > 0.01
    for same in (path, str(path), path.read_bytes(), np.dstack([photo, np.full(photo.shape[:2], 9, np.uint8)]),
                 photo.astype(np.float32) / 255, photo.astype(np.uint16) * 257):
        np.testing.assert_allclose(matting.predict(same), expected, atol=1e-6)
    grey = photo[..., 1]
    np.testing.assert_allclose(matting.predict(grey), matting.predict(np.dstack([grey] * 3)), atol=1e-6)
    assert matting.predict(grey[..., None]).shape == grey.shape


def test_predict_pil_image(matting, photo):
    image = pytest.importorskip("PIL.Image")
    np.testing.assert_allclose(matting.predict(image.fromarray(photo)), matting.predict(photo), atol=1e-6)
    np.testing.assert_allclose(matting.predict(image.fromarray(photo).convert("RGBA")), matting.predict(photo),
                               atol=1e-6)


def test_predict_batch_equals_predict(matting, photo):
    other = synthetic_pair(np.random.default_rng(8), 90, 120)[0]
    batch = matting.predict_batch([photo, other, photo[::2, ::2]])
    assert [a.shape for a in batch] == [photo.shape[:2], other.shape[:2], photo[::2, ::2].shape[:2]]
    for alpha, image in zip(batch, [photo, other, photo[::2, ::2]]):
        np.testing.assert_allclose(alpha, matting.predict(image), atol=1e-5)
    assert matting.predict_batch([]) == []


def test_the_network_takes_the_training_preprocessing(matting, photo):
    """Every backend is fed uint8 pixels; ONNX Runtime's are the float input of training, exactly."""
    pixels = matting.network_input(photo)
    assert pixels.dtype == np.uint8 and pixels.shape == (SIZE, SIZE, 3)
    reference = matting.backend.run(prepare_eval(photo, SIZE)[None])[:, 0]
    np.testing.assert_array_equal(matting.infer(pixels[None]), reference)
    with pytest.raises(ValueError, match="uint8"):
        matting.network_input(photo.astype(np.float32))


def test_bad_inputs_are_named(matting, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    with pytest.raises(ValueError, match="notes.jpg"):
        matting.predict(bad)
    with pytest.raises(ValueError, match="shape"):
        matting.predict(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(TypeError, match="list"):
        matting.predict([[1, 2]])


def test_cutout_alpha_is_the_8bit_alpha(matting, photo):
    rgba = matting.cutout(photo)
    assert rgba.shape == (*photo.shape[:2], 4) and rgba.dtype == np.uint8
    np.testing.assert_array_equal(rgba[..., 3], compose.to_uint8(matting.predict(photo)))


def test_composite_over_a_colour_is_the_blend(matting, photo):
    alpha = matting.predict(photo)
    out = matting.composite(photo, (0, 255, 0))
    colours = foreground.estimate(photo, alpha)
    a = alpha[..., None]
    expected = a * colours + (1 - a) * np.array([0, 1, 0], np.float32)
    assert out.shape == photo.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - np.round(expected * 255).astype(int)).max() <= 1
    np.testing.assert_array_equal(matting.composite(photo, "#00ff00"), out)
    assert matting.composite(photo, "blur").shape == photo.shape


def test_composite_backgrounds(photo, tmp_path):
    height, width = photo.shape[:2]
    clear, opaque = np.zeros((height, width), np.float32), np.ones((height, width), np.float32)
    wide = np.zeros((20, 80, 3), np.uint8)
    wide[:, 30:50] = 200  # the centre band: the part that covers a tall photo
    path = tmp_path / "wide.png"
    cv2.imwrite(str(path), wide)
    for background in (wide, path):
        out = compose.composite(photo, clear, background)
        assert out.shape == photo.shape and out.min() >= 190  # only the centre of the wide image shows
    np.testing.assert_array_equal(compose.composite(photo, opaque, (255, 0, 0)), photo)
    assert compose.parse_colour("0, 128,255") == (0, 128, 255) and compose.parse_colour("#fff") == (255, 255, 255)
    assert compose.parse_colour("nonsense") is None
    # "blur" leaves the person's colours out of the background behind it.
    person = np.zeros((height, width), np.float32)
    person[:, : width // 2] = 1
    image = np.full_like(photo, 20)
    image[:, : width // 2] = 250
    behind = compose.background_image("blur", image, person)
    assert np.abs(behind[:, width // 2 + 2:] * 255 - 20).max() < 2


def test_guided_upsampling_follows_the_photo():
    """A hard-edged disc: from its 48×48 matte, guided upsampling puts the edge back where the photo has it."""
    matte = np.zeros((320, 240), np.uint8)
    cv2.circle(matte, (110, 170), 80, 255, -1, cv2.LINE_AA)
    truth = matte.astype(np.float32) / 255
    image = (truth[..., None] * [200, 120, 90] + (1 - truth[..., None]) * [30, 60, 160]).round().astype(np.uint8)
    small_matte = resize_align_corners(truth, 48)
    small_photo = resize_align_corners(image, 48)
    plain = refine.upsample(small_matte, 320, 240)
    guided = refine.guided_upsample(small_matte, small_photo, image, radius=1, eps=1e-5)
    assert guided.shape == plain.shape == truth.shape and guided.dtype == np.float32
    assert np.abs(guided - truth).mean() < 0.5 * np.abs(plain - truth).mean()
    flat = refine.guided_upsample(np.full((48, 48), 0.25, np.float32), small_photo, image)
    np.testing.assert_allclose(flat, 0.25, atol=1e-4)


def test_refine_switch(matting, photo):
    plain, guided = matting.predict(photo, refine=False), matting.predict(photo, refine=True)
    assert plain.shape == guided.shape and not np.array_equal(plain, guided)


def test_no_refine_without_upsampling(matting, photo):
    """A photo no larger than the network's input has no finer edges to follow: the matte is resized only."""
    small = cv2.resize(photo, (SIZE - 8, SIZE), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(matting.predict(small, refine=True), matting.predict(small, refine=False))


def test_foreground_colours_remove_the_old_background():
    rng = np.random.default_rng(5)
    height, width = 120, 90
    alpha = cv2.GaussianBlur((np.indices((height, width))[1] < 45).astype(np.float32), (0, 0), 3)
    true_fg = np.broadcast_to(np.array([0.9, 0.2, 0.1], np.float32), (height, width, 3))
    old_bg = np.broadcast_to(np.array([0.1, 0.3, 0.9], np.float32), (height, width, 3))
    photo = alpha[..., None] * true_fg + (1 - alpha[..., None]) * old_bg
    photo = np.clip(photo * 255 + rng.normal(0, 1, photo.shape), 0, 255).round().astype(np.uint8)
    band = (alpha > 0.05) & (alpha < 0.95)
    estimated = foreground.estimate(photo, alpha)
    visible = alpha[..., None]  # a colour error shows in any composite in proportion to alpha
    error = (visible * np.abs(estimated - true_fg))[band].mean()
    naive = (visible * np.abs(photo / 255 - true_fg))[band].mean()
    assert error < 0.4 * naive  # Blur-Fusion is approximate: 0.28 here
    np.testing.assert_allclose(foreground.estimate(photo, np.ones_like(alpha)), photo / 255, atol=1e-6)


def test_model_resolution_errors(model_path, tmp_path, monkeypatch):
    empty = tmp_path / "no-weights"
    empty.mkdir()
    (empty / "manifest.json").write_text(json.dumps({"default": "mmnet-1.0-256", "models": {}}))
    with monkeypatch.context() as patch:
        patch.setattr(manifest, "weights_dir", lambda: empty)
        with pytest.raises(WeightsError, match="no shipped weights yet"):
            load()
    with pytest.raises(WeightsError, match="missing.onnx: model file does not exist"):
        load(tmp_path / "missing.onnx")
    with pytest.raises(WeightsError, match="dynamic"):
        load(model_path)
    with pytest.raises(WeightsError, match="multiple of 16"):
        load(model_path, size=50)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(WeightsError, match="junk.onnx"):
        load(junk)
    with pytest.raises(WeightsError, match="nope"):
        load("nope")


def test_shipped_model_checksum(model_path, tmp_path, monkeypatch):
    shipped = tmp_path / "weights"
    shipped.mkdir()
    (shipped / "tiny.onnx").write_bytes(model_path.read_bytes())
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
    tiny = ManifestEntry("mmnet", {"width_multiplier": 0.5}, SIZE, 20, ShippedFile("tiny.onnx", digest),
                         ShippedFile("tiny.pt", "0" * 64))
    write_manifest(Manifest(shipped).with_model("tiny", tiny))
    monkeypatch.setattr(manifest, "weights_dir", lambda: shipped)
    assert weights.resolve() == (shipped / "tiny.onnx", SIZE)
    assert load().predict(np.zeros((20, 20, 3), np.uint8)).shape == (20, 20)
    (shipped / "tiny.onnx").write_bytes(model_path.read_bytes() + b"\0")
    with pytest.raises(WeightsError, match=r"tiny.onnx: checksum mismatch"):
        load("tiny")


def test_the_shipped_manifest_reads_and_writes_back_as_it_was(tmp_path):
    shipped = read_manifest()
    assert shipped.default == "mmnet-1.0-256" and shipped.models[shipped.default].architecture == "mmnet"
    assert shipped.models["mmnet-1.0-256"].tflite_file().file == "mmnet-1.0-256.int8.tflite"
    copy = write_manifest(Manifest(tmp_path, shipped.models, shipped.default))
    on_disk = (manifest.weights_dir() / manifest.MANIFEST).read_text()
    assert json.loads(copy.read_text()) == json.loads(on_disk)  # the format older mmnet reads, key for key
    assert read_manifest(tmp_path) == Manifest(tmp_path, shipped.models, shipped.default)


def test_checkpoint_found_in_the_export_cache(model_path, tmp_path, monkeypatch):
    """A .pt exported before runs from the cache, without torch (the export itself is tested by hand: ~30 s)."""
    checkpoint = tmp_path / "run" / "checkpoint-00000100.pt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"stands in for a checkpoint")
    monkeypatch.setenv("MMNET_CACHE", str(tmp_path / "cache"))
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:16]
    cached = tmp_path / "cache" / f"checkpoint-00000100-{digest}-{SIZE}.onnx"
    cached.parent.mkdir()
    cached.write_bytes(model_path.read_bytes())
    assert weights.resolve(checkpoint) == (cached, SIZE) == weights.resolve(checkpoint, SIZE)
    assert load(checkpoint).predict(np.zeros((20, 20, 3), np.uint8)).shape == (20, 20)


_FAULTS = """
import resource, sys
import numpy as np
from mmnet.runtime import memory
kept = memory.keep_freed_memory() if sys.argv[1] == "keep" else False
def matte():  # what a 600×800 predict frees: a few float32 mattes
    parts = [np.ones((800, 600), np.float32) for _ in range(3)]
    return parts[0] + parts[1]
matte()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    matte()
print(kept, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 20)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_memory_is_kept_instead_of_faulted_back():
    """Without `keep_freed_memory`, every photo's freed buffers go back to the OS and fault back in (hundreds
    of page faults per photo); with it, none. Where glibc's own variables are set, theirs win."""
    def faults(mode: str, **env: str) -> tuple[str, int]:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}, **env}
        out = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True,
                             env=env).stdout.split()
        return out[0], int(out[1])

    kept, with_it = faults("keep")
    if kept != "True":
        pytest.skip("not glibc")
    assert with_it < 20
    assert faults("system")[1] > 300
    kept, theirs = faults("keep", MALLOC_TRIM_THRESHOLD_="1000000")
    assert kept == "False" and theirs > 300


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_load_leaves_the_processs_malloc_alone():
    """`mmnet.load()` in a program of yours changes nothing process-wide: freed buffers still fault back in."""
    code = _FAULTS.replace('kept = memory.keep_freed_memory() if sys.argv[1] == "keep" else False',
                           'import mmnet; mmnet.load("mmnet-1.0-128"); kept = False')
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", code, "load"], capture_output=True, text=True, check=True,
                         env=env).stdout.split()
    assert int(out[1]) > 300


def test_the_command_line_keeps_freed_memory_where_it_mattes(tmp_path, monkeypatch):
    from mmnet.cli import main
    from mmnet.runtime import memory
    calls = []
    monkeypatch.setattr(memory, "keep_freed_memory", lambda: calls.append(True) or True)
    cv2.imwrite(str(tmp_path / "photo.jpg"), np.full((40, 30, 3), 128, np.uint8))
    assert main(["matte", str(tmp_path / "photo.jpg"), "-o", str(tmp_path / "alpha.png")]) == 0
    assert calls == [True]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_refine_sizes_its_pool_at_first_use_from_the_processs_cores():
    """No pool at import, and its size is read when the first refine needs it: a process limited to one core
    after importing mmnet refines on one thread."""
    code = ("import os, threading\nimport mmnet.runtime.refine as refine\n"
            "made = refine._pool.cache_info().currsize\n"
            "os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
            "print(made, threading.active_count(), refine._threads())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["0", "1", "1"]
