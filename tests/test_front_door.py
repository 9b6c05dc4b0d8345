"""What a newcomer meets first: where commands write, what they print, and how they fail."""
from __future__ import annotations

from pathlib import Path

import pytest

from mmnet.cli import main
from mmnet.manifest import weights_dir


def package_files() -> set[Path]:
    return set(weights_dir().parent.rglob("*"))


@pytest.mark.slow
def test_evaluate_on_a_shipped_checkpoint_writes_outside_the_package(tmp_path, monkeypatch, synthetic_root):
    before = package_files()
    monkeypatch.chdir(tmp_path)
    shipped = weights_dir() / "mmnet-1.0-128.pt"
    assert main(["evaluate", "--dataset-path", str(synthetic_root), "--checkpoint-path", str(shipped),
                 "--dataset-split-name", "train", "--val-holdout", "50"]) == 0
    assert (tmp_path / "eval" / "mmnet-1.0-128" / "train-holdout50" / "scores.tsv").is_file()
    assert package_files() - before == set()


def test_evaluate_writes_beside_a_train_dirs_checkpoint(tmp_path):
    from mmnet.evaluation.evaluate import default_out_dir
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint-00000002.pt").write_bytes(b"")
    assert default_out_dir(run, "test") == run / "eval" / "test"
    assert default_out_dir(run / "checkpoint-00000002.pt", "train", 10.0) == run / "eval" / "train-holdout10"
