"""`mmnet average`: one network whose weights are the (weighted) mean of several trained ones of the same
variant, a "model soup" (Wortsman et al., 2022). Fine-tunes of one model from one start stay in one basin, so
their mean is a network too, and often better than each: it keeps what each learned and drops what each
only memorised. Batch-norm running statistics are averaged like the weights; integer buffers (the batch
counters) come from the first checkpoint."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mmnet.errors import ConfigError
from mmnet.files import sha256_of
from mmnet.training.checkpoint import Checkpoint, load_checkpoint, resolve_checkpoint, trained_weights


def average_checkpoints(sources: Sequence[str | Path], weights: Sequence[float] | None = None) -> Checkpoint:
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
    checkpoints = [load_checkpoint(path) for path in paths]
    variants = [checkpoint.variant for checkpoint in checkpoints]
    for path, variant in zip(paths[1:], variants[1:]):
        if variant != variants[0]:
            raise ConfigError(f"{path}: {variant} cannot be averaged with {paths[0]}: {variants[0]}")
    tensors = [trained_weights(checkpoint) for checkpoint in checkpoints]
    averaged = {}
    for key, first in tensors[0].items():
        if first.is_floating_point():
            total = sum(w * t[key].double() for w, t in zip(weights, tensors))
            averaged[key] = total.to(first.dtype)
        else:
            averaged[key] = first.clone()
    first = checkpoints[0]
    return Checkpoint(step=max(checkpoint.step for checkpoint in checkpoints), architecture=first.architecture,
                      model_kwargs=first.model_kwargs, size=first.size, weights=averaged, config=first.config,
                      averaged_from=[{"source": str(source), "sha256": sha256_of(path), "step": checkpoint.step,
                                      "weight": weight}
                                     for source, path, checkpoint, weight in zip(sources, paths, checkpoints, weights)])
