"""`mmnet.peers.mediapipe`: fetching the selfie segmenter, its preprocessing, and its quality on EG1800."""
from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from mmnet.data.dataset import find_pairs, select
from mmnet.data.holdout import HOLDOUT_PERCENT
from mmnet.data.io import read_image, read_mask
from mmnet.evaluation.metrics import person_iou
from mmnet.peers import mediapipe as mp
from mmnet.peers import wheels


@pytest.fixture(scope="module")
def selfie() -> mp.MediaPipeSelfie:
    pytest.importorskip("ai_edge_litert")
    try:
        path = mp.fetch_selfie_model()
    except mp.PeerModelError as error:
        pytest.skip(f"cannot fetch the selfie segmentation model: {error}")
    return mp.MediaPipeSelfie(path, threads=2)


def test_importing_the_peer_does_not_import_its_runtime():
    code = "import sys, mmnet.peers.mediapipe; assert 'ai_edge_litert' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_fetch_explains_a_failed_download(tmp_path, monkeypatch):
    failed = subprocess.CompletedProcess([], 1, "", "ERROR: No matching distribution found for mediapipe")
    monkeypatch.setattr(wheels.subprocess, "run", lambda *args, **kwargs: failed)
    with pytest.raises(mp.PeerModelError, match=r"(?s)pip download mediapipe==0\.10\.21.*index.*No matching"):
        mp.fetch_selfie_model(tmp_path)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("members, message", [({"other.txt": b""}, "no mediapipe/modules"),
                                              ({mp.SELFIE_MEMBER: b"not the model"}, "sha256")])
def test_fetch_checks_the_wheel(tmp_path, monkeypatch, members, message):
    wheel = tmp_path / "mediapipe-0.10.21-fake.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    monkeypatch.setattr(wheels, "download_wheel", lambda requirement, folder, pip_args=(): wheel)
    with pytest.raises(mp.PeerModelError, match=message):
        mp.fetch_selfie_model(tmp_path / "cache")
    assert not (tmp_path / "cache" / mp.SELFIE_FILENAME).exists()


@pytest.mark.network
def test_fetched_model_has_the_recorded_sha256(selfie):
    assert hashlib.sha256(mp.fetch_selfie_model().read_bytes()).hexdigest() == mp.SELFIE_SHA256


@pytest.mark.network
def test_prepare_squashes_the_whole_frame_to_0_1(selfie):
    image = np.random.default_rng(0).integers(0, 256, (256, 512, 3), dtype=np.uint8)
    tensor = selfie.prepare(image)
    assert tensor.shape == (1, 256, 256, 3) and tensor.dtype == np.float32
    np.testing.assert_allclose(tensor[0], image[:, ::2] / 255, atol=1e-6)  # no letterbox bars


@pytest.mark.network
def test_outputs_are_probabilities_at_256_and_at_full_size(selfie):
    image = np.random.default_rng(1).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    small, full = selfie.predict(image), selfie.predict_full(image)
    assert small.shape == (256, 256) and small.dtype == np.float32
    assert full.shape == (200, 300) and full.dtype == np.float32
    assert 0 <= small.min() and small.max() <= 1 and 0 <= full.min() and full.max() <= 1
    np.testing.assert_array_equal(selfie.run_prepared(selfie.prepare(image)), small)
    with pytest.raises(ValueError, match="uint8 H×W×3"):
        selfie.predict(image[..., 0])


@pytest.mark.network
def test_person_iou_on_real_portraits(selfie, eg1800):
    pairs = select(find_pairs(eg1800, "train"), HOLDOUT_PERCENT, holdout=True)[:3]
    for pair in pairs:
        iou = person_iou(selfie.predict_full(read_image(pair.image)), read_mask(pair.mask))
        assert iou > 0.85, f"{pair.image}: person IoU {iou:.3f}"


@pytest.mark.network
def test_landscape_model_takes_wide_frames(selfie, eg1800):
    """The landscape model of the same release: a 144×256 input, the frame squashed to it, and it finds the
    person in a wide photo (an EG1800 portrait placed in the middle of a grey frame twice as wide)."""
    try:
        wide = mp.MediaPipeSelfie(mp.fetch_selfie_model(landscape=True), threads=2)
    except mp.PeerModelError as error:
        pytest.skip(f"cannot fetch the landscape model: {error}")
    assert (wide.height, wide.width, wide.size) == (144, 256, 256)
    assert (selfie.height, selfie.width) == (256, 256)
    photo = np.zeros((300, 600, 3), np.uint8)
    assert wide.prepare(photo).shape == (1, 144, 256, 3)
    pairs = select(find_pairs(eg1800, "train"), HOLDOUT_PERCENT, holdout=True)
    portrait, truth = read_image(pairs[0].image), read_mask(pairs[0].mask)
    frame = np.full((800, 1800, 3), 128, np.uint8)
    frame[:, 600:1200] = portrait
    alpha = wide.predict_full(frame)
    assert alpha.shape == (800, 1800)
    assert person_iou(alpha[:, 600:1200], truth) > 0.8 and alpha[:, :500].mean() < 0.1
