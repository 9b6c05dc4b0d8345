"""`mmnet matte` never loses a user's data: no output replaces an input, whatever the flags; an existing
output is skipped only when it was made from the same input with the same options; a single output is
written in the format its suffix names; --watch waits for files still being copied."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import FRAMES, SIZE, make_clip, matte, png_copy, read, run, wait_for


# ------------------------------------------------------------------------------ 1: inputs are never written
def test_a_photo_is_never_replaced_by_its_own_matte(model_path, photos, tmp_path, capsys):
    photo = png_copy(photos / "synth_00000.jpg", tmp_path / "p.png")
    before = photo.read_bytes()
    for flags in ([], ["--overwrite"]):
        assert matte(model_path, str(photo), "-o", str(photo), *flags) == 1
        err = capsys.readouterr().err
        assert f"its output {photo} is the input {photo}" in err and "skipped 1" not in err
        assert photo.read_bytes() == before


def test_a_folder_matted_into_itself_keeps_its_photos(model_path, photos, tmp_path, capsys):
    folder = tmp_path / "album"
    shutil.copytree(photos, folder)
    png_copy(photos / "synth_00001.jpg", folder / "own.png")  # own.png -> own.png
    png_copy(photos / "synth_00002.jpg", folder / "synth_00000.png")  # synth_00000.jpg -> this photo
    linked = folder / "sub" / "link.png"
    linked.symlink_to(folder / "own.png")  # another name for the same file
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert matte(model_path, str(folder), "-o", str(folder), "--overwrite") == 1
    err = capsys.readouterr().err
    assert "own.png is the input" in err and "synth_00000.png is the input" in err
    assert all(p.read_bytes() == data for p, data in before.items())
    assert (folder / "synth_00001.png").is_file()  # the photos with a free output are done


def test_a_video_is_never_its_own_output(tmp_path, capsys):
    av = pytest.importorskip("av")
    clip = make_clip(tmp_path / "clip.mp4", audio=False)
    before = clip.read_bytes()
    from mmnet.runtime.video import plan_videos
    jobs, problems = plan_videos([str(clip)], str(clip), "composite", False)
    assert not jobs and "is the input" in problems[0]
    jobs, problems = plan_videos([str(clip)], str(tmp_path), "composite", False)  # tmp/clip.mp4 again
    assert not jobs and "is the input" in problems[0]
    assert clip.read_bytes() == before and av


def test_watch_into_the_watched_folder_is_refused(model_path, tmp_path):
    result = run(model_path, str(tmp_path), "-o", str(tmp_path), "--watch")
    assert result.returncode == 1 and b"--watch writes outside the watched folder" in result.stderr


# ------------------------------------------------------------------- 3: stale outputs are redone, suffixes kept
def test_an_output_is_skipped_only_when_made_the_same_way(model_path, photos, tmp_path, capsys):
    photo = tmp_path / "in" / "p.jpg"
    photo.parent.mkdir()
    shutil.copy(photos / "synth_00000.jpg", photo)
    target = tmp_path / "p.png"
    assert matte(model_path, str(photo), "-o", str(target)) == 0
    assert matte(model_path, str(photo), "-o", str(target)) == 0
    assert "done 0, skipped 1" in capsys.readouterr().err
    assert matte(model_path, str(photo), "-o", str(target), "--format", "rgba") == 0  # another --format
    assert "done 1, skipped 0" in capsys.readouterr().err and read(target).shape == (160, 120, 4)
    assert matte(model_path, str(photo), "-o", str(target), "--format", "rgba", "--no-refine") == 0
    assert "done 1, skipped 0" in capsys.readouterr().err
    shutil.copy(photos / "synth_00001.jpg", photo)  # the input changed
    assert matte(model_path, str(photo), "-o", str(target), "--format", "rgba", "--no-refine") == 0
    assert "done 1, skipped 0" in capsys.readouterr().err
    other = tmp_path / "other.onnx"  # another model (the same weights under another name)
    shutil.copy(model_path, other)
    from mmnet.cli import main
    assert main(["matte", str(photo), "-o", str(target), "--format", "rgba", "--no-refine", "--model", str(other),
                 "--size", str(SIZE)]) == 0
    assert "done 1, skipped 0" in capsys.readouterr().err


@pytest.mark.parametrize("suffix, channels", [(".jpg", 3), (".jpeg", 3), (".webp", 4)])
def test_a_single_output_is_written_in_the_format_its_suffix_names(model_path, photos, tmp_path, suffix, channels):
    target = tmp_path / f"x{suffix}"
    format = "composite" if channels == 3 else "rgba"
    assert matte(model_path, str(photos / "synth_00000.jpg"), "-o", str(target), "--format", format) == 0
    assert target.is_file(), f"{target} is not a file"
    data = target.read_bytes()
    assert data.startswith(b"\xff\xd8") if channels == 3 else data[8:12] == b"WEBP"
    assert read(target).shape == (160, 120, channels)


def test_a_cutout_is_never_written_as_jpeg(model_path, photos, tmp_path, capsys):
    assert matte(model_path, str(photos / "synth_00000.jpg"), "-o", str(tmp_path / "x.jpg"), "--format",
                 "rgba") == 1
    assert "JPEG has no alpha channel" in capsys.readouterr().err and not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------ 4: --watch and unready files
def watch_runner(model_path: Path, inbox: Path, out: Path):
    """A Runner and a Watcher as `mmnet matte INBOX -o OUT --watch` sets them up, to be stepped poll by poll."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    from mmnet.runtime.matte import Runner, Tally
    from mmnet.runtime.model import load
    from mmnet.runtime.render import Render
    from mmnet.runtime.sources import Watcher
    watcher = Watcher(inbox, out)
    runner = Runner(load(str(model_path), size=SIZE), Render(), ThreadPoolExecutor(2), Tally(), tqdm(disable=True),
                    overwrite=False)
    runner.unready = watcher.unready
    return runner, watcher


