"""Several real people sets trained on together without compositing, and mosaics of real photos."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmnet.data.dataset import ConcatMatting, MattingDataset
from mmnet.data.mosaic import SPLIT_RANGE, MosaicDataset
from mmnet.data.synthetic import make_dataset
from mmnet.training.checkpoint import list_checkpoints, load_checkpoint
from mmnet.training.loader import training_set
from mmnet.training.trainer import TrainConfig, train


class Constant:
    """A dataset whose item i is a 3×S×S image and 1×S×S alpha, all of value i / 10."""

    def __init__(self, n: int = 8, size: int = 40) -> None:
        self.n, self.size = n, size

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, item):
        index = item[0] if isinstance(item, tuple) else item
        value = np.float32(index / 10)
        return np.full((3, self.size, self.size), value), np.full((1, self.size, self.size), value)


def test_concat_indexes_one_set_after_the_other(tmp_path):
    make_dataset(tmp_path / "a", n=5, height=40, width=30)
    make_dataset(tmp_path / "b", n=7, height=30, width=40, seed=1)
    a, b = (MattingDataset(tmp_path / name, size=32, augment=False, progress=False) for name in "ab")
    both = ConcatMatting([a, b])
    assert len(both) == 12
    for index, (base, local) in enumerate([(a, i) for i in range(5)] + [(b, i) for i in range(7)]):
        for got, want in zip(both[index], base[local]):
            np.testing.assert_array_equal(got, want)
    with pytest.raises(IndexError):
        both[12]


def test_mosaic_tiles_four_samples_and_is_reproducible():
    mosaic = MosaicDataset(Constant(), p_mosaic=1.0)
    image, alpha = mosaic[(3, 42)]
    again = mosaic[(3, 42)]
    np.testing.assert_array_equal(image, again[0])
    assert image.shape == (3, 40, 40) and alpha.shape == (1, 40, 40)
    np.testing.assert_array_equal(image[:1], alpha)  # the matte moves with its photo
    assert image[0, 0, 0] == np.float32(0.3)  # the top-left tile is the item's own sample
    values = np.unique(image[0])
    assert 2 <= len(values) <= 4  # one value per tile (two tiles may draw the same sample)
    low = round(40 * SPLIT_RANGE[0])
    assert (image[:, :low, :low] == np.float32(0.3)).all()  # the first tile reaches at least that far


def test_mosaic_probability_zero_is_the_base():
    mosaic = MosaicDataset(Constant(), p_mosaic=0.0)
    for index in range(8):
        np.testing.assert_array_equal(mosaic[(index, index)][0], Constant()[index][0])
    with pytest.raises(ValueError, match="p_mosaic"):
        MosaicDataset(Constant(), p_mosaic=1.5)


def test_trains_on_several_real_sets_without_composites(tmp_path: Path):
    make_dataset(tmp_path / "busts", n=10, height=60, width=45)
    make_dataset(tmp_path / "figures", n=6, height=60, width=40, seed=3)
    config = TrainConfig(dataset_path=str(tmp_path / "busts"), add_datasets=[str(tmp_path / "figures")],
                         train_dir=str(tmp_path / "run"), width_multiplier=0.5, size=32, batch_size=4, max_steps=2,
                         checkpoint_every=2, log_every=1, num_workers=0, threads=1, mosaic=0.5)
    dataset = training_set(config, progress=False)
    assert isinstance(dataset, MosaicDataset) and len(dataset) == 16
    train(config)
    assert load_checkpoint(list_checkpoints(tmp_path / "run")[-1][1])["step"] == 2


def test_a_set_named_twice_is_drawn_twice_as_often(tmp_path: Path):
    make_dataset(tmp_path / "busts", n=10, height=60, width=45)
    make_dataset(tmp_path / "figures", n=6, height=60, width=40, seed=3)
    figures = str(tmp_path / "figures")
    config = TrainConfig(dataset_path=str(tmp_path / "busts"), add_datasets=[figures, figures],
                         train_dir=str(tmp_path / "run"), size=32, val_holdout=0)
    assert len(training_set(config, progress=False)) == 10 + 6 + 6
