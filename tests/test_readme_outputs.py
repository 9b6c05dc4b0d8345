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
    "litert": ("e6e55cf904375bac79da8de27784f713f73f1882f720016c4eeff490c4a61374", {
        COMMANDS[0]: "98728ede40b53136f2b45157cd2dddcf2ffd5952cc90df33f2ae21b053adf3b5",
        COMMANDS[1]: "4ab46d45be2a26974a8e5115ff9d15f8859ddbb553b95c1baad2dd992b3b81e2",
        COMMANDS[2]: "9989576cd2165554b9790f961218110964a51303f64b1f14f75a327b37dcab12",
        COMMANDS[3]: "d1d01d3cf3a59040389dce0fdfa14a8aa40b52436c115a50fb579d198bfa1696"}),
    "onnxruntime": ("1a11e9a7412757b402382b3326e58361eb457a0a4a7d6b166a593d1ff6163a82", {
        COMMANDS[0]: "bec9112de5813f2ebaa7983946f0d4da4e0d08ee5dd89c86b15f37f33ab88fde",
        COMMANDS[1]: "09d729f05cdca403427234b0170264550e5474206bb7f2a8d4278352cdbe7d8f",
        COMMANDS[2]: "339608e26e6fe16a3033ba8431368ef5ba566361453d5ab5c00d90d75bcf8466",
        COMMANDS[3]: "62819f6b335ecfbbfab579328a5b91aa363e105f0f63aac755c05103070a5da3"}),
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
