"""A damaged newest checkpoint is named and passed over by resume and evaluate; atomic writes fsync the file
and its folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from mmnet import files  # noqa: E402
from mmnet.data.synthetic import make_dataset  # noqa: E402
from mmnet.evaluation.evaluate import run_evaluation  # noqa: E402
from mmnet.models import create  # noqa: E402
from mmnet.training.checkpoint import Checkpoint, load_newest, save_checkpoint  # noqa: E402


def state(step: int) -> Checkpoint:
    model = create("mmnet", width_multiplier=0.5)
    return Checkpoint(step, "mmnet", {"width_multiplier": 0.5}, 32, model.state_dict())


def damaged_run(tmp_path: Path) -> tuple[Path, Path, Path]:
    run = tmp_path / "run"
    older = save_checkpoint(state(10), run, keep=3)
    newest = save_checkpoint(state(20), run, keep=3)
    newest.write_bytes(newest.read_bytes()[:1000])  # a torn write, or a bad disk block
    return run, older, newest


def test_resume_falls_back_to_the_newest_readable_checkpoint(tmp_path, capsys):
    run, older, newest = damaged_run(tmp_path)
    path, loaded = load_newest(run)
    assert path == older and loaded["step"] == 10
    assert f"{newest}: not a readable mmnet checkpoint" in capsys.readouterr().err
    newest.unlink(), older.write_bytes(b"junk")
    assert load_newest(run) is None


def test_evaluate_falls_back_and_names_the_damaged_one(tmp_path, capsys):
    run, older, newest = damaged_run(tmp_path)
    data = tmp_path / "data"
    make_dataset(data, n=4, height=40, width=32, split="test")
    rows = run_evaluation(str(data), str(run), "test", size=32)
    assert [row["step"] for row in rows] == [10]
    assert f"{newest}: not a readable mmnet checkpoint" in capsys.readouterr().err
    with pytest.raises(ValueError, match="not a readable"):  # a file named by the user is not replaced
        run_evaluation(str(data), str(newest), "test", size=32)


def test_atomic_writes_fsync_the_file_and_its_folder(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd)))
    target = files.write_atomic(tmp_path / "sub" / "a.bin", b"data")
    assert target.read_bytes() == b"data"
    assert synced[-1] == str(tmp_path / "sub") and synced[0].startswith(str(tmp_path / "sub" / ".a.bin."))
