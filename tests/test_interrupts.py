"""What a run says and leaves when it is cut short (issue 24, item 9): Ctrl-C prints the summary so far, a
killed run's hidden temporary file is cleaned by the next, a full disk while training says so; and a linked
sub-folder is followed, a link that loops is walked once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from helpers import SIZE
from mmnet.data.io import find_photos
from mmnet.files import temporary_name, write_atomic


def test_ctrl_c_prints_the_summary_so_far(model_path, photos, tmp_path):
    album, out = tmp_path / "album", tmp_path / "out"
    album.mkdir()
    data = (photos / "synth_00000.jpg").read_bytes()
    for index in range(400):
        (album / f"{index:03d}.jpg").write_bytes(data)
    run = subprocess.Popen([sys.executable, "-m", "mmnet.cli", "matte", str(album), "-o", str(out), "--model",
                            str(model_path), "--size", str(SIZE)], stderr=subprocess.PIPE)
    while not (out.is_dir() and any(out.iterdir())) and run.poll() is None:  # until the first output is written
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    err = run.communicate(timeout=120)[1].decode()
    if run.returncode == 0:
        pytest.skip("the run ended before Ctrl-C reached it")
    done = len(list(out.glob("*.png")))
    assert run.returncode == 130 and f"interrupted: done {done}, skipped 0, failed 0" in err


def test_a_killed_runs_temporary_is_cleaned_by_the_next(tmp_path):
    target = tmp_path / "a.png"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = target.with_name(f".a.png.{gone.stdout.strip()}-deadbeef.tmp")  # its process has ended
    stale.write_bytes(b"half a file")
    live = temporary_name(target)  # this process's: still being written, perhaps
    live.write_bytes(b"being written")
    write_atomic(target, b"data")
    assert not stale.exists() and live.exists() and target.read_bytes() == b"data"


def test_a_full_disk_while_training_says_so(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    import shutil

    from mmnet.training import checkpoint

    def full(state, path):
        raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0: file write failed")

    monkeypatch.setattr(torch, "save", full)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(total=10 << 30, free=1 << 20))
    with pytest.raises(checkpoint.CheckpointError, match=r"checkpoint-00000007.pt: no space left on the device"):
        checkpoint.save_checkpoint(checkpoint.Checkpoint(7, "mmnet", {}, 32, {}), tmp_path, keep=2)
    assert not list(tmp_path.iterdir())


def test_linked_folders_are_followed_and_loops_walked_once(tmp_path):
    album = tmp_path / "album"
    (album / "sub").mkdir(parents=True)
    (album / "sub" / "a.jpg").write_bytes(b"x")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "b.jpg").write_bytes(b"x")
    (album / "linked").symlink_to(elsewhere)
    (album / "sub" / "loop").symlink_to(album)  # back up the tree
    found = find_photos(album)
    assert sorted(path.name for path in found) == ["a.jpg", "b.jpg"]
    assert os.path.realpath(next(path for path in found if path.name == "b.jpg")) == str(elsewhere / "b.jpg")
