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
    "litert": ("78dd8da6afab16d26ef15693ac6e219adf756d0750f84da0bae662bf55b9b601", {
        COMMANDS[0]: "5d412e7c55738f8e47cca0f3418bb6462288e6a007c424a2e7527713be09bdda",
        COMMANDS[1]: "cf03b1ce6c406dc6781165fa5b442a304862007650a38e65e929b70a8c3c233b",
        COMMANDS[2]: "82b7d3ebce3d7d52e853eacfaf385d98ae4b872785205bccf58e9316537cbfbd",
        COMMANDS[3]: "b48517f29ea7fd1a7eba808c76f665b7e65efec8b1045d48d206c9aeeb4632df"}),
    "onnxruntime": ("56135da6ce16569f2ef7805befcd5fe26dbaa81871cfff4d46870df3a5d7ac95", {
        COMMANDS[0]: "c16b0b16acbf1ae36c224e52c46293136c7419094298c952e47b3ea92549e621",
        COMMANDS[1]: "e596c2254a427481c358c92ead3038243fea8506afcd574c4be5b7a25a0d519d",
        COMMANDS[2]: "91ef4d0fd6e614c948fdad99ea375215e1a137569ec8914614a42ba43ac10a67",
        COMMANDS[3]: "8300f447486f509ce436c1c92c5bc355745b42d83385b381d914aee73acd809b"}),
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
