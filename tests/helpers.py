"""Helpers that several test modules share: the small test model, running `mmnet matte` and the scripts as a
user does, a synthetic clip, a random checkpoint and image files that lie about their size. (The fixtures are in
conftest.py.)"""
from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from mmnet.cli import main
from mmnet.data.preprocess import prepare_eval, resize_align_corners
from mmnet.data.synthetic import synthetic_pair

ROOT = Path(__file__).resolve().parents[1]
SIZE = 64
FRAMES, HEIGHT, WIDTH, RATE, SAMPLE_RATE = 12, 64, 96, 25, 44100  # the clip of `make_clip`


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


def wait_for(path: Path, process: subprocess.Popen, seconds: float = 30) -> bool:
    """Whether `path` appears within `seconds` while `process` runs."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        if path.is_file():
            return True
        time.sleep(0.1)
    return path.is_file()


def png_copy(source: Path, target: Path) -> Path:
    """`source` written again as the PNG `target` (its folder made)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(target), cv2.imread(str(source)))
    return target


def make_clip(path: Path, audio: bool = True) -> Path:
    """FRAMES frames of a synthetic portrait sliding right, H.264, with a 440 Hz AAC tone (needs PyAV)."""
    import av

    photo, _ = synthetic_pair(np.random.default_rng(3), HEIGHT, WIDTH)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=RATE)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        tone = container.add_stream("aac", rate=SAMPLE_RATE) if audio else None
        for index in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(np.roll(photo, 2 * index, axis=1), format="rgb24")
            for packet in video.encode(frame):
                container.mux(packet)
        if tone is not None:
            samples = int(SAMPLE_RATE * FRAMES / RATE)
            wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / SAMPLE_RATE)).astype(np.float32)
            for start in range(0, samples, 1024):
                frame = av.AudioFrame.from_ndarray(wave[None, start:start + 1024], format="flt", layout="mono")
                frame.sample_rate, frame.pts = SAMPLE_RATE, start
                for packet in tone.encode(frame):
                    container.mux(packet)
            for packet in tone.encode(None):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
    return path


def random_checkpoint(path: Path, seed: int, step: int, width: float = 0.5, ema: bool = False) -> Path:
    """A checkpoint of an untrained MMNet of `width` at side 32, its BN statistics drawn from `seed`; with `ema`,
    those weights are its EMA and its own weights are zeros (needs torch)."""
    import torch

    from mmnet.models import create
    from mmnet.training.checkpoint import Checkpoint

    torch.manual_seed(seed)
    model = create("mmnet", width_multiplier=width)
    with torch.no_grad():
        for buffer in model.buffers():  # BN running statistics that differ between two seeds
            if buffer.is_floating_point():
                buffer.uniform_(0.5, 1.5)
    weights = model.state_dict()
    zeros = {key: torch.zeros_like(value) for key, value in weights.items()}
    Checkpoint(step, "mmnet", {"width_multiplier": width}, 32, zeros if ema else weights,
               ema=weights if ema else None).save(path)
    return path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int) -> bytes:
    """A PNG that states a size and holds no pixels (what a decompression bomb looks like to a header)."""
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + \
        png_chunk(b"IEND", b"")


BOMBS = {  # a few bytes each, claiming 20000×20000 (16000×16000 for the Radiance file of the report)
    "bomb.png": png_header(20000, 20000),
    "bomb.hdr": b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 16000 +X 16000\n" + b"\x02\x02\x3e\x80" * 4096,
    "bomb.bmp": b"BM" + struct.pack("<IHHI", 0, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, 20000, -20000, 1,
                                                                        24, 0, 0, 0, 0, 0, 0) + b"\0" * 64,
    "bomb.ppm": b"P6\n# a comment\n20000 20000\n255\n" + b"\0" * 64,
    "bomb.gif": b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\0" * 64,
    "bomb.tif": b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 2) +
                struct.pack("<HHII", 256, 4, 1, 20000) + struct.pack("<HHII", 257, 4, 1, 20000) + b"\0" * 8,
    "bomb.jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
                b"\xff\xc0\x00\x11\x08" + struct.pack(">HH", 20000, 20000) + b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
                b"\xff\xd9",
}
