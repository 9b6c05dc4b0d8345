"""`mmnet average`: the weighted mean of checkpoints of one variant, its provenance, and clear refusals."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from helpers import random_checkpoint  # noqa: E402
from mmnet.cli import main  # noqa: E402
from mmnet.errors import ConfigError  # noqa: E402
from mmnet.training.average import average_checkpoints  # noqa: E402
from mmnet.training.checkpoint import load_model  # noqa: E402


def test_the_average_is_the_weighted_mean_of_every_float_tensor(tmp_path):
    a = random_checkpoint(tmp_path / "a.pt", 1, 100)
    b = random_checkpoint(tmp_path / "b.pt", 2, 300, ema=True)  # b: its EMA weights
    soup = average_checkpoints([a, b], [1, 3])
    wa, wb = torch.load(a, weights_only=True)["model"], torch.load(b, weights_only=True)["ema"]
    for key, value in soup.weights.items():
        if value.is_floating_point():
            assert torch.allclose(value, 0.25 * wa[key] + 0.75 * wb[key], atol=1e-6), key
        else:
            assert torch.equal(value, wa[key]), key  # batch counters from the first
    assert soup.step == 300 and soup.ema is None and soup.size == 32
    assert [(p["source"], p["step"], p["weight"]) for p in soup.averaged_from] == [
        (str(a), 100, 0.25), (str(b), 300, 0.75)]
    assert all(len(p["sha256"]) == 64 for p in soup.averaged_from)


def test_averaging_a_checkpoint_with_itself_gives_the_same_network(tmp_path):
    a = random_checkpoint(tmp_path / "a.pt", 1, 100)
    out = tmp_path / "soup.pt"
    assert main(["average", str(a), str(a), "-o", str(out)]) == 0
    (soup, _), (original, _) = load_model(out), load_model(a)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(soup(x)[0], original(x)[0], atol=1e-6)


def test_mismatched_or_malformed_requests_are_refused(tmp_path):
    a, wide = random_checkpoint(tmp_path / "a.pt", 1, 100), random_checkpoint(tmp_path / "wide.pt", 2, 100, width=1.0)
    with pytest.raises(ConfigError, match=f"{wide}: .* cannot be averaged with {a}"):
        average_checkpoints([a, wide])
    with pytest.raises(ConfigError, match="at least two"):
        average_checkpoints([a])
    with pytest.raises(ConfigError, match="2 weights for 3 checkpoints"):
        average_checkpoints([a, a, a], [1, 2])
    with pytest.raises(ConfigError, match="positive"):
        average_checkpoints([a, a], [1, 0])
    with pytest.raises(SystemExit, match="mmnet average: .*missing.pt"):
        main(["average", str(a), str(tmp_path / "missing.pt"), "-o", str(tmp_path / "out.pt")])
    assert not (tmp_path / "out.pt").exists()
