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
    "litert": ("fd66fd053a830006f7e7b79c586e4ca8f6b8c7c5ebf0a5d7792426525da6c831", {
        COMMANDS[0]: "00cc156419020d386f103816d008e697811c41ac30f9e7c4eeffb7c5ba37abb3",
        COMMANDS[1]: "e079075476b5b9307d2e5412bc735da4af857c61537c61bd332fd8dc943a933f",
        COMMANDS[2]: "e9551679414db8e6ab4522cbbc44ecaf5160cbe6c72a57f44414df766e7970e9",
        COMMANDS[3]: "06ec66090cc75bed662abc82bed02557bc3dafbec653802319d03199b74b49b7"}),
    "onnxruntime": ("5f916e960bb1f926bca23fce86ed5b9e89e232d431136625bfa94fdc33fe5fd5", {
        COMMANDS[0]: "d5b322f6f9c299dbfa2380471ddc65b141af91dd67df8402a360b579b92bf7f6",
        COMMANDS[1]: "d41d06f8c812c37959d0a2acdf0a5d96b78cd5b15ba96e50a62092b3fb814f9e",
        COMMANDS[2]: "a4c5626dfe83936ff3e663d7d4bbab30a9c90a062e37bbbc5624d0f665786c85",
        COMMANDS[3]: "0becdee1f1f4b4a42b2fe3c704ab231f68b22e66aae03ec120baf97d7e3966ac"}),
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
