"""Check an exported model against the PyTorch network it came from: the largest difference of alpha, and,
on a validation split, the change of GAUSS_GRAD, MAD and person IoU at the network's resolution."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mmnet.data.dataset import MattingDataset
from mmnet.data.holdout import HOLDOUT_PERCENT
from mmnet.evaluation.evaluate import predict_alpha
from mmnet.evaluation.metrics import gauss_grad, mad, person_iou, resize_alpha

Runner = Callable[[np.ndarray], np.ndarray]  # N×3×S×S float32 in [0, 1] -> N×S×S alpha
RANDOM_IMAGES = 4


def runner(path: str | Path, threads: int = 1) -> Runner:
    """Run an exported file (.onnx in ONNX Runtime, .tflite in LiteRT) on N×3×S×S images."""
    path = Path(path)
    if path.suffix == ".onnx":
        return _onnx_runner(path, threads)
    if path.suffix == ".tflite":
        from mmnet.runtime.litert import LiteRtBackend  # needs ai-edge-litert
        backend = LiteRtBackend(path, threads)
        return lambda images: backend.run(images)[:, 0]
    raise ValueError(f"{path}: cannot run this format (expected .onnx or .tflite)")


def _onnx_runner(path: Path, threads: int) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads, options.log_severity_level = threads, 1, 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    one_at_a_time = session.get_inputs()[0].shape[0] == 1

    def run(images: np.ndarray) -> np.ndarray:
        if one_at_a_time and len(images) > 1:
            return np.concatenate([run(images[i:i + 1]) for i in range(len(images))])
        return session.run(["alpha"], {"image": np.ascontiguousarray(images, np.float32)})[0][:, 0]
    return run


def validation_split(root: str | Path, size: int, split: str = "train",
                     holdout_percent: float = HOLDOUT_PERCENT) -> MattingDataset:
    """The held-out part of a split (as `mmnet train --val-holdout` keeps it), with its full masks."""
    return MattingDataset(root, split, size, augment=False, holdout_percent=holdout_percent, holdout=True,
                          keep_full_masks=True, progress=False)


@dataclass(frozen=True)
class ExportCheck:
    """An export against PyTorch: `max_abs_diff` (and `mean_abs_diff`) of alpha over `images` inputs; with a
    dataset, the mean GAUSS_GRAD, MAD and person IoU of both (network resolution, as `mmnet evaluate`
    reports them)."""

    path: Path
    images: int
    max_abs_diff: float
    gauss_grad: float | None = None
    gauss_grad_torch: float | None = None
    mad: float | None = None
    mad_torch: float | None = None
    iou: float | None = None
    iou_torch: float | None = None
    mean_abs_diff: float | None = None

    @property
    def gauss_grad_change(self) -> float | None:
        """Relative change of GAUSS_GRAD, exported vs PyTorch (0.01: 1% worse)."""
        if self.gauss_grad is None or not self.gauss_grad_torch:
            return None
        return self.gauss_grad / self.gauss_grad_torch - 1

    @property
    def iou_change(self) -> float | None:
        """IoU exported minus IoU in PyTorch (-0.003: 0.003 lower)."""
        return None if self.iou is None else self.iou - self.iou_torch

    def summary(self) -> dict:
        """The numbers, for a manifest or a report."""
        keys = ("images", "max_abs_diff", "mean_abs_diff", "gauss_grad", "gauss_grad_torch", "mad", "mad_torch",
                "iou", "iou_torch")
        return {key: getattr(self, key) for key in keys} | {"gauss_grad_change": self.gauss_grad_change,
                                                            "iou_change": self.iou_change}

    def __str__(self) -> str:
        text = f"{self.path.name}: max |alpha - PyTorch| = {self.max_abs_diff:.2e} over {self.images} images"
        if self.gauss_grad is not None:
            text += (f"; GAUSS_GRAD {self.gauss_grad:.5f} vs {self.gauss_grad_torch:.5f} in PyTorch "
                     f"({100 * self.gauss_grad_change:+.2f}%), MAD {self.mad:.5f} vs {self.mad_torch:.5f}, "
                     f"IoU {self.iou:.4f} vs {self.iou_torch:.4f} ({self.iou_change:+.4f})")
        return text


def check_export(model: nn.Module, path: str | Path, size: int, dataset: MattingDataset | None = None,
                 threads: int = 1, batch_size: int = 16) -> ExportCheck:
    """Compare the exported `path` with `model` (eval mode) on `dataset` (see `validation_split`, opened
    with its full masks), or, without one, on a few seeded random S×S images."""
    run = runner(path, threads)
    if dataset is None:
        images = np.random.default_rng(0).random((RANDOM_IMAGES, 3, size, size), dtype=np.float32)
        with torch.no_grad():
            expected = predict_alpha(model, torch.from_numpy(images))
        return ExportCheck(Path(path), len(images), float(np.abs(run(images) - expected).max()))
    if dataset.size != size:
        raise ValueError(f"{dataset.root}: opened at {dataset.size}×{dataset.size}, the export takes {size}×{size}")
    worst, total, scores = 0.0, 0.0, {key: [] for key in ("gg", "gg_torch", "mad", "mad_torch", "iou", "iou_torch")}
    for start in range(0, len(dataset), batch_size):
        indices = range(start, min(start + batch_size, len(dataset)))
        images = np.stack([dataset[i][0] for i in indices])
        got = run(images)
        with torch.no_grad():
            expected = predict_alpha(model, torch.from_numpy(images))
        worst = max(worst, float(np.abs(got - expected).max()))
        total += float(np.abs(got - expected).mean()) * len(indices)
        for i, alpha, reference in zip(indices, got, expected):
            truth = resize_alpha(dataset.full_mask(i), size, size)
            scores["gg"].append(gauss_grad(alpha, truth))
            scores["gg_torch"].append(gauss_grad(reference, truth))
            scores["mad"].append(mad(alpha, truth))
            scores["mad_torch"].append(mad(reference, truth))
            scores["iou"].append(person_iou(alpha, truth))
            scores["iou_torch"].append(person_iou(reference, truth))
    mean = {key: float(np.mean(values)) for key, values in scores.items()}
    return ExportCheck(Path(path), len(dataset), worst, mean["gg"], mean["gg_torch"], mean["mad"], mean["mad_torch"],
                       mean["iou"], mean["iou_torch"], total / len(dataset))
