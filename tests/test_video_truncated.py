"""A video cut short says so (issue 24, item 9): a WebM (no frame count in its container) whose frames end well
before the duration it states gets a warning, exit 0; a whole one, and a sound MKV with audio, get none."""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers import make_clip, matte

av = pytest.importorskip("av")


@pytest.fixture(scope="module")
def webm(model_path, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("webm")
    clip = make_clip(folder / "clip.mkv")  # with audio
    out = folder / "cut.webm"
    assert matte(model_path, str(clip), "-o", str(out), "--format", "rgba") == 0
    return out


def test_a_truncated_webm_says_so(model_path, webm, tmp_path, capsys):
    truncated = tmp_path / "truncated.webm"
    truncated.write_bytes(webm.read_bytes()[:webm.stat().st_size // 2])
    assert matte(model_path, str(truncated), "-o", str(tmp_path / "out.mp4")) == 0
    err = capsys.readouterr().err
    assert f"warning: {truncated}: truncated: its frames end at" in err and "(1 with damaged data)" in err


@pytest.mark.parametrize("name", ["cut.webm", "clip.mkv"])
def test_a_whole_video_gets_no_warning(model_path, webm, tmp_path, capsys, name):
    assert matte(model_path, str(webm.parent / name), "-o", str(tmp_path / "out.mp4")) == 0
    assert "warning" not in capsys.readouterr().err
