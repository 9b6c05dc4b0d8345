"""Checkpoints: what one holds (`Checkpoint`, with its one reader `load_checkpoint` and its one writer
`Checkpoint.save`), those of a train dir (`checkpoint-<step>.pt`, written atomically, the last K kept), and the
one door from trained weights to a network (`load_model`: a shipped name, a checkpoint file or a train dir)."""
from __future__ import annotations

import errno
import pickle
import re
import shutil
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mmnet.errors import MmnetError
from mmnet.files import atomic_write
from mmnet.manifest import CHECKPOINT_SUFFIXES, read_manifest
from mmnet.models.variants import ModelVariant

_NAME = re.compile(r"^checkpoint-(\d+)\.pt$")
FINISHED = "finished"  # marker file written when training reaches its last step
LOW_SPACE = 1 << 30  # bytes free under which a failed checkpoint write is taken for a full disk


class CheckpointError(MmnetError, ValueError):
    """A checkpoint file that cannot be read."""


# What every mmnet checkpoint holds on disk (a training one has "optimizer", "ema" and "config" too), by type.
REQUIRED = {"step": int, "model_name": str, "model_kwargs": dict, "size": int, "model": dict}


@dataclass(frozen=True, eq=False)
class Checkpoint(Mapping[str, Any]):
    """What a checkpoint holds: the variant it was trained as (architecture, its keyword arguments, the side
    S), the step, the trained weights and, where kept, their EMA; a training run's also the optimizer and its
    settings ("config", flat); a model soup's what it was averaged from.

    On disk it is the dict of tensors and plain values that it has always been (`to_state`), under the keys
    that older mmnet reads: "model_name" is the architecture there and "model" the weights. It is also a
    read-only mapping over those keys, so that code written for that dict reads it as it is."""

    step: int
    architecture: str
    model_kwargs: dict[str, Any]
    size: int
    weights: dict[str, Any]
    ema: dict[str, Any] | None = None
    optimizer: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    averaged_from: list[dict[str, Any]] | None = None

    @classmethod
    def from_state(cls, state: Any, name: str | Path = "checkpoint") -> Checkpoint:
        """The checkpoint in a loaded `state` dict; a CheckpointError (naming `name`) if it is not one."""
        held = state if isinstance(state, Mapping) else {}
        wrong = [key for key, kind in REQUIRED.items() if not isinstance(held.get(key), kind)]
        if wrong:
            raise CheckpointError(f"{name}: not an mmnet checkpoint (no {', '.join(wrong)} in it)")
        return cls(held["step"], held["model_name"], held["model_kwargs"], held["size"], held["model"],
                   held.get("ema"), held.get("optimizer"), held.get("config"), held.get("averaged_from"))

    def to_state(self) -> dict[str, Any]:
        """The dict that is saved: the required keys, "ema" and "config" (None where not kept), and
        "optimizer" and "averaged_from" where there are any."""
        state = {"step": self.step, "model_name": self.architecture, "model_kwargs": self.model_kwargs,
                 "size": self.size, "model": self.weights, "ema": self.ema, "config": self.config}
        extra = {"optimizer": self.optimizer, "averaged_from": self.averaged_from}
        return {**state, **{key: value for key, value in extra.items() if value is not None}}

    def save(self, path: str | Path) -> Path:
        """Write it to `path` atomically."""
        return atomic_write(path, lambda tmp: torch.save(self.to_state(), tmp))

    @property
    def variant(self) -> ModelVariant:
        """The variant it was trained as."""
        return ModelVariant(self.architecture, dict(self.model_kwargs), self.size)

    def __getitem__(self, key: str) -> Any:
        return self.to_state()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_state())

    def __len__(self) -> int:
        return len(self.to_state())


def checkpoint_path(train_dir: Path, step: int) -> Path:
    return Path(train_dir) / f"checkpoint-{step:08d}.pt"


def list_checkpoints(train_dir: Path) -> list[tuple[int, Path]]:
    """(step, path) of every checkpoint in `train_dir`, oldest first."""
    found = []
    for path in Path(train_dir).glob("checkpoint-*.pt"):
        match = _NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(train_dir: Path) -> Path | None:
    found = list_checkpoints(train_dir)
    return found[-1][1] if found else None


