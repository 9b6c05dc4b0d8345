"""The training settings from Python: presets, the flags built from the fields, checkpoints' configs old and new;
and the command line's split between a user's mistake (one line) and a bug (a traceback)."""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mmnet import cli
from mmnet.errors import ConfigError, MmnetError
from mmnet.training.checkpoint import list_checkpoints, load_checkpoint
from mmnet.training.presets import PRESETS
from mmnet.training.settings import LossWeights, TrainSettings
from mmnet.training.trainer import TrainConfig, train

WEIGHTS = Path(__file__).resolve().parents[1] / "mmnet" / "weights"


@pytest.mark.slow
def test_a_preset_trains_from_python(synthetic_root, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the foreground cache
    backgrounds = tmp_path / "backgrounds"
    backgrounds.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        cv2.imwrite(str(backgrounds / f"bg{i}.jpg"), rng.integers(0, 255, (60, 80, 3), dtype=np.uint8))
    config = TrainConfig.from_preset("scenes_128", dataset_path=str(synthetic_root), train_dir=str(tmp_path / "run"),
                                     backgrounds=str(backgrounds), size=32, batch_size=2, max_steps=1,
                                     num_workers=0, threads=1)
    train(config)
    saved = load_checkpoint(list_checkpoints(tmp_path / "run")[-1][1])["config"]
    assert saved["composite_scene"] == 0.5 and saved["learning_rate"] == 5e-4 and saved["size"] == 32
    assert saved["lambda_aux"] == 1.0 and TrainConfig.from_flat(saved) == config


def test_presets_and_flags_agree_with_the_fields():
    assert TrainConfig.from_preset("deeplab_os16_dm0.5_256", dataset_path="d", train_dir="t").loss == LossWeights(aux=0)
    for name in PRESETS:
        args = cli.parse_args(["train", "--preset", name, "--dataset-path", "d", "--train-dir", "t"])
        fields = {key: value for key, value in vars(args).items() if key in TrainConfig.__dataclass_fields__}
        assert TrainConfig(**fields) == TrainConfig.from_preset(name, dataset_path="d", train_dir="t"), name
    args = cli.parse_args(["train", "--dataset-path", "d", "--train-dir", "t", "--lambda-kd", "0.5"])
    assert args.loss == LossWeights(kd=0.5) and TrainSettings("d", "t").loss == LossWeights()
    with pytest.raises(ConfigError, match="no preset 'nope'"):
        TrainConfig.from_preset("nope", dataset_path="d", train_dir="t")


@pytest.mark.parametrize("name", ["mmnet-1.0-256", "deeplab-os16-0.5-256", "mmnet-0.5-256"])
def test_shipped_checkpoints_flat_configs_load(name):
    """The shipped checkpoints' configs are flat (lambda_<term>), some from before fields were added."""
    saved = torch.load(WEIGHTS / f"{name}.pt", map_location="cpu", weights_only=True)["config"]
    config = TrainConfig.from_flat(saved)
    assert config.loss.aux == saved["lambda_aux"] and config.loss.alpha == saved["lambda_alpha"]
    assert {key: value for key, value in config.as_flat().items() if key in saved} == saved
    with pytest.raises(ConfigError, match="no_such_knob"):
        TrainConfig.from_flat({**saved, "no_such_knob": 1})


def test_a_user_error_is_one_line_and_a_bug_a_traceback(monkeypatch, capsys):
    def main_raising(error: Exception) -> int:
        def handler(args: argparse.Namespace) -> None:
            raise error
        monkeypatch.setattr(cli, "parse_args", lambda argv: argparse.Namespace(command="plot", handler=handler))
        return cli.main([])

    assert issubclass(ConfigError, MmnetError) and issubclass(ConfigError, ValueError)
    assert main_raising(ConfigError("--composite needs --backgrounds FOLDER")) == 1
    assert capsys.readouterr().err == "mmnet plot: error: --composite needs --backgrounds FOLDER\n"
    with pytest.raises(ValueError, match="a bug"):
        main_raising(ValueError("a bug"))
