"""What a training run reports as it goes: log.csv in the train dir and a progress bar with the loss and speed."""
from __future__ import annotations

import csv
import time
from pathlib import Path

import torch
from tqdm import tqdm

LOG_FIELDS = ["step", "epoch", "lr", "loss", "alpha", "comp", "grad", "kd", "aux", "teacher", "images_per_s",
              "elapsed_s"]


class CsvLog:
    """log.csv in the train dir; on resume, rows past the resumed step (from a killed run) are dropped."""

    def __init__(self, path: Path, start_step: int) -> None:
        rows = []
        if path.exists() and start_step > 0:
            with path.open(newline="") as f:
                rows = [row for row in csv.DictReader(f) if int(row["step"]) <= start_step]
        self.file = path.open("w", newline="")
        self.writer = csv.DictWriter(self.file, LOG_FIELDS, extrasaction="ignore")
        self.writer.writeheader()
        self.writer.writerows(rows)
        self.file.flush()

    def write(self, row: dict) -> None:
        self.writer.writerow(row)
        self.file.flush()

    def close(self) -> None:
        self.file.close()


class TrainLog:
    """The progress bar of every process and, in the main one (`main`), a log.csv row every `every` steps and
    at the last: the loss, each term, the learning rate and the speed since the row before. Reads the loss
    from the device only for those rows."""

    def __init__(self, train_dir: Path, step: int, total: int, every: int, epoch_images: int, main: bool) -> None:
        self.total, self.every, self.epoch_images, self.main = total, every, epoch_images, main
        self.csv = CsvLog(train_dir / "log.csv", step) if main else None
        self.bar = tqdm(total=total, initial=step, disable=not main, desc="train", unit="step", dynamic_ncols=True)
        self.started = self.window_start = time.time()
        self.window_images = self.images = 0

    def step(self, step: int, lr: float, loss: torch.Tensor, terms: dict[str, torch.Tensor], images: int) -> None:
        """Step `step` done, on `images` images (all processes together)."""
        self.images += images
        self.window_images += images
        if self.main and (step % self.every == 0 or step == self.total):
            speed = self.window_images / max(1e-9, time.time() - self.window_start)
            self.window_start, self.window_images = time.time(), 0
            row = {"step": step, "epoch": f"{step * images / self.epoch_images:.3f}",
                   "lr": f"{lr:.3g}", "loss": f"{loss.item():.5f}", "images_per_s": f"{speed:.1f}",
                   "elapsed_s": f"{time.time() - self.started:.1f}",
                   **{name: f"{value.item():.5f}" for name, value in terms.items()}}
            self.csv.write(row)
            self.bar.set_postfix(loss=row["loss"], img_s=row["images_per_s"])
        self.bar.update(1)

    def close(self) -> float:
        """Closes the log; the seconds since it opened."""
        self.bar.close()
        if self.csv is not None:
            self.csv.close()
        return time.time() - self.started