def save_checkpoint(checkpoint: Checkpoint, train_dir: Path, keep: int) -> Path:
    """Write `checkpoint` into `train_dir` as checkpoint-<step>.pt, atomically, and delete all but the newest
    `keep` checkpoints."""
    path = checkpoint_path(train_dir, checkpoint.step)
    try:
        checkpoint.save(path)
    except (OSError, RuntimeError) as error:  # torch says a full disk as "file write failed" (an enforce message)
        free = shutil.disk_usage(path.parent).free
        if getattr(error, "errno", None) == errno.ENOSPC or "write failed" in str(error) and free < LOW_SPACE:
            raise CheckpointError(f"{path}: no space left on the device ({free / 1e6:.0f} MB free); nothing was "
                                  f"written, the checkpoints before it are kept") from error
        raise
    if keep > 0:
        for _, old in list_checkpoints(train_dir)[:-keep]:
            old.unlink(missing_ok=True)
    return path


def copy_atomic(src: Path, dst: Path) -> None:
    atomic_write(dst, lambda tmp: shutil.copyfile(src, tmp))


def load_checkpoint(path: Path) -> Checkpoint:
    """Load a checkpoint onto the CPU, as tensors and plain values only (`weights_only`: a pickled object of
    any other class is refused, never constructed, so a crafted file cannot run code); a CheckpointError
    names a damaged file, or one that is not an mmnet checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:  # what weights_only raises for a class outside its allow-list
        raise CheckpointError(f"{path}: not an mmnet checkpoint: it holds Python objects other than tensors and "
                              f"plain values, which are not loaded (loading them could run code)") from error
    except Exception as error:  # torch raises several types for a damaged file
        raise CheckpointError(f"{path}: not a readable mmnet checkpoint ({error})") from error
    return Checkpoint.from_state(state, path)


def load_newest(train_dir: Path) -> tuple[Path, Checkpoint] | None:
    """The newest readable checkpoint of `train_dir` and what it holds (None: there is none); a damaged newer one
    is named on stderr and passed over, so that one bad file does not stop a run for good."""
    for _, path in reversed(list_checkpoints(train_dir)):
        try:
            return path, load_checkpoint(path)
        except FileNotFoundError:  # pruned meanwhile
            continue
        except CheckpointError as error:
            print(f"warning: {error}; using an older checkpoint", file=sys.stderr)
    return None


def trained_weights(checkpoint: Checkpoint, use_ema: bool = True) -> dict[str, Any]:
    """A checkpoint's state dict: its EMA weights where kept (and `use_ema`), else the trained ones."""
    return checkpoint.ema if use_ema and checkpoint.ema is not None else checkpoint.weights


def model_from_checkpoint(checkpoint: Checkpoint, use_ema: bool = True) -> nn.Module:
    """Rebuild the network a checkpoint was trained as, with its (EMA, where kept) weights, in eval mode."""
    model = checkpoint.variant.create()
    model.load_state_dict(trained_weights(checkpoint, use_ema))
    return model.eval()


def resolve_checkpoint(model: str | Path) -> Path:
    """The checkpoint behind a shipped model name, a checkpoint file, or a train dir (its newest)."""
    manifest = read_manifest()
    shipped = manifest.models
    if isinstance(model, str) and model in shipped:
        return manifest.folder / shipped[model].checkpoint.file
    path = Path(model)
    if path.is_dir():
        newest = latest_checkpoint(path)
        if newest is None:
            raise FileNotFoundError(f"{path}: no checkpoint-*.pt in this train dir")
        return newest
    if path.is_file():
        if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
            raise CheckpointError(f"{path}: not a PyTorch checkpoint (.pt); export starts from the trained weights")
        return path
    known = ", ".join(sorted(shipped)) or "none shipped"
    raise FileNotFoundError(f"{model}: neither a shipped model name (known: {known}) nor a checkpoint or train dir")


def load_model(source: str | Path, use_ema: bool = True) -> tuple[nn.Module, Checkpoint]:
    """(network in eval mode, its checkpoint) of a shipped model name, a checkpoint file or a train dir."""
    path = resolve_checkpoint(source)
    checkpoint = load_checkpoint(path)
    try:
        return model_from_checkpoint(checkpoint, use_ema), checkpoint
    except (KeyError, ValueError, TypeError, RuntimeError) as error:  # an unknown variant, or weights not its
        raise CheckpointError(f"{path}: its weights do not make an mmnet network "
                              f"({str(error).strip().splitlines()[0]})") from error
