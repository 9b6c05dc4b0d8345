"""The command line as a user runs it: output, presets, and clear errors with a non-zero exit."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import run_script
from mmnet.cli import build_parser, main, parse_args
from mmnet.data.synthetic import make_dataset

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmnet.cli", *args], capture_output=True, text=True, timeout=600)


def test_info_prints_parameters_and_macs():
    result = run("info", "--arch", "mmnet", "--width-multiplier", "1.0", "--size", "256")
    assert result.returncode == 0, result.stderr
    assert "190,490" in result.stdout and "327.5 M" in result.stdout
    deeplab = run("info", "--model", "deeplab", "--depth-multiplier", "0.5", "--size", "128")
    assert "695,362" in deeplab.stdout


def test_preset_sets_defaults_and_flags_win():
    args = parse_args(["train", "--preset", "deeplab_os16_dm0.5_256", "--dataset-path", "d", "--train-dir", "t",
                       "--max-steps", "7", "--learning-rate", "0.01"])
    assert (args.model, args.depth_multiplier, args.output_stride, args.lambda_aux) == ("deeplab", 0.5, 16, 0.0)
    assert args.learning_rate == 0.01 and args.max_steps == 7 and args.epochs == 30000
    assert args.weight_decay == 4e-7 and args.checkpoint_every == 500 and args.keep_checkpoints == 3


@pytest.mark.parametrize("verb", ["train", "info"])
def test_arch_names_the_architecture_and_model_is_its_old_spelling(verb):
    needed = ["--dataset-path", "d", "--train-dir", "t"] if verb == "train" else []
    for flag in ("--arch", "--model"):
        assert parse_args([verb, *needed, flag, "deeplab"]).model == "deeplab"
    assert parse_args([verb, *needed]).model == "mmnet"


def test_choices_are_their_registries():
    from mmnet.models.variants import ARCHITECTURES
    from mmnet.runtime.backends import BACKENDS
    from mmnet.runtime.render import FORMATS
    from mmnet.serve.limits import Limits
    _, commands = build_parser()
    choices = {(verb, action.dest): action.choices for verb, parser in commands.items()
               for action in parser._actions if action.choices is not None}
    assert list(choices["matte", "format"]) == list(FORMATS) and list(choices["matte", "backend"]) == list(BACKENDS)
    assert set(choices["train", "model"]) == set(ARCHITECTURES) == set(choices["info", "model"])
    serve = parse_args(["serve"])
    assert (serve.max_pixels, serve.max_connections, serve.header_timeout, serve.body_timeout) == (
        Limits.max_pixels, Limits.max_connections, Limits.header_seconds, Limits.body_seconds)


def test_every_preset_setting_reaches_the_training_config():
    """A preset key that no flag or TrainConfig field takes would be dropped without a word."""
    from mmnet.training.presets import PRESETS
    from mmnet.training.settings import nested
    from mmnet.training.trainer import TrainConfig
    for name, settings in PRESETS.items():
        args = parse_args(["train", "--preset", name, "--dataset-path", "d", "--train-dir", "t"])
        for key, value in nested(settings).items():
            assert key in TrainConfig.__dataclass_fields__, (name, key)
            assert getattr(args, key) == value, (name, key)


def test_train_on_missing_dataset_names_it(tmp_path, capsys):
    code = main(["train", "--dataset-path", str(tmp_path / "nowhere"), "--train-dir", str(tmp_path / "run"),
                 "--max-steps", "1"])
    assert code == 1
    assert "nowhere" in capsys.readouterr().err


def test_train_reports_every_bad_pair(tmp_path):
    split = make_dataset(tmp_path, n=6)
    (split / "mask" / "synth_00001.png").unlink()
    (split / "image" / "synth_00002.jpg").write_bytes(b"this is no jpeg")
    result = run("train", "--dataset-path", str(tmp_path), "--train-dir", str(tmp_path / "run"), "--max-steps", "1")
    assert result.returncode == 1
    assert "synth_00001" in result.stderr and "no mask" in result.stderr
    (split / "mask" / "synth_00001.png").write_bytes((split / "mask" / "synth_00000.png").read_bytes())
    result = run("train", "--dataset-path", str(tmp_path), "--train-dir", str(tmp_path / "run"), "--max-steps", "1")
    assert result.returncode == 1 and "synth_00002.jpg" in result.stderr
    assert not (tmp_path / "run" / "log.csv").exists()


def test_train_needs_a_length(tmp_path):
    result = run("train", "--dataset-path", str(tmp_path), "--train-dir", str(tmp_path / "run"))
    assert result.returncode != 0 and "--max-steps" in result.stderr


def test_evaluate_missing_checkpoint(tmp_path, synthetic_root):
    result = run("evaluate", "--dataset-path", str(synthetic_root), "--checkpoint-path", str(tmp_path / "none.pt"))
    assert result.returncode == 1 and "none.pt" in result.stderr


@pytest.mark.slow
def test_train_export_plot(tmp_path, synthetic_root):
    """A short run through the command line, then its checkpoint exported to ONNX and run there."""
    ort = pytest.importorskip("onnxruntime")
    train_dir = tmp_path / "run"
    result = run("train", "--dataset-path", str(synthetic_root), "--train-dir", str(train_dir),
                 "--width-multiplier", "0.5", "--size", "64", "--batch-size", "4", "--max-steps", "3",
                 "--checkpoint-every", "3", "--num-workers", "0", "--log-every", "1")
    assert result.returncode == 0, result.stderr
    onnx_path = tmp_path / "model.onnx"
    result = run("export", str(train_dir), "-o", str(onnx_path), "--size", "64")
    assert result.returncode == 0, result.stderr
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (alpha,) = session.run(None, {"image": np.random.rand(1, 3, 64, 64).astype(np.float32)})
    assert alpha.shape == (1, 1, 64, 64) and 0 <= alpha.min() and alpha.max() <= 1
    result = run("plot", str(train_dir))
    assert result.returncode == 0, result.stderr
    assert (train_dir / "training.png").stat().st_size > 1000


@pytest.mark.slow
def test_scripts_pass_the_reference_settings(tmp_path, synthetic_root):
    """The original's train script, shortened by a pass-through flag, runs with the preset's settings."""
    result = run_script("train_mmnet_dm1.0_256.sh", str(synthetic_root), str(tmp_path / "run"), "--max-steps", "1",
                        "--batch-size", "2", "--size", "64", "--num-workers", "0")
    assert result.returncode == 0, result.stderr
    import torch
    state = torch.load(tmp_path / "run" / "checkpoint-00000001.pt", weights_only=True)
    config = state["config"]
    assert config["learning_rate"] == 1e-4 and config["weight_decay"] == 4e-7 and config["epochs"] == 30000
    assert config["lambda_aux"] == 1.0 and config["width_multiplier"] == 1.0 and config["batch_size"] == 2


@pytest.mark.slow
def test_chain_script_trains_each_preset_from_the_last(tmp_path, synthetic_root):
    """scripts/train_chain.sh: stage K in RUN/K-PRESET with its preset's settings, from the stage before."""
    run = tmp_path / "run"
    result = run_script("train_chain.sh", str(synthetic_root), str(tmp_path), str(run), "-", "portrait_128",
                        "portrait_256_freeze_bn", "--", "--max-steps", "1", "--batch-size", "2", "--size", "64",
                        "--num-workers", "0", "--composite", "0")
    assert result.returncode == 0, result.stderr
    assert f"starting from the weights of {run / '1-portrait_128'}" in result.stdout
    import torch
    first, second = (torch.load(run / stage / "checkpoint-00000001.pt", weights_only=True)["config"]
                     for stage in ("1-portrait_128", "2-portrait_256_freeze_bn"))
    assert first["learning_rate"] == 2e-3 and first["init_from"] is None and not first["freeze_bn"]
    assert second["learning_rate"] == 1e-4 and second["freeze_bn"] and second["size"] == 64  # flags win


def test_version_is_the_package_version():
    from importlib.metadata import version
    result = run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"mmnet {version('mmnet')}"
