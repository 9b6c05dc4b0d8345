"""`mmnet average`: one network whose weights are the (weighted) mean of several trained ones of the same
variant, a "model soup" (Wortsman et al., 2022). Fine-tunes of one model from one start stay in one basin, so
their mean is a network too, and often better than each: it keeps what each learned and drops what each
only memorised. Batch-norm running statistics are averaged like the weights; integer buffers (the batch
counters) come from the first checkpoint."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mmnet.errors import ConfigError
from mmnet.models.variants import ModelVariant
from mmnet.runtime.weights import sha256_of
from mmnet.training.checkpoint import load_checkpoint, resolve_checkpoint, trained_weights


def average_checkpoints(sources: Sequence[str | Path], weights: Sequence[float] | None = None) -> dict:
    """A checkpoint whose weights are the mean of those of `sources` (shipped names, checkpoint files or train
    dirs; their EMA weights where kept), weighted by `weights` (default: equal; normalised to sum to 1).
    Its "step" is the largest of theirs; "averaged_from" records each source (as given, its sha256, step and
    weight)."""
    if len(sources) < 2:
        raise ConfigError("averaging needs at least two checkpoints")
    weights = [1.0] * len(sources) if weights is None else [float(w) for w in weights]
    if len(weights) != len(sources):
        raise ConfigError(f"{len(weights)} weights for {len(sources)} checkpoints")
    if min(weights) <= 0:
        raise ConfigError(f"weights must be positive, got {weights}")
    weights = [w / sum(weights) for w in weights]
    paths = [resolve_checkpoint(source) for source in sources]
    states = [load_checkpoint(path) for path in paths]
    variants = [ModelVariant.from_checkpoint(state) for state in states]
    for path, variant in zip(paths[1:], variants[1:]):
        if variant != variants[0]:
            raise ConfigError(f"{path}: {variant} cannot be averaged with {paths[0]}: {variants[0]}")
    tensors = [trained_weights(state) for state in states]
    averaged = {}
    for key, first in tensors[0].items():
        if first.is_floating_point():
            total = sum(w * t[key].double() for w, t in zip(weights, tensors))
            averaged[key] = total.to(first.dtype)
        else:
            averaged[key] = first.clone()
    return {"model_name": states[0]["model_name"], "model_kwargs": states[0]["model_kwargs"],
            "size": states[0]["size"], "step": max(state["step"] for state in states),
            "model": averaged, "ema": None, "config": states[0].get("config"),
            "averaged_from": [{"source": str(source), "sha256": sha256_of(path),
                               "step": state["step"], "weight": weight}
                              for source, path, state, weight in zip(sources, paths, states, weights)]}
