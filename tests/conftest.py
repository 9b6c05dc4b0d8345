"""Shared fixtures: a small synthetic dataset, the real EG1800 portraits where ../shared is present, the small
test model and a folder of photos (the helpers that several modules share are in helpers.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers import export_test_model
from mmnet.data.synthetic import make_dataset

EG1800 = Path(__file__).resolve().parents[2] / "shared" / "data" / "eg1800"


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """<root>/train with 24 pairs and <root>/test with 8, 120×160 each."""
    root = tmp_path_factory.mktemp("synthetic")
    make_dataset(root, n=24, split="train", seed=0)
    make_dataset(root, n=8, split="test", seed=1)
    return root


@pytest.fixture(scope="session")
def eg1800() -> Path:
    if not (EG1800 / "train" / "image").is_dir():
        pytest.skip(f"the EG1800 portraits are not at {EG1800}")
    return EG1800


@pytest.fixture(scope="session")
def model_path(tmp_path_factory) -> Path:
    """The small test model (`helpers.export_test_model`), made once per session."""
    return export_test_model(tmp_path_factory.getbasetemp() / "runtime-model")


@pytest.fixture(scope="session")
def photos(tmp_path_factory) -> Path:
    """A folder of 4 synthetic JPEGs (120×160) and 2 more in sub/deeper/, plus a hidden file."""
    split = make_dataset(tmp_path_factory.mktemp("photos"), n=6, height=160, width=120)
    folder = split / "image"
    (folder / "sub" / "deeper").mkdir(parents=True)
    for name in ("synth_00004.jpg", "synth_00005.jpg"):
        (folder / name).rename(folder / "sub" / "deeper" / name)
    (folder / ".hidden.jpg").write_bytes(b"not looked at")
    return folder
