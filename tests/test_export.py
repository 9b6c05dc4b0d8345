"""`mmnet export`: the rewritten graph computes the same alpha, the files match PyTorch, int8 is QDQ and
close, TFLite where litert-torch is installed, and clear errors for what cannot be exported."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mmnet.export.check import check_export, validation_split
from mmnet.export.rewrite import AlphaOutput, alpha_model
from mmnet.models import create
from mmnet.training.checkpoint import resolve_checkpoint

SIZE = 64


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmnet.cli", *args], capture_output=True, text=True, timeout=600)


def small_model(name: str = "mmnet") -> torch.nn.Module:
    """A random network with non-trivial batch-norm statistics, so that a mistake in folding them shows,
    and a head scaled up so that its alpha spans (0, 1) rather than sitting near 0.5."""
    torch.manual_seed(0)
    model = create(name, **({"width_multiplier": 0.5} if name == "mmnet" else {"depth_multiplier": 0.5})).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
        head = model.final_block
        head.weight.mul_(200)
        logits = model(torch.rand(2, 3, SIZE, SIZE))
        head.bias[1] -= (logits[:, 1] - logits[:, 0]).mean()
    return model


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A training checkpoint of the small MMNet, as `mmnet train` writes it."""
    path = tmp_path_factory.mktemp("run") / "checkpoint-00000001.pt"
    model = small_model()
    torch.save({"model_name": "mmnet", "model_kwargs": {"width_multiplier": 0.5}, "size": SIZE, "step": 1,
                "model": model.state_dict(), "ema": None}, path)
    return path


@pytest.fixture(scope="module")
def exported(checkpoint, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The checkpoint's train dir through `mmnet export --check` (fp32 ONNX, fixed size)."""
    out = tmp_path_factory.mktemp("export") / "model.onnx"
    return out, run("export", str(checkpoint.parent), "-o", str(out), "--check")


@pytest.mark.parametrize("name", ["mmnet", "deeplab"])
@pytest.mark.parametrize("early_head, split_merges", [(False, False), (True, False), (True, True)])
def test_rewrites_keep_the_function(name, early_head, split_merges):
    model = small_model(name)
    x = torch.rand(2, 3, SIZE, SIZE)
    with torch.no_grad():
        expected = AlphaOutput(model)(x)
        got = alpha_model(model, early_head, split_merges)(x)
        assert torch.equal(model(x), small_model(name)(x))  # the model itself is left untouched
    assert got.shape == (2, 1, SIZE, SIZE)
    assert (got - expected).abs().max() < 1e-4
    assert expected.std() > 0.1  # a varied alpha, so that the comparison means something


def test_export_matches_pytorch_and_has_no_softmax(exported, checkpoint):
    onnx = pytest.importorskip("onnx")
    path, result = exported
    assert result.returncode == 0, result.stderr
    diff = float(re.search(r"max \|alpha - PyTorch\| = (\S+)", result.stdout).group(1))
    assert diff < 1e-4
    graph = onnx.load(str(path)).graph
    ops = [node.op_type for node in graph.node]
    assert "Softmax" not in ops and "Sigmoid" in ops
    assert ops.count("Concat") == 2  # only the decoder's skip joins: the blocks' merges are sums
    dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, SIZE, SIZE]


def test_fixed_batch_file_runs_in_the_runtime(exported):
    from mmnet.runtime.model import load
    matting = load(exported[0], threads=1)
    assert matting.size == SIZE and matting.max_batch == 1
    photos = [np.random.default_rng(i).integers(0, 256, (90, 70, 3), dtype=np.uint8) for i in range(3)]
    together = matting.predict_batch(photos)
    for photo, alpha in zip(photos, together):
        assert alpha.shape == (90, 70)
        np.testing.assert_allclose(alpha, matting.predict(photo), atol=1e-6)


