"""A phone video held upright is stored sideways with a rotation tag (its display matrix): it is matted upright
and written upright, without the tag (issue 24, item 7)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers import matte
from mmnet.data.synthetic import synthetic_pair

av = pytest.importorskip("av")

FRAMES, HEIGHT, WIDTH = 6, 96, 64  # upright: a portrait clip


def clip(path: Path, turns: int) -> Path:
    """A portrait clip stored turned by `turns` counter-clockwise quarter turns, tagged to be shown upright."""
    photo, _ = synthetic_pair(np.random.default_rng(5), HEIGHT, WIDTH)
    stored = np.rot90(photo, turns)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"crf": "12"})
        stream.height, stream.width = stored.shape[:2]
        stream.pix_fmt = "yuv420p"
        if turns:
            stream.set_display_rotation(-90 * turns)  # to be turned back clockwise for display
        for _ in range(FRAMES):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(stored), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def alphas(folder: Path) -> list[np.ndarray]:
    return [cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., 3] for path in sorted(folder.glob("*.png"))]


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_a_tagged_clip_is_matted_upright(model_path, tmp_path, turns):
    upright, tagged = clip(tmp_path / "upright.mp4", 0), clip(tmp_path / "tagged.mp4", turns)
    for source in (upright, tagged):
        assert matte(model_path, str(source), "-o", str(tmp_path / source.stem), "--format", "rgba") == 0
    expected, got = alphas(tmp_path / "upright"), alphas(tmp_path / "tagged")
    assert len(got) == FRAMES and all(alpha.shape == (HEIGHT, WIDTH) for alpha in got)
    assert all(np.abs(a.astype(int) - b).mean() < 3 for a, b in zip(got, expected))


def test_the_output_video_is_upright_and_untagged(model_path, tmp_path):
    out = tmp_path / "out.mp4"
    assert matte(model_path, str(clip(tmp_path / "tagged.mp4", 1)), "-o", str(out), "--format", "composite") == 0
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0))
    assert (frame.height, frame.width) == (HEIGHT, WIDTH) and not frame.rotation
