"""`mmnet ship` (and `python -m mmnet.export.ship`, the same verb): a missing package is named before anything is
done, and a failure leaves the weights folder as it was."""
from __future__ import annotations

import subprocess
import sys

import pytest

from mmnet.cli import main
from mmnet.errors import MmnetError
from mmnet.manifest import weights_dir

SHIPPED = weights_dir() / "mmnet-1.0-128.pt"


def test_a_missing_package_is_named_with_its_extra_and_nothing_is_written(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "litert_torch", None)  # as without mmnet[tflite]
    assert main(["ship", str(SHIPPED), "trial", "--weights-dir", str(tmp_path / "weights")]) == 1
    error = capsys.readouterr().err
    assert "litert_torch (pip install 'mmnet[tflite]')" in error and "--no-tflite" in error
    assert not (tmp_path / "weights").exists()


def test_a_failed_ship_leaves_the_weights_folder_as_it_was(tmp_path, monkeypatch, capsys):
    from mmnet.export.formats import Trained

    def fail(*args, **kwargs):
        raise MmnetError("export failed")

    monkeypatch.setattr(Trained, "export", fail)
    out = tmp_path / "weights"
    assert main(["ship", str(SHIPPED), "trial", "--no-tflite", "--weights-dir", str(out)]) == 1
    assert "export failed" in capsys.readouterr().err
    assert list(out.iterdir()) == []  # no trial.pt, no staging folder


@pytest.mark.slow
def test_ship_writes_the_checkpoint_its_onnx_and_the_manifest(tmp_path):
    out = tmp_path / "weights"
    assert main(["ship", str(SHIPPED), "trial", "--no-tflite", "--weights-dir", str(out)]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["manifest.json", "trial.onnx", "trial.pt"]


def test_python_m_mmnet_export_ship_is_the_ship_verb():
    result = subprocess.run([sys.executable, "-m", "mmnet.export.ship", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: mmnet ship ") and "--no-tflite" in result.stdout
