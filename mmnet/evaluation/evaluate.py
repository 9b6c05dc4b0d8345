"""Score checkpoints on a dataset split: once, or every checkpoint as training writes them (`loop`)."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mmnet.data.dataset import MattingDataset
from mmnet.evaluation.metrics import METRIC_NAMES, MetricMean, score
from mmnet.files import atomic_write
from mmnet.training.checkpoint import FINISHED, copy_atomic, list_checkpoints, load_checkpoint, model_from_checkpoint

# The metrics whose best checkpoint is kept, and whether higher is better.
KEEP_BEST = {"mad": False, "gauss_grad": False, "mad_full": False, "gauss_grad_full": False, "iou": True}
MIN_IMPROVEMENT = 5e-5  # the reference's BestKeeper threshold
PACKAGE = Path(__file__).resolve().parents[1]  # mmnet/: never written into


@torch.no_grad()
def predict_alpha(model: torch.nn.Module, images: torch.Tensor) -> np.ndarray:
    """N×3×S×S images in [0, 1] -> N×S×S alpha (softmax channel 1)."""
    return torch.softmax(model(images), dim=1)[:, 1].numpy()


def evaluate_model(model: torch.nn.Module, dataset: MattingDataset, batch_size: int = 16,
                   progress: bool = False) -> dict[str, float]:
    """Mean of every metric over the dataset (see `mmnet.evaluation.metrics.score`)."""
    means = MetricMean()
    for start in tqdm(range(0, len(dataset), batch_size), disable=not progress, desc="evaluate", leave=False):
        indices = range(start, min(start + batch_size, len(dataset)))
        images = torch.from_numpy(np.stack([dataset[i][0] for i in indices]))
        for i, alpha in zip(indices, predict_alpha(model, images)):
            means.update(score(alpha, dataset.full_mask(i)))
    return means.result()


@dataclass
class BestKeeper:
    """Keeps a copy of the best checkpoint per metric in `<out_dir>/best/<metric>/`."""

    out_dir: Path
    best: dict[str, tuple[float, int]] = field(default_factory=dict)

    def update(self, step: int, checkpoint: Path, scores: dict[str, float]) -> None:
        for name, higher_is_better in KEEP_BEST.items():
            value = scores[name]
            old = self.best.get(name)
            if old is None or (value - old[0] if higher_is_better else old[0] - value) > MIN_IMPROVEMENT:
                folder = self.out_dir / "best" / name
                folder.mkdir(parents=True, exist_ok=True)
                for stale in folder.glob("checkpoint-*.pt"):
                    stale.unlink()
                copy_atomic(checkpoint, folder / checkpoint.name)
                self.best[name] = (value, step)
        atomic_write(self.out_dir / "best.json", lambda tmp: tmp.write_text(json.dumps(
            {name: {"value": value, "step": best_step} for name, (value, best_step) in self.best.items()},
            indent=2)))


class ScoreLog:
    """scores.tsv and scores.json in the output dir: one row per evaluated checkpoint."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.rows: list[dict] = []

    def add(self, step: int, checkpoint: Path, scores: dict[str, float]) -> None:
        self.rows.append({"step": step, "checkpoint": checkpoint.name, **scores})
        header = ["step", "checkpoint", *METRIC_NAMES]
        lines = ["\t".join(header)] + ["\t".join(str(row[key]) for key in header) for row in self.rows]
        atomic_write(self.out_dir / "scores.tsv", lambda tmp: tmp.write_text("\n".join(lines) + "\n"))
        atomic_write(self.out_dir / "scores.json", lambda tmp: tmp.write_text(json.dumps(self.rows, indent=2)))


def format_scores(scores: dict[str, float]) -> str:
    return "  ".join(f"{name} {scores[name]:.5g}" for name in METRIC_NAMES)


def default_out_dir(checkpoint: Path, split: str, val_holdout: float = 0.0) -> Path:
    """`<train dir>/eval/<split>` (`<split>-holdout<P>` with a hold-out), the train dir being the checkpoint's
    folder or the folder given. A checkpoint inside the installed package (a shipped `.pt`) is scored into
    `eval/<its name>/<split>...` under the working directory instead: nothing is written into the package."""
    name = f"{split}-holdout{val_holdout:g}" if val_holdout else split
    train_dir = checkpoint.parent if checkpoint.is_file() else checkpoint
    if train_dir.resolve().is_relative_to(PACKAGE):
        return Path("eval") / checkpoint.stem / name
    return train_dir / "eval" / name


def run_evaluation(dataset_path: str, checkpoint_path: str, split: str = "test", size: int | None = None,
                   val_holdout: float = 0.0, loop: bool = False, batch_size: int = 16,
                   poll_seconds: float = 10.0, timeout: float | None = None, use_ema: bool = True,
                   out_dir: str | None = None) -> list[dict]:
    """Evaluate a checkpoint file, or the newest checkpoint of a train dir; with `loop`, every checkpoint of
    the train dir as it appears, until training writes its `finished` marker. Returns the score rows.

    With `val_holdout` > 0, only the held-out part of the split is scored (the part `mmnet train
    --val-holdout` never trains on)."""
    target = Path(checkpoint_path)
    if not target.exists() and not loop:  # a loop may start before training has made its dir
        raise FileNotFoundError(f"{target}: no such checkpoint or train dir")
    is_file = target.is_file()
    out = Path(out_dir) if out_dir else default_out_dir(target, split, val_holdout)
    log, keeper = ScoreLog(out), BestKeeper(out)
    datasets: dict[int, MattingDataset] = {}
    done: set[int] = set()
    deadline = time.time() + timeout if timeout else None

    def pending() -> list[tuple[int, Path]]:
        if is_file:
            return [] if done else [(-1, target)]
        found = [(s, p) for s, p in list_checkpoints(target) if s not in done]
        return found if loop else found[::-1]  # once: the newest that can be read

    while True:
        queue = pending()
        for step, path in queue:
            try:
                checkpoint = load_checkpoint(path)
            except FileNotFoundError:  # pruned by the trainer before we got to it
                done.add(step)
                continue
            except ValueError as error:  # a damaged file: named, and an older one (or the next) is scored
                if is_file:
                    raise
                print(f"warning: {error}; skipped", file=sys.stderr, flush=True)
                done.add(step)
                continue
            step = checkpoint.step
            eval_size = size or checkpoint.size
            if eval_size not in datasets:
                datasets[eval_size] = MattingDataset(dataset_path, split, eval_size, augment=False,
                                                     holdout_percent=val_holdout, holdout=val_holdout > 0,
                                                     keep_full_masks=True)
            scores = evaluate_model(model_from_checkpoint(checkpoint, use_ema), datasets[eval_size], batch_size)
            print(f"step {step}: {format_scores(scores)}", flush=True)
            log.add(step, path, scores)
            keeper.update(step, path, scores)
            done.add(-1 if is_file else step)
            if not loop:
                break
        if not loop or is_file:
            if not log.rows:
                raise FileNotFoundError(f"{target}: no readable checkpoint-*.pt in this train dir")
            return log.rows
        if (target / FINISHED).exists() and not pending():
            return log.rows
        if deadline and time.time() > deadline:
            return log.rows
        if not queue:
            time.sleep(poll_seconds)
