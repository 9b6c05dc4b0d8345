import itertools

import torch

from mmnet.training.checkpoint import (
    Checkpoint,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from mmnet.training.sampler import ResumableSampler


def take(sampler, n):
    return list(itertools.islice(iter(sampler), n))


def test_sampler_covers_each_epoch_once_and_resumes_exactly():
    full = take(ResumableSampler(10, seed=3), 30)
    for epoch in range(3):
        assert sorted(i for i, _ in full[epoch * 10:(epoch + 1) * 10]) == list(range(10))
    assert full[:10] != full[10:20]  # a new order each epoch
    assert take(ResumableSampler(10, seed=3, start=17), 13) == full[17:]
    assert len({seed for _, seed in full}) == 30  # every sample its own augmentation seed


def test_sampler_shards_across_ranks():
    full = take(ResumableSampler(12, seed=1), 24)
    rank0 = take(ResumableSampler(12, seed=1, rank=0, world_size=2), 12)
    rank1 = take(ResumableSampler(12, seed=1, rank=1, world_size=2), 12)
    assert rank0 == full[0::2] and rank1 == full[1::2]


def test_checkpoints_are_pruned_and_latest_found(tmp_path):
    for step in (100, 200, 300, 400):
        save_checkpoint(Checkpoint(step, "mmnet", {}, 32, {"w": torch.tensor([step])}), tmp_path, keep=3)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [200, 300, 400]
    assert load_checkpoint(latest_checkpoint(tmp_path))["model"]["w"].item() == 400
    assert not list(tmp_path.glob("*.tmp"))


def test_broken_checkpoint_is_named(tmp_path):
    bad = tmp_path / "checkpoint-00000001.pt"
    bad.write_bytes(b"not a checkpoint")
    try:
        load_checkpoint(bad)
    except ValueError as error:
        assert str(bad) in str(error)
    else:
        raise AssertionError("a broken checkpoint must raise")
