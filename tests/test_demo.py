"""`mmnet demo`: a clip in, the side-by-side video (input | matte | composite) out, through the command line."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmnet.cli import main
from mmnet.data.io import read_image
from mmnet.runtime.demo import panel_size

av = pytest.importorskip("av", reason="mmnet demo needs PyAV (pip install 'mmnet[video]')")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "astronaut.jpg"
FRAMES, WIDTH, HEIGHT = 12, 160, 120


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """An H.264 clip of the example portrait, panning, FRAMES frames of WIDTH×HEIGHT at 25 frames/s."""
    import cv2

    photo = cv2.resize(read_image(EXAMPLE), (HEIGHT + 40, HEIGHT + 40))
    path = tmp_path_factory.mktemp("demo") / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"crf": "18"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for index in range(FRAMES):
            frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
            frame[:, :] = (40, 90, 160)  # a blue backdrop, the photo panning across it
            left = index * 2
            frame[:, left:left + HEIGHT] = photo[20:20 + HEIGHT, 20:20 + HEIGHT]
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def test_demo_writes_three_panels(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "demo.mp4"
    assert main(["demo", str(clip), "-o", str(out), "--background", "#00ff00", "--threads", "1"]) == 0
    frames = _frames(out)
    assert len(frames) == FRAMES
    assert frames[0].shape == (HEIGHT, 3 * WIDTH, 3)
    source = _frames(clip)
    for index in (0, FRAMES - 1):
        shown, original = frames[index].astype(int), source[index].astype(int)
        body = slice(HEIGHT // 4, HEIGHT - HEIGHT // 4)  # below the labels, above the caption
        panel = lambda k: shown[body, k * WIDTH:(k + 1) * WIDTH]  # noqa: E731
        # input: the clip itself (up to the codec); matte: grey, with person and background apart;
        # composite: the backdrop turned green where the matte is background.
        assert np.abs(panel(0) - original[body]).mean() < 6
        matte = panel(1)
        assert np.abs(matte - matte.mean(axis=2, keepdims=True)).mean() < 4
        # (not > 200, and the default model: the shipped models are unsure of this photo, mmnet-1.0-128 most;
        # test_shipped.py holds that known failure. Here the matte only has to show a person apart from the
        # backdrop.)
        assert matte.max() > 150 and matte.min() < 50
        background = matte[..., 0] < 30
        composite = panel(2)[background]
        assert composite[:, 1].mean() > 180 and composite[:, 2].mean() < 80


def test_demo_keeps_panels_even_and_small() -> None:
    assert panel_size(1920, 1080, None) == (1280, 720)
    assert panel_size(641, 481, None) == (640, 480)
    assert panel_size(160, 120, 62) == (82, 62)


def test_demo_names_a_missing_clip(tmp_path: Path, capsys) -> None:
    assert main(["demo", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "demo.mp4")]) == 1
    assert "nope.mp4: file does not exist" in capsys.readouterr().err
    assert not (tmp_path / "demo.mp4").exists()


def test_demo_rejects_a_bad_background(clip: Path, tmp_path: Path, capsys) -> None:
    assert main(["demo", str(clip), "-o", str(tmp_path / "demo.mp4"), "--background", "nocolour"]) == 1
    assert "--background nocolour" in capsys.readouterr().err