def test_watch_retries_a_photo_that_was_not_ready(model_path, photos, tmp_path):
    """A JPEG copied in two parts with a pause longer than the polls: the first half fails to decode; it is
    not counted as failed, and the whole photo is matted once it holds still."""
    from mmnet.runtime.matte import watch_step
    from mmnet.runtime.sources import SETTLE_POLLS
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    data = (photos / "synth_00000.jpg").read_bytes()
    photo = inbox / "copying.jpg"
    photo.write_bytes(data[:len(data) // 2])
    runner, watcher = watch_runner(model_path, inbox, out)
    for _ in range(2 + SETTLE_POLLS):  # seen, handed out and failed, then unchanged: the failure is final
        watch_step(runner, watcher)
    assert len(runner.tally.failures) == 1 and "copying.jpg" in runner.tally.failures[0]
    assert not (out / "copying.png").exists()
    with photo.open("ab") as file:  # the copy goes on: it was not ready after all
        file.write(data[len(data) // 2:])
    watch_step(runner, watcher)  # changed: the failure is taken back, the photo waits to hold still
    assert runner.tally.failures == [] and not (out / "copying.png").exists()
    watch_step(runner, watcher)  # the same size and time twice: matted
    assert (runner.tally.done, runner.tally.failures) == (1, [])
    assert read(out / "copying.png").shape == (160, 120)
    assert watcher.pending() == []


def watch_a_bad_photo(model_path, tmp_path):
    """A watched inbox holding one file that is no photo, after two polls."""
    from mmnet.runtime.matte import watch_step
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "notes.jpg").write_bytes(b"this is no photo")
    runner, watcher = watch_runner(model_path, inbox, tmp_path / "out")
    watch_step(runner, watcher)
    watch_step(runner, watcher)
    return runner, watcher


def test_watch_counts_a_stable_bad_photo_once(model_path, tmp_path):
    from mmnet.runtime.matte import watch_step
    from mmnet.runtime.sources import SETTLE_POLLS
    runner, watcher = watch_a_bad_photo(model_path, tmp_path)  # handed out: fails, may still be being written
    assert runner.tally.failures == []
    for _ in range(SETTLE_POLLS):
        watch_step(runner, watcher)
    assert len(runner.tally.failures) == 1 and "notes.jpg: not a readable image" in runner.tally.failures[0]
    for _ in range(3):
        watch_step(runner, watcher)
    assert len(runner.tally.failures) == 1 and watcher.pending() == []


def test_watch_ending_before_a_failure_settles_counts_it(model_path, tmp_path):
    runner, watcher = watch_a_bad_photo(model_path, tmp_path)
    assert runner.tally.failures == [] and len(watcher.pending()) == 1  # unchanged at the end: a failure


def test_watch_with_a_paused_copy_exits_zero(model_path, photos, tmp_path):
    """The issue's run: a photo copied in with a pause, then completed; --watch mattes it and exits 0."""
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    data = (photos / "synth_00001.jpg").read_bytes()
    process = subprocess.Popen([sys.executable, "-m", "mmnet.cli", "matte", str(inbox), "-o", str(out), "--watch",
                                "--model", str(model_path), "--size", str(SIZE)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        photo = inbox / "slow.jpg"
        photo.write_bytes(data[:len(data) // 3])
        assert not wait_for(out / "slow.png", process, seconds=3)  # several polls over the first third
        with photo.open("ab") as file:
            file.write(data[len(data) // 3:])
        assert wait_for(out / "slow.png", process)
    finally:
        process.terminate()
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err.decode()
    assert "done 1, skipped 0, failed 0" in err.decode()


# ------------------------------------------------------------------------------ 3: videos: damage and records
def damaged_copy(clip: Path, target: Path, packets: range, keep: float) -> Path:
    """`clip` with the payload of some video packets garbled after their first 4 bytes (keep 0: the decoder
    refuses them) or the first `keep` of their bytes (the decoder conceals the damage)."""
    import av
    with av.open(str(clip)) as container:
        places = [(p.pos, p.size) for p in container.demux(container.streams.video[0]) if p.size]
    data = bytearray(clip.read_bytes())
    rng = np.random.default_rng(0)
    for index in packets:
        pos, size = places[index]
        keep_bytes = max(4, int(keep * size))
        data[pos + keep_bytes:pos + size] = rng.integers(0, 256, size - keep_bytes, dtype=np.uint8).tobytes()
    target.write_bytes(bytes(data))
    return target


@pytest.mark.parametrize("keep, affected", [(0, "could not be decoded"), (0.5, "decoded with errors")])
def test_a_damaged_video_is_done_with_a_warning_that_counts_the_frames(model_path, tmp_path, capsys, keep,
                                                                       affected):
    pytest.importorskip("av")
    clip = make_clip(tmp_path / "clip.mp4", audio=False)
    damaged = damaged_copy(clip, tmp_path / "damaged.mp4", range(4, 6), keep)
    before = damaged.read_bytes()
    out = tmp_path / "out.mp4"
    assert matte(model_path, str(damaged), "-o", str(out)) == 0
    err = capsys.readouterr().err
    assert f"warning: {damaged}: damaged video data: " in err and affected in err, err
    count = int(err.split("damaged video data: ")[1].split()[0])
    assert 1 <= count <= FRAMES and f"of {FRAMES} frames" in err
    assert "videos: done 1 (1 with damaged data), skipped 0, failed 0" in err
    assert out.is_file() and damaged.read_bytes() == before
    assert matte(model_path, str(clip), "-o", str(tmp_path / "clean.mp4")) == 0
    assert "warning" not in capsys.readouterr().err


def test_a_video_of_which_no_frame_decodes_fails(model_path, tmp_path, capsys):
    pytest.importorskip("av")
    clip = make_clip(tmp_path / "clip.mp4", audio=False)
    damaged = damaged_copy(clip, tmp_path / "damaged.mp4", range(FRAMES), 0)
    assert matte(model_path, str(damaged), "-o", str(tmp_path / "out.mp4")) == 1
    assert "not one frame could be decoded" in capsys.readouterr().err
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("target, format", [("out.mp4", "alpha"), ("out.webm", "alpha"), ("frames", "rgba")])
def test_a_video_output_is_skipped_only_when_made_the_same_way(model_path, tmp_path, capsys, target, format):
    pytest.importorskip("av")
    clip = make_clip(tmp_path / "clip.mp4", audio=False)
    out = tmp_path / target
    args = [str(clip), "-o", str(out), "--format", format]
    assert matte(model_path, *args) == 0
    assert "videos: done 1, skipped 0" in capsys.readouterr().err
    assert matte(model_path, *args) == 0
    assert "videos: done 0, skipped 1" in capsys.readouterr().err
    assert matte(model_path, *args, "--smooth", "0") == 0  # other options: redone
    assert "videos: done 1, skipped 0" in capsys.readouterr().err
    if format == "alpha":  # another format into the same file: redone
        assert matte(model_path, *args[:3], "--format", "mask", "--smooth", "0") == 0
        assert "videos: done 1, skipped 0" in capsys.readouterr().err
        assert matte(model_path, *args, "--smooth", "0") == 0
        assert "videos: done 1, skipped 0" in capsys.readouterr().err
    stat = clip.stat()  # the input changed (a new modification time)
    os.utime(clip, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert matte(model_path, *args, "--smooth", "0") == 0
    assert "videos: done 1, skipped 0" in capsys.readouterr().err