def test_int8_is_qdq_and_close(tmp_path, synthetic_root):
    onnx = pytest.importorskip("onnx")
    from mmnet.export.formats import export_model
    from mmnet.export.quantize import calibration_images
    model = small_model()
    images = calibration_images(synthetic_root / "train" / "image", SIZE, limit=8)
    assert images.shape == (8, 3, SIZE, SIZE) and images.dtype == np.float32
    path = export_model(model, tmp_path / "int8.onnx", size=SIZE, calibration=images)
    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert ops.count("QuantizeLinear") > 20 and ops.count("DequantizeLinear") > 50
    check = check_export(model, path, SIZE, validation_split(synthetic_root, SIZE, holdout_percent=50))
    assert check.max_abs_diff < 0.25
    assert abs(check.gauss_grad_change) < 0.1 and abs(check.mad - check.mad_torch) < 0.02
    assert check.max_abs_diff > 1e-4  # really quantized
    assert not list(tmp_path.glob(".*"))  # no temporary files left


@pytest.mark.slow
def test_tflite_matches_pytorch(tmp_path):
    pytest.importorskip("litert_torch")
    pytest.importorskip("ai_edge_litert")
    from mmnet.export.formats import export_model
    model = small_model()
    path = export_model(model, tmp_path / "model.tflite", "tflite", size=SIZE)
    assert check_export(model, path, SIZE).max_abs_diff < 1e-4


@pytest.mark.slow
def test_int8_tflite_takes_pixels_and_stays_close(tmp_path, synthetic_root):
    pytest.importorskip("litert_torch")
    pytest.importorskip("ai_edge_litert")
    from mmnet.export.tflite import export_tflite
    from mmnet.runtime.litert import LiteRtBackend
    from mmnet.training.checkpoint import load_checkpoint, model_from_checkpoint
    # a trained network (the shipped 128² one, run at SIZE²): a random one's features are all noise, which
    # 8 bits cannot hold (mean |Δα| 0.06 for small_model)
    model = model_from_checkpoint(load_checkpoint(resolve_checkpoint("mmnet-1.0-128"))).eval()
    holdout = validation_split(synthetic_root, SIZE, holdout_percent=50)
    calibration = np.stack([holdout[i][0] for i in range(8)])
    path = export_tflite(model, tmp_path / "model.int8.tflite", SIZE, calibration=calibration)
    backend = LiteRtBackend(path, threads=1)
    assert backend.precision == "int8" and backend._pixels_as_is  # scale 1/255, zero point -128
    pixels = np.random.default_rng(0).integers(0, 256, (1, SIZE, SIZE, 3), dtype=np.uint8)
    np.testing.assert_array_equal(backend.run_pixels(pixels), backend.run(pixels.transpose(0, 3, 1, 2) / 255))
    check = check_export(model, path, SIZE, holdout)
    assert 1e-4 < check.max_abs_diff < 0.3 and check.mean_abs_diff < 0.03
    assert abs(check.gauss_grad_change) < 0.1 and abs(check.iou_change) < 0.05


def test_shipped_name_resolves_to_its_checkpoint():
    from mmnet.manifest import read_manifest, weights_dir
    manifest = read_manifest()
    if not manifest.models:
        pytest.skip("no weights shipped")
    assert resolve_checkpoint(manifest.default) == weights_dir() / manifest.models[manifest.default].checkpoint.file


@pytest.mark.parametrize("args, message", [
    (["no-such-model"], "neither a shipped model name"),
    (["{tmp}/model.onnx"], "not a PyTorch checkpoint"),
    (["{tmp}"], "no checkpoint-*.pt in this train dir"),
    (["{ckpt}", "--int8"], "--int8 needs --calibration"),
    (["{ckpt}", "--int8", "--calibration", "{tmp}"], "no photos to calibrate"),
    (["{ckpt}", "--size", "50"], "multiple of 16"),
    (["{ckpt}", "--format", "tflite", "--dynamic"], "drop --dynamic"),
])
def test_cli_errors(tmp_path, checkpoint, args, message):
    (tmp_path / "model.onnx").write_bytes(b"not a checkpoint")
    filled = [a.format(tmp=tmp_path, ckpt=checkpoint) for a in args]
    result = run("export", *filled, "-o", str(tmp_path / "out.onnx"))
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out.onnx").exists()
