"""The LiteRT backend (`mmnet.runtime.litert`) on the shipped `.tflite` files, and `mmnet.load`'s choice of
the fastest installed backend."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import mmnet
from mmnet.data.io import read_image
from mmnet.errors import WeightsError
from mmnet.manifest import read_manifest
from mmnet.runtime import backends
from mmnet.runtime.interface import BackendError
from mmnet.runtime.weights import resolve, shipped_tflite

SMALL = "mmnet-1.0-128"


def shipped_precisions(name: str) -> dict:
    entry = read_manifest().models.get(name)
    return entry.tflite if entry else {}


@pytest.fixture
def litert():
    pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is not installed (pip install mmnet[litert])")
    if "int8" not in shipped_precisions(SMALL):
        pytest.skip(f"{SMALL} ships no int8 .tflite file")


def photos(count: int = 3) -> list[np.ndarray]:
    return [np.random.default_rng(i).integers(0, 256, (90 + 10 * i, 70, 3), dtype=np.uint8) for i in range(count)]


def test_load_takes_litert_where_installed_and_shipped_else_onnxruntime(litert, monkeypatch):
    chosen = mmnet.load(SMALL, threads=1)
    default = read_manifest().models[SMALL].tflite_default
    assert chosen.backend.name == "litert" and chosen.backend.precision == default
    assert chosen.path == shipped_tflite(SMALL, default) and default in repr(chosen)
    monkeypatch.setattr(backends, "installed_backends", lambda: ["onnxruntime"])
    assert mmnet.load(SMALL, threads=1).backend.name == "onnxruntime"


def test_litert_runs_on_the_cores_unless_told(litert):
    """LiteRT's own default would be one thread; mmnet's is the cores (up to 4), as ONNX Runtime's."""
    from mmnet.runtime.litert import DEFAULT_THREADS

    assert mmnet.load(SMALL).backend.threads == DEFAULT_THREADS == min(4, os.cpu_count() or 1)
    assert mmnet.load(SMALL, threads=1).backend.threads == 1


def test_a_model_without_tflite_files_runs_in_onnxruntime_by_default(litert):
    bare = [name for name in read_manifest().models if not shipped_precisions(name)]
    if not bare:
        pytest.skip("every shipped model has .tflite files")
    assert mmnet.load(bare[0], threads=1).backend.name == "onnxruntime"
    with pytest.raises(BackendError, match=f"{bare[0]}: ships no int8 .tflite file"):
        mmnet.load(bare[0], precision="int8")


def test_litert_fp32_computes_what_onnxruntime_computes(litert):
    fp32 = mmnet.load(SMALL, backend="litert", precision="fp32", threads=1)
    reference = mmnet.load(SMALL, backend="onnxruntime", threads=1)
    assert fp32.backend.precision == "fp32"
    ours, theirs_all = fp32.predict_batch(photos(), refine=False), reference.predict_batch(photos(), refine=False)
    for mine, theirs in zip(ours, theirs_all):
        assert np.abs(mine - theirs).max() < 1e-4


def test_int8_takes_pixels_as_they_are_and_stays_close_to_fp32(litert):
    int8 = mmnet.load(SMALL, backend="litert", precision="int8", threads=1)
    fp32 = mmnet.load(SMALL, backend="litert", precision="fp32", threads=1)
    size = int8.size
    # Two squashed crops of the example photo: int8 is calibrated on photos, and noise is no photo.
    example = read_image(Path(__file__).resolve().parents[1] / "examples" / "astronaut.jpg")
    pixels = np.stack([cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
                       for crop in (example, example[:380, 60:420])])
    direct = int8.backend.run_pixels(pixels)
    via_floats = int8.backend.run(pixels.transpose(0, 3, 1, 2).astype(np.float32) / 255)
    np.testing.assert_array_equal(direct, via_floats)  # the uint8 path is the float path, exactly
    assert direct.shape == (2, 1, size, size) and direct.dtype == np.float32
    difference = np.abs(direct - fp32.backend.run_pixels(pixels))
    assert 0 < difference.mean() < 0.02  # quantized, and close


def test_int8_on_the_other_precisions_backends_is_refused(litert):
    with pytest.raises(BackendError, match="run by backend 'litert' only"):
        mmnet.load(SMALL, backend="onnxruntime", precision="int8")
    with pytest.raises(WeightsError, match="unknown precision 'int4'"):
        mmnet.load(SMALL, precision="int4")


def test_a_tflite_path_loads_in_litert_and_a_broken_one_is_named(litert, tmp_path):
    path = shipped_tflite(SMALL, "fp32")
    model = mmnet.load(path, threads=1)
    assert model.backend.name == "litert" and model.size == resolve(SMALL)[1]
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model")
    with pytest.raises(WeightsError, match="junk.tflite: not a readable TFLite model"):
        mmnet.load(junk)
    with pytest.raises(BackendError, match=r"junk.tflite: backend 'onnxruntime' runs \.onnx files"):
        backends.open_backend(junk, "onnxruntime")


def test_the_default_load_never_imports_torch(litert):
    code = ("import sys, mmnet; m = mmnet.load('mmnet-1.0-128'); assert m.backend.name == 'litert'\n"
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_loading_prints_no_xnnpack_notice(litert):
    code = f"import mmnet, numpy as np; mmnet.load({SMALL!r}, threads=1).predict(np.zeros((40, 30, 3), np.uint8))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "XNNPACK" not in result.stderr and result.stderr == ""


def test_only_the_notice_is_taken_from_stderr():
    code = ("import os\nfrom mmnet.runtime.litert import XNNPACK_NOTICE, _stderr_without\n"
            "with _stderr_without(XNNPACK_NOTICE):\n"
            "    os.write(2, b'before\\n' + XNNPACK_NOTICE + b'\\nafter\\n')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "before\nafter\n", result.stderr
