"""Backends (`mmnet.runtime.backends`, `mmnet.load(backend=...)`), the RVM peer, and `mmnet bench`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mmnet
from mmnet.bench import floor, report
from mmnet.cli import main
from mmnet.data.io import read_image
from mmnet.peers import rvm
from mmnet.peers.mediapipe import PeerModelError
from mmnet.runtime import backends
from mmnet.runtime.interface import BackendError
from mmnet.runtime.weights import resolve

SMALL = "mmnet-1.0-128"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------------------- backends

def test_default_backend_is_installed_and_runs():
    path, size = resolve(SMALL)
    runner = backends.open_backend(path, threads=1, size=size)
    assert runner.name == backends.default_backend((path.suffix,)) in backends.installed_backends()
    alpha = runner.run(np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32))
    assert alpha.shape == (1, 1, size, size) and alpha.dtype == np.float32
    assert 0 <= alpha.min() and alpha.max() <= 1


@pytest.mark.parametrize("name", backends.BACKENDS)
def test_an_explicit_backend_is_honoured_and_computes_the_same_alpha(name):
    if name not in backends.installed_backends():
        pytest.skip(f"{name} is not installed")
    # Crops of a real photo: int8 is calibrated on photos, and noise is no photo (round 12's -128 differs from its
    # fp32 by 0.02-0.03 on average on noise, 0.005-0.006 on these crops).
    example = read_image(Path(__file__).resolve().parents[1] / "examples" / "astronaut.jpg")
    photos = [example[:400 + 40 * i, 30 * i:300 + 50 * i] for i in range(3)]
    chosen = mmnet.load(SMALL, backend=name, threads=1)
    reference = mmnet.load(SMALL, backend="onnxruntime", threads=1)
    assert chosen.backend.name == name and name in repr(chosen)
    bf16 = "bf16" in repr(chosen.backend)  # OpenVINO's own choice on CPUs that compute in bf16
    int8 = "int8" in repr(chosen.backend)  # LiteRT's shipped default where int8 keeps the quality bounds
    for mine, theirs in zip(chosen.predict_batch(photos, refine=False), reference.predict_batch(photos, refine=False)):
        difference = np.abs(mine - theirs)
        if int8:
            assert difference.max() < 0.3 and difference.mean() < 0.02
        else:
            assert difference.max() < (0.1 if bf16 else 1e-4) and difference.mean() < (5e-3 if bf16 else 1e-5)


def test_openvino_at_f32_computes_what_onnxruntime_computes():
    if "openvino" not in backends.installed_backends():
        pytest.skip("openvino is not installed")
    path, size = resolve(SMALL)
    batch = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
    exact = backends.OpenVinoBackend(path, threads=1, size=size, precision="f32")
    assert "f32" in repr(exact)
    np.testing.assert_allclose(exact.run(batch), backends.OnnxRuntimeBackend(path, 1).run(batch), atol=1e-4)


def test_unknown_or_missing_backends_are_refused_clearly(monkeypatch):
    with pytest.raises(BackendError, match=r"unknown backend 'tensorrt'; choose one of litert, "
                                                    r"onnxruntime, openvino"):
        mmnet.load(SMALL, backend="tensorrt")
    if "openvino" in backends.installed_backends():
        with pytest.raises(BackendError, match="are ONNX Runtime's; backend 'openvino' takes none"):
            mmnet.load(SMALL, backend="openvino", providers=["CPUExecutionProvider"])
    monkeypatch.setattr(backends, "installed_backends", lambda: ["onnxruntime"])
    with pytest.raises(BackendError, match=r"'openvino' is not installed \(pip install 'mmnet\[openvino\]'\)"):
        mmnet.load(SMALL, backend="openvino")
    assert backends.default_backend() == "onnxruntime"


def test_a_broken_file_names_the_file_in_each_backend(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    for name in backends.installed_backends():
        with pytest.raises(BackendError, match="junk.onnx"):
            backends.open_backend(junk, name)


def test_loading_with_any_backend_never_imports_torch():
    code = ("import sys, mmnet; from mmnet.runtime.backends import installed_backends\n"
            "for name in installed_backends(): mmnet.load('mmnet-1.0-128', backend=name)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------------------------ RVM

def test_rvm_downsample_ratio_follows_its_recommendation():
    assert rvm.recommended_downsample_ratio(256, 256) == 1.0
    assert rvm.recommended_downsample_ratio(720, 1280) == pytest.approx(0.375)
    assert rvm.recommended_downsample_ratio(1080, 1920) == pytest.approx(0.25)


@pytest.mark.network
def test_rvm_gives_an_alpha_of_its_input_size():
    try:
        path = rvm.fetch_rvm_model()
    except PeerModelError as error:
        pytest.skip(f"cannot fetch RVM: {error}")
    peer = rvm.RobustVideoMatting(path, threads=1, size=128)
    alpha = peer.predict(np.random.default_rng(0).integers(0, 256, (200, 150, 3), dtype=np.uint8))
    assert alpha.shape == (128, 128) and 0 <= alpha.min() and alpha.max() <= 1
    with pytest.raises(ValueError, match="uint8 H×W×3"):
        peer.predict(np.zeros((10, 10), np.uint8))


# ---------------------------------------------------------------------------------------------- bench

def test_profile_sorts_operator_kinds_by_time():
    path, size = resolve(SMALL)
    rows = floor.profile_operators(path, size, threads=1, runs=2, warmup=1)
    assert [row["ms"] for row in rows] == sorted((row["ms"] for row in rows), reverse=True)
    assert sum(row["share"] for row in rows) == pytest.approx(1.0)
    kinds = {row["op"]: row for row in rows}
    assert kinds["Conv 1×1"]["macs"] > 0 and kinds["Conv 3×3 depthwise"]["nodes"] > 0


def test_readme_block_is_replaced_between_markers_or_appended(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "markdown", lambda results: "TABLE")
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{report.BEGIN}\nold\n{report.END}\n\nafter\n")
    report.update_readme(readme, {}, tmp_path / "docs" / "bench.png")
    assert readme.read_text() == (f"# x\n\n{report.BEGIN}\n![GAUSS_GRAD against latency](docs/bench.png)\n\n"
                                  f"TABLE\n{report.END}\n\nafter\n")
    other = tmp_path / "OTHER.md"
    other.write_text("text\n")
    report.update_readme(other, {}, tmp_path / "bench.png")
    assert other.read_text().startswith("text\n\n" + report.BEGIN) and report.END in other.read_text()


@pytest.mark.slow
def test_quick_bench_writes_table_json_and_figure(tmp_path):
    out = tmp_path / "bench"
    assert main(["bench", "--quick", "-o", str(out), "--variants", SMALL, "mmnet-0.5-128", "--threads", "1",
                 "--runs", "2", "--no-peers"]) == 0
    results = json.loads((out / "bench.json").read_text())
    table = (out / "bench.md").read_text()
    assert [row["name"] for row in results["variants"]] == [SMALL, "mmnet-0.5-128"]
    for row in results["variants"]:
        assert row["name"] in table and row["params"] > 0 and row["macs"] > 0
        assert {"onnxruntime", "pytorch"} <= set(row["latency_ms"])
        assert all(cells["1"] > 0 for cells in row["latency_ms"].values())
        assert row["limit_ms"]["fp32"]["1"] > 0
    assert (out / "bench.png").read_bytes()[:8] == PNG_SIGNATURE


@pytest.mark.slow
def test_bench_scores_shipped_models_on_the_holdout(tmp_path, eg1800):
    from mmnet.bench.run import BenchConfig, run_bench

    results = run_bench(BenchConfig(output=tmp_path, quick=True, variants=[SMALL], threads=(1,), runs=2,
                                    dataset=eg1800, holdout_limit=2, peers=False))
    scores = results["variants"][0]["quality"]["fp32"]
    assert scores["images"] == 2 and 0 < scores["gauss_grad_full"] < 0.05 and scores["iou"] > 0.5
    assert f"{scores['gauss_grad_full'] * 1e3:.3f}" in (tmp_path / "bench.md").read_text()


def coloured_pixels(png) -> int:
    """Pixels of strong colour (the marks; text, axes and grid are grey)."""
    import cv2
    image = cv2.imread(str(png)).astype(int)
    return int(((image.max(axis=2) - image.min(axis=2)) > 80).sum())


@pytest.mark.parametrize("scored", [False, True])
def test_the_figure_draws_the_models_with_or_without_quality_scores(tmp_path, scored):
    """`mmnet bench --quick` without --dataset has no quality scores: latency bars, not an empty chart."""
    from mmnet.bench import figure
    rows = [{"name": name, "family": "MMNet", "label": name[6:], "params": 190_490,
             "latency_ms": {"onnxruntime": {"2": ms}},
             "quality": {"fp32": {"gauss_grad_full": 3.4e-3}} if scored else {}}
            for name, ms in (("mmnet-1.0-256", 7.8), ("mmnet-1.0-128", 3.2))]
    results = {"variants": rows, "figure": {"engine": "onnxruntime", "threads": 2},
               "environment": {"cpu": "test CPU", "date": "today"}}
    assert len(figure.quality_points(results)) == (2 if scored else 0)
    assert coloured_pixels(figure.plot(results, tmp_path / "bench.png")) > 500
