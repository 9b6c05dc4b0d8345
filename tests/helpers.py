"""Helpers that several test modules share: the small test model, and running `mmnet matte` and the scripts as a
user does. (The fixtures are in conftest.py.)"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from mmnet.cli import main
from mmnet.data.preprocess import prepare_eval, resize_align_corners
from mmnet.data.synthetic import synthetic_pair

ROOT = Path(__file__).resolve().parents[1]
SIZE = 64


def export_test_model(directory: Path) -> Path:
    """A small MMNet (width 0.5), trained 20 steps on synthetic portraits so that its alpha varies, as a
    dynamic-shape ONNX file with the `mmnet.export.onnx` interface. Written once per test session.

    TorchScript export when this torch has it: ~2 s, where the dynamo exporter needs ~30 s for dynamic shapes."""
    path = directory / f"mmnet-test-{SIZE}.onnx"
    if path.is_file():
        return path
    import torch

    from mmnet.export.onnx import AlphaOutput, export_onnx
    from mmnet.models import create

    torch.manual_seed(0)
    pairs = [synthetic_pair(np.random.default_rng(i), 96, 72) for i in range(16)]
    images = torch.from_numpy(np.stack([prepare_eval(im, SIZE) for im, _ in pairs]))  # contiguous: fast convs
    mattes = torch.from_numpy(np.stack([resize_align_corners(m, SIZE) for _, m in pairs])[:, None]
                              .astype(np.float32) / 255)
    model = create("mmnet", width_multiplier=0.5)
    optimizer = torch.optim.Adam(model.parameters(), 1e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convolutions: one thread is fastest, and other jobs share the CPU
    try:
        for _ in range(20):
            loss = (torch.softmax(model(images), 1)[:, 1:2] - mattes).abs().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    directory.mkdir(parents=True, exist_ok=True)
    try:
        axes = {0: "batch", 2: "height", 3: "width"}
        torch.onnx.export(AlphaOutput(model).eval(), (torch.rand(1, 3, SIZE, SIZE),), str(path), dynamo=False,
                          input_names=["image"], output_names=["alpha"], opset_version=17,
                          dynamic_axes={"image": axes, "alpha": axes})
    except Exception:  # no TorchScript exporter in this torch
        export_onnx(model, path, size=SIZE, dynamic=True)
    return path


def matte(model_path: Path, *args: str) -> int:
    """Run `mmnet matte ... --model M --size S` in this process; its exit code."""
    try:
        return main(["matte", *args, "--model", str(model_path), "--size", str(SIZE)])
    except SystemExit as exit:  # a run with failures exits 1 from inside the handler
        return exit.code


def run(model_path: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """`mmnet matte ... --model M --size S` in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "mmnet.cli", "matte", *args, "--model", str(model_path),
                           "--size", str(SIZE)], input=stdin, capture_output=True, timeout=60)


def read(path: Path) -> np.ndarray:
    """An image file as OpenCV reads it, alpha kept; asserts that it is one."""
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert pixels is not None, f"{path} is not a readable image"
    return pixels


def outputs(folder: Path) -> list[str]:
    """The files under `folder`, relative to it, sorted."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def run_script(script: str, *args: str) -> subprocess.CompletedProcess:
    """A training script of scripts/ run from the repository root (they call the `mmnet` console script)."""
    if shutil.which("mmnet") is None:
        pytest.skip("the mmnet console script is not installed")
    return subprocess.run(["bash", f"scripts/{script}", *args], capture_output=True, text=True, timeout=600,
                          cwd=str(ROOT))
