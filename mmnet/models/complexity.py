"""Parameter and multiply-accumulate counts (conv and depthwise only, as the reference counts MACs)."""
from __future__ import annotations

import torch
from torch import nn


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Trainable parameters with and without the auxiliary head, and with the BN running statistics."""
    total = sum(p.numel() for p in model.parameters())
    aux = sum(p.numel() for name, p in model.named_parameters() if "aux" in name)
    bn_stats = sum(m.running_mean.numel() + m.running_var.numel() for m in model.modules()
                   if isinstance(m, nn.BatchNorm2d))
    return {"params": total - aux, "params_with_aux": total, "params_with_bn_stats": total + bn_stats}


@torch.no_grad()
def count_macs(model: nn.Module, size: int) -> int:
    """MACs of one size×size image through every Conv2d (output elements × kernel volume per group)."""
    macs = 0

    def hook(module: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        nonlocal macs
        kh, kw = module.kernel_size
        macs += output.numel() * (module.in_channels // module.groups) * kh * kw

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        model.eval()(torch.zeros(1, 3, size, size))
    finally:
        for handle in handles:
            handle.remove()
    return macs
