"""Shared fixtures: a small synthetic dataset, and the real EG1800 portraits where ../shared is present."""
from __future__ import annotations

from pathlib import Path

import pytest

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
