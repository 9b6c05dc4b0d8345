"""Behaviour pinned for users: the README's `mmnet matte` commands on the example photo give the same pixels,
bit for bit, as before the code was restructured (issue 25), on each backend installed here.

The pins are sha256s of the decoded pixels (shape, dtype and bytes), not of the files: a PNG that mmnet writes
records its input's and its model file's size and mtime (`files.Provenance`), which differ between checkouts.
They are the shipped default model's outputs; a new `mmnet-1.0-256` changes them, and this test says so: run
`python tests/test_readme_outputs.py` (it prints each backend's weights sha256 and pins) and paste them."""
from __future__ import annotations

import hashlib
import importlib.util
import shlex
import shutil
from pathlib import Path

import pytest

from helpers import ROOT, read
from mmnet.cli import main

PHOTO = ROOT / "examples" / "astronaut.jpg"
# The shipped default model's file that each backend runs (LiteRT: its shipped default precision, int8).
WEIGHTS = {"onnxruntime": ROOT / "mmnet" / "weights" / "mmnet-1.0-256.onnx",
           "litert": ROOT / "mmnet" / "weights" / "mmnet-1.0-256.int8.tflite"}
# The README's commands on one photo (its "Install" and "Matte photos" sections), run on the example portrait.
COMMANDS = (
    "mmnet matte examples/astronaut.jpg -o astronaut.png --format rgba",
    "mmnet matte photo.jpg -o photo.png",
    "mmnet matte photo.jpg -o out.png --format composite --background blur",
    "mmnet matte photo.jpg -o out.png --format mask --threshold 0.5",
)
# The sha256 of the weights file each backend runs (the shipped default model), then of each command's pixels.
PINS = {
    "litert": ("1d314d988f84df99d56279fbda6f979f73a1f26cbdc1b61fce0de44fc3384a32", {
        COMMANDS[0]: "8e15f80b9826f094bd447574086d1695211c8aedd18d591d9ebb63eaec25b436",
        COMMANDS[1]: "2c06bda9885b5254e13b934911f5d2816d709223b5293949f3dd329272b334e2",
        COMMANDS[2]: "519ab7f0c10f06b30513530ebbdc79baecdafa9d6c354a56c337e3789d7d4051",
        COMMANDS[3]: "c225cd0856c177c2fc401d8d3fbd79e6876b47f351186cead86e06ce72a4980c"}),
    "onnxruntime": ("e5e519c652af2cf8b5e2aa46f9a35c975522952b9d4f29c628b3715ac56f5e84", {
        COMMANDS[0]: "17eaf531dc41fb20fe461b43670a25b28e5fbdbe1c06f8ad6ce58fe0d1723d8a",
        COMMANDS[1]: "ee9ad02bf286a6955ff149af10caec2d0b9d494ac5199c9a1ac00412d163805c",
        COMMANDS[2]: "6a950d13aeafd91a4a78720c390eea83bcede3fb9b7ffc71d8e8a6de27a557dc",
        COMMANDS[3]: "0c08eb59a22eaccf636ff4ee5d99d6e90728b9d72f24e47e33980f2efea5b546"}),
}
README = (ROOT / "README.md").read_text()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pixels_sha256(path: Path) -> str:
    pixels = read(path)
    return hashlib.sha256(f"{pixels.shape} {pixels.dtype}".encode() + pixels.tobytes()).hexdigest()


def outputs(backend: str, folder: Path) -> dict[str, str]:
    """Each command run in `folder` (the example photo copied in as photo.jpg) on `backend`: its pixels' sha256."""
    (folder / "examples").mkdir(parents=True)
    shutil.copy(PHOTO, folder / "examples" / "astronaut.jpg")
    shutil.copy(PHOTO, folder / "photo.jpg")
    pins = {}
    for command in COMMANDS:
        args = shlex.split(command)[1:]
        output = folder / args[args.index("-o") + 1]
        output.unlink(missing_ok=True)
        args = [str(folder / a) if a.endswith((".jpg", ".png")) else a for a in args]
        assert main([*args, "--backend", backend]) == 0, command
        pins[command] = pixels_sha256(output)
    return pins


def test_the_pinned_commands_are_the_readme_s():
    for command in COMMANDS:
        assert command in README, command


@pytest.mark.parametrize("backend", sorted(PINS))
def test_readme_commands_give_the_pinned_pixels(backend, tmp_path):
    if backend == "litert" and importlib.util.find_spec("ai_edge_litert") is None:
        pytest.skip("LiteRT (ai-edge-litert) is not installed")
    weights, pins = PINS[backend]
    if sha256_of(WEIGHTS[backend]) != weights:
        pytest.fail(f"the shipped {WEIGHTS[backend].name} changed: re-pin (python {__file__})")
    assert outputs(backend, tmp_path) == pins


if __name__ == "__main__":  # print the pins for the weights shipped now
    import tempfile
    for backend in sorted(PINS):
        with tempfile.TemporaryDirectory() as folder:
            print(backend, sha256_of(WEIGHTS[backend]), *outputs(backend, Path(folder)).values(), sep="\n  ")
