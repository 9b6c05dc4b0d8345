"""The reference's matting losses (section 2), combined as a weighted average."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mmnet.errors import ConfigError
from mmnet.models.layers import is_depthwise
from mmnet.training.settings import LossWeights


def soft_cross_entropy(logits: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy of 2-channel logits against the soft target [1 - alpha, alpha]; mean over pixels."""
    log_p = F.log_softmax(logits.float(), dim=1)
    return -((1.0 - alpha) * log_p[:, :1] + alpha * log_p[:, 1:]).mean()


def sobel(alpha: torch.Tensor) -> torch.Tensor:
    """x and y Sobel responses (kernels [[-1,0,1],[-2,0,2],[-1,0,1]] / 8 and its transpose, zero padding):
    N×1×H×W -> N×2×H×W. Written as separable shifts: a 1-channel 3×3 convolution is several times slower
    on the CPU, forward and backward."""
    p = F.pad(alpha, (1, 1, 1, 1))
    smooth_y = p[..., :-2, :] + 2 * p[..., 1:-1, :] + p[..., 2:, :]  # [1, 2, 1] down the rows
    smooth_x = p[..., :, :-2] + 2 * p[..., :, 1:-1] + p[..., :, 2:]  # [1, 2, 1] along the columns
    gx = smooth_y[..., :, 2:] - smooth_y[..., :, :-2]
    gy = smooth_x[..., 2:, :] - smooth_x[..., :-2, :]
    return torch.cat([gx, gy], dim=1) / 8.0


class MattingLoss(nn.Module):
    """(Σ λ_i L_i) / (Σ λ_i) over alpha L1, compositional L1, gradient L1, cross-entropy, auxiliary
    cross-entropy and the teacher's cross-entropy. The auxiliary term counts only when the model has an
    auxiliary head; the teacher's only when a teacher's alpha is given.

    `original_comp_scale=True` reproduces the reference's bug of dividing the already-normalised image by 255
    a second time in the compositional loss (its effective weight is then about λ_comp / 255).
    """

    def __init__(self, weights: LossWeights = LossWeights(), original_comp_scale: bool = False) -> None:
        super().__init__()
        self.weights = weights
        self.comp_scale = 1.0 / 255.0 if original_comp_scale else 1.0

    def forward(self, logits: torch.Tensor, aux_logits: torch.Tensor | None, alpha: torch.Tensor,
                image: torch.Tensor, teacher_alpha: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """logits N×2×H×W, aux_logits N×2×h×w or None, alpha and teacher_alpha (or None) N×1×H×W in [0, 1],
        image N×3×H×W in [0, 1]. Returns the combined loss and each term (detached)."""
        pred = F.softmax(logits.float(), dim=1)[:, 1:]
        terms = {
            "alpha": (pred - alpha).abs().mean(),
            "comp": (image * self.comp_scale * (pred - alpha)).abs().mean(),
            "grad": (sobel(pred) - sobel(alpha)).abs().mean(),
            "kd": soft_cross_entropy(logits, alpha),
        }
        if aux_logits is not None:
            aux_target = F.interpolate(alpha, size=aux_logits.shape[-2:], mode="nearest")
            terms["aux"] = soft_cross_entropy(aux_logits, aux_target)
        if teacher_alpha is not None:
            terms["teacher"] = soft_cross_entropy(logits, teacher_alpha)
        weights = {name: getattr(self.weights, name) for name in terms}
        total_weight = sum(weights.values())
        if total_weight <= 0:
            raise ConfigError("at least one loss weight must be positive")
        loss = sum(weights[name] * value for name, value in terms.items()) / total_weight
        return loss, {name: value.detach() for name, value in terms.items()}


def weight_decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Parameter groups for classic L2 (Adam's `weight_decay`): only the kernels of regular (non-depthwise)
    convolutions decay, as slim's `l2_regularizer` with `regularize_depthwise=False`."""
    decay, no_decay = [], []
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            regular_kernel = isinstance(module, nn.Conv2d) and name == "weight" and not is_depthwise(module)
            (decay if regular_kernel else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
