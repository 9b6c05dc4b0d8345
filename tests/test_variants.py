"""Model variants (`mmnet.models.variants`): one typed description per network, its name, its keyword
arguments from flags or `TrainConfig`, and the input-size rule, checked where a size enters."""
from __future__ import annotations

import subprocess
import sys

import pytest

from mmnet.models.complexity import count_parameters
from mmnet.models.variants import CATALOGUE, ModelVariant, check_size
from mmnet.training.trainer import TrainConfig, train


def test_names_and_keyword_arguments():
    mmnet = ModelVariant.from_options("mmnet", 256, {"width_multiplier": 1.0, "depth_multiplier": 0.5,
                                                     "output_stride": 8, "bn_momentum": None})
    deeplab = ModelVariant.from_options("deeplab", 256, {"width_multiplier": 1.0, "depth_multiplier": 0.5,
                                                         "output_stride": 16, "bn_momentum": 0.01})
    assert (mmnet.name, dict(mmnet.kwargs)) == ("mmnet-1.0-256", {"width_multiplier": 1.0})
    assert deeplab.name == "deeplab-os16-0.5-256"
    assert dict(deeplab.kwargs) == {"depth_multiplier": 0.5, "output_stride": 16, "bn_momentum": 0.01}
    assert count_parameters(deeplab.create())["params"] == 695_362
    names = [variant.name for variant in CATALOGUE]
    assert len(set(names)) == len(names) and {"mmnet-1.0-128", "deeplab-os8-0.35-128"} <= set(names)


def test_an_unknown_architecture_or_a_bad_size_is_named():
    with pytest.raises(ValueError, match="unknown model 'unet'; available: deeplab, efficientnet-lite0, mmnet"):
        ModelVariant("unet", {}, 256)
    with pytest.raises(ValueError, match="250 is not a multiple of 16.*try 240 or 256"):
        ModelVariant("mmnet", {}, 250)
    with pytest.raises(ValueError, match="16 is too small"):
        check_size(16, minimum=32)
    assert check_size(16) == 16


def test_training_refuses_a_size_that_is_not_a_multiple_of_16(synthetic_root, tmp_path):
    config = TrainConfig(dataset_path=str(synthetic_root), train_dir=str(tmp_path), width_multiplier=0.5,
                         size=100, batch_size=4, max_steps=1, num_workers=0, threads=1)
    with pytest.raises(ValueError, match="100 is not a multiple of 16"):
        train(config)
    assert not list(tmp_path.glob("checkpoint-*.pt"))


def test_the_variants_need_no_torch():
    code = ("import sys; from mmnet.models.variants import CATALOGUE; CATALOGUE[0].name; "
            "assert 'torch' not in sys.modules, 'mmnet.models.variants imported torch'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
