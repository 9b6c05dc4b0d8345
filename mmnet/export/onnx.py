"""Export a model to ONNX: RGB in [0, 1] (N×3×H×W, "image") -> alpha (N×1×H×W, "alpha")."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class AlphaOutput(nn.Module):
    """Wraps a 2-logit model so that it returns alpha = softmax(logits)[:, 1:2]."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(image), dim=1)[:, 1:2]


def export_onnx(model: nn.Module, path: str | Path, size: int = 256, dynamic: bool = False,
                opset: int = 18) -> Path:
    """Write `model` (eval mode) as ONNX; `dynamic` leaves batch, height and width free."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapped = AlphaOutput(model).eval()
    dummy = torch.rand(1, 3, size, size)
    shapes = None
    if dynamic:  # sides stay multiples of 16, the network's total stride
        dim = torch.export.Dim
        shapes = {"image": {0: dim("batch", min=1, max=1024), 2: 16 * dim("height16", min=2, max=512),
                            3: 16 * dim("width16", min=2, max=512)}}
    program = torch.onnx.export(wrapped, (dummy,), input_names=["image"], output_names=["alpha"],
                                dynamic_shapes=shapes, opset_version=opset, dynamo=True, verbose=False)
    program.save(str(path))
    return path
