"""Quality on the validation hold-out (`HOLDOUT_PERCENT` of EG1800's training split, never trained on) by the
paper's protocol: the network's alpha upsampled bilinearly to the photo (`mmnet.evaluation.metrics.score`)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from mmnet.data.dataset import Pair, find_pairs, select
from mmnet.data.holdout import HOLDOUT_PERCENT
from mmnet.data.io import read_image, read_mask
from mmnet.evaluation.metrics import MetricMean, score

REPORTED = ("gauss_grad_full", "mad_full", "iou", "gauss_grad", "mad")


def holdout_pairs(dataset: Path, limit: int | None = None) -> list[Pair]:
    """The hold-out of `<dataset>/train` (the first `limit` of them, by name)."""
    return select(find_pairs(dataset, "train"), HOLDOUT_PERCENT, holdout=True)[:limit]


def evaluate(predict: Callable[[np.ndarray], np.ndarray], pairs: list[Pair]) -> dict[str, float]:
    """Mean GAUSS_GRAD, MAD (at the photo's resolution and at the network's) and person IoU of
    `predict` (uint8 RGB photo -> alpha at the network's resolution) over `pairs`."""
    means = MetricMean()
    for pair in pairs:
        means.update(score(predict(read_image(pair.image)), read_mask(pair.mask) / 255.0))
    result = means.result()
    return {name: result[name] for name in REPORTED} | {"images": len(pairs)}
