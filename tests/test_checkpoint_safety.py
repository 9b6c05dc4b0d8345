"""A `.pt` is loaded as tensors and plain values only: a pickled payload never runs, through any door that takes
a checkpoint (`--model`, `mmnet.load`, `mmnet export`, `mmnet average`, a train dir), and a file that is not an
mmnet checkpoint gets a CheckpointError naming it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import mmnet  # noqa: E402
from mmnet.cli import main  # noqa: E402
from mmnet.errors import MmnetError  # noqa: E402
from mmnet.training.checkpoint import CheckpointError, load_checkpoint, load_model, load_newest  # noqa: E402


class Payload:
    """Unpickling this calls os.system: what a hostile checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def payload_checkpoint(path: Path, marker: Path) -> Path:
    """A checkpoint that looks like ours but carries the payload in its config."""
    torch.save({"step": 1, "model_name": "mmnet", "model_kwargs": {}, "size": 32, "model": {},
                "config": Payload(marker)}, path)
    return path


def test_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    bad = payload_checkpoint(tmp_path / "x.pt", marker)
    with pytest.raises(CheckpointError, match=f"{bad}: not an mmnet checkpoint: it holds Python objects"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError):
        load_model(bad)
    with pytest.raises(MmnetError):  # the runtime's door: exports a .pt to ONNX first
        mmnet.load(str(bad))
    train_dir = tmp_path / "run"
    train_dir.mkdir()
    payload_checkpoint(train_dir / "checkpoint-00000002.pt", marker)
    assert load_newest(train_dir) is None  # named on stderr, passed over
    assert not marker.exists()


@pytest.mark.parametrize("verb", [["export", "{bad}", "-o", "{out}/m.onnx"],
                                  ["average", "{bad}", "{bad}", "-o", "{out}/soup.pt"],
                                  ["matte", "{photo}", "-o", "{out}/a.png", "--model", "{bad}"]])
def test_cli_names_the_payload_and_runs_nothing(tmp_path, capsys, verb):
    marker = tmp_path / "pwned"
    bad = payload_checkpoint(tmp_path / "x.pt", marker)
    photo = Path(__file__).resolve().parents[1] / "examples" / "astronaut.jpg"
    args = [part.format(bad=bad, out=tmp_path, photo=photo) for part in verb]
    try:
        code, said = main(args), capsys.readouterr().err
    except SystemExit as stop:  # export ends with SystemExit("mmnet export: <message>")
        code, said = 1, str(stop.code)
    assert code == 1 and f"{bad}: not an mmnet checkpoint" in said
    assert not marker.exists()


@pytest.mark.parametrize("content, problem", [
    ({"weights": torch.zeros(2)}, "no step, model_name, model_kwargs, size, model"),
    ([1, 2, 3], "no step"),
    ({"step": 1, "model_name": "mmnet", "model_kwargs": {}, "size": 32, "model": {"x": torch.zeros(1)}},
     "its weights do not make an mmnet network"),
])
def test_a_foreign_file_is_named(tmp_path, content, problem):
    path = tmp_path / "foreign.pt"
    torch.save(content, path)
    with pytest.raises(CheckpointError, match=f"{path}: .*{problem}"):
        load_model(path)
