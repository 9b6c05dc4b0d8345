"""Export a model to ONNX: RGB in [0, 1] (N×3×H×W, "image") -> alpha (N×1×H×W, "alpha").

The graph is the cheaper deployed form of `mmnet.export.rewrite.alpha_model` (same function). By default
the input is fixed at 1×3×S×S: what mobile runtimes want, as fast as a free batch in ONNX Runtime (the
runtime runs a batch image by image), and 2-4× quicker to export. `dynamic=True` leaves batch, height and
width free (same speed; the runtime must then be told S).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from mmnet.export.rewrite import AlphaOutput, alpha_model

__all__ = ["AlphaOutput", "export_onnx", "write_onnx"]

MAX_BATCH = 1024


def export_onnx(model: nn.Module, path: str | Path, size: int = 256, dynamic: bool = False, opset: int = 18,
                split_merges: bool = True) -> Path:
    """Write `model` (eval mode) as ONNX for 1×3×S×S inputs; `dynamic` leaves batch, height and width free
    (sides multiples of 16). `split_merges`: see `mmnet.export.rewrite` (leave it off for int8)."""
    return write_onnx(alpha_model(model, split_merges=split_merges), path, size, dynamic, opset=opset)


def write_onnx(alpha: nn.Module, path: str | Path, size: int, dynamic: bool = False, dynamic_batch: bool = False,
               opset: int = 18) -> Path:
    """Write an image -> alpha module as it is (no rewrite); `dynamic_batch` frees the batch only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dim = torch.export.Dim
    axes = {0: dim("batch", min=1, max=MAX_BATCH)} if dynamic or dynamic_batch else {}
    if dynamic:  # sides stay multiples of 16, the network's total stride
        axes.update({2: 16 * dim("height16", min=2, max=512), 3: 16 * dim("width16", min=2, max=512)})
    program = torch.onnx.export(alpha.eval(), (torch.rand(1, 3, size, size),), input_names=["image"],
                                output_names=["alpha"], dynamic_shapes={"image": axes} if axes else None,
                                opset_version=opset, dynamo=True, verbose=False)
    program.save(str(path))
    return path
