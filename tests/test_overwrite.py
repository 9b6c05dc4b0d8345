"""The overwrite rule (issue 24): a file mmnet did not make is never replaced without --overwrite (named, exit
1), an output is never one of the run's inputs (the photo, stdin's file, --background, the model, the
checkpoint of export and average, the clip of demo), and a read-only file stays as it is."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import SIZE, make_clip, matte, png_copy, random_checkpoint, read
from mmnet.files import ReadOnlyOutput, write_atomic


def test_a_file_mmnet_did_not_make_is_kept_without_overwrite(model_path, photos, tmp_path, capsys):
    precious = tmp_path / "precious.png"
    png_copy(photos / "synth_00001.jpg", precious)
    before = precious.read_bytes()
    assert matte(model_path, str(photos / "synth_00000.jpg"), "-o", str(precious)) == 1
    assert f"{precious}: exists and was not made by mmnet; not replaced (--overwrite replaces it)" in \
        capsys.readouterr().err
    assert precious.read_bytes() == before
    assert matte(model_path, str(photos / "synth_00000.jpg"), "-o", str(precious), "--overwrite") == 0
    assert read(precious).shape == (160, 120)


def test_a_glob_into_its_own_folder_keeps_the_users_pngs(model_path, photos, tmp_path, capsys):
    album = tmp_path / "photos"
    shutil.copytree(photos, album)
    own = png_copy(photos / "synth_00001.jpg", album / "synth_00000.png")  # the user's, where an output goes
    before = own.read_bytes()
    assert matte(model_path, str(album / "*.jpg"), "-o", str(album)) == 1
    err = capsys.readouterr().err
    assert "done 3, skipped 0, failed 1" in err and f"{own}: exists and was not made by mmnet" in err
    assert own.read_bytes() == before and read(album / "synth_00001.png").shape == (160, 120)
    assert matte(model_path, str(album / "*.jpg"), "-o", str(album)) == 1  # its own outputs: up to date
    assert "done 0, skipped 3, failed 1" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_every_output_format_is_recognised_as_ours(model_path, photos, tmp_path, capsys, suffix):
    target = tmp_path / f"x{suffix}"
    for done in (1, 0):  # made, then up to date
        assert matte(model_path, str(photos / "synth_00000.jpg"), "-o", str(target), "--format", "composite") == 0
        assert f"done {done}, skipped {1 - done}, failed 0" in capsys.readouterr().err


def test_stdin_file_and_background_are_never_outputs(model_path, photos, tmp_path, capsys):
    photo = png_copy(photos / "synth_00000.jpg", tmp_path / "photo.png")
    before = photo.read_bytes()
    with open(photo, "rb") as stdin:
        result = subprocess.run([sys.executable, "-m", "mmnet.cli", "matte", "-", "-o", str(photo), "--overwrite",
                                 "--model", str(model_path), "--size", str(SIZE)], stdin=stdin,
                                capture_output=True, timeout=60)
    assert result.returncode == 1 and f"its output {photo} is the input -" in result.stderr.decode()
    background = png_copy(photos / "synth_00001.jpg", tmp_path / "background.png")
    backdrop = background.read_bytes()
    assert matte(model_path, str(photos / "synth_00002.jpg"), "-o", str(background), "--format", "composite",
                 "--background", str(background), "--overwrite") == 1
    assert f"is the input {background}" in capsys.readouterr().err
    assert photo.read_bytes() == before and background.read_bytes() == backdrop


def test_a_read_only_output_stays_read_only(model_path, photos, tmp_path, capsys):
    target = tmp_path / "a.png"
    assert matte(model_path, str(photos / "synth_00000.jpg"), "-o", str(target)) == 0
    target.chmod(0o444)
    before = target.read_bytes()
    assert matte(model_path, str(photos / "synth_00000.jpg"), "-o", str(target), "--format", "rgba",
                 "--overwrite") == 1
    assert f"{target}: read-only; not replaced" in capsys.readouterr().err
    assert target.read_bytes() == before and stat.S_IMODE(target.stat().st_mode) == 0o444
    with pytest.raises(ReadOnlyOutput):
        write_atomic(target, b"x")


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    private = tmp_path / "private.bin"
    private.write_bytes(b"old")
    private.chmod(0o600)
    write_atomic(private, b"new")
    assert private.read_bytes() == b"new" and stat.S_IMODE(private.stat().st_mode) == 0o600
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]


# ---------------------------------------------------------------------------------------------------- videos
def test_a_video_output_mmnet_did_not_make_is_kept(model_path, tmp_path, capsys):
    pytest.importorskip("av")
    clip = make_clip(tmp_path / "clip.mp4", audio=False)
    edits = tmp_path / "edits"
    edits.mkdir()
    theirs = edits / "clip.mp4"
    shutil.copy(clip, theirs)
    frames = png_copy(Path(__file__).resolve().parents[1] / "examples" / "astronaut.jpg", tmp_path / "seq" /
                      "000000.png")
    kept = {path: path.read_bytes() for path in (theirs, frames)}
    assert matte(model_path, str(clip), "-o", str(edits), "--format", "composite") == 1
    assert f"{theirs}: exists and was not made by mmnet" in capsys.readouterr().err
    assert matte(model_path, str(clip), "-o", str(tmp_path / "seq"), "--format", "rgba") == 1
    assert f"{tmp_path / 'seq'}: exists and was not made by mmnet" in capsys.readouterr().err
    assert all(path.read_bytes() == data for path, data in kept.items())
    assert matte(model_path, str(clip), "-o", str(edits), "--format", "composite", "--overwrite") == 0
    assert matte(model_path, str(clip), "-o", str(edits), "--format", "composite") == 0  # now ours, up to date
    assert "videos: done 0, skipped 1" in capsys.readouterr().err


def test_demo_never_writes_its_clip(tmp_path, capsys):
    pytest.importorskip("av")
    from mmnet.cli import main
    clip = make_clip(tmp_path / "clip.mp4", audio=False)
    before = clip.read_bytes()
    assert main(["demo", str(clip), "-o", str(clip)]) == 1
    assert f"its output {clip} is the input {clip}" in capsys.readouterr().err and clip.read_bytes() == before


# ----------------------------------------------------------------------------------------- export, average
def test_export_and_average_never_write_a_checkpoint_they_read(tmp_path):
    torch = pytest.importorskip("torch")
    from mmnet.cli import main
    a, b = random_checkpoint(tmp_path / "a.pt", 1, 100), random_checkpoint(tmp_path / "b.pt", 2, 200)
    before = a.read_bytes()
    for args in (["export", str(a), "-o", str(a)], ["average", str(a), str(b), "-o", str(a)]):
        with pytest.raises(SystemExit, match=f"its output {a} is the input {a}"):
            main(args)
    assert a.read_bytes() == before and torch


def test_export_average_and_demo_keep_an_existing_output_without_overwrite(tmp_path, capsys):
    pytest.importorskip("torch")
    from mmnet.cli import main
    a, b = random_checkpoint(tmp_path / "a.pt", 1, 100), random_checkpoint(tmp_path / "b.pt", 2, 200)
    mine = tmp_path / "mine.bin"
    mine.write_bytes(b"the user's")
    for args in (["export", str(a), "-o", str(mine)], ["average", str(a), str(b), "-o", str(mine)]):
        with pytest.raises(SystemExit, match=f"{mine}: exists; not replaced \\(--overwrite replaces it\\)"):
            main(args)
    assert main(["demo", str(tmp_path / "clip.mp4"), "-o", str(mine)]) == 1
    assert f"{mine}: exists; not replaced" in capsys.readouterr().err and mine.read_bytes() == b"the user's"
    assert main(["average", str(a), str(b), "-o", str(mine), "--overwrite"]) == 0
    assert mine.read_bytes() != b"the user's"
