"""Building blocks shared by the models: conv + batch norm + activation, in the slim style of the original."""
from __future__ import annotations

import torch
from torch import nn


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """MobileNet's channel rounding: nearest multiple of `divisor`, never more than 10% below `value`."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class ConvBNAct(nn.Sequential):
    """Conv (no bias) -> BatchNorm -> activation; `groups=in_channels` makes it depthwise."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        act: type[nn.Module] | None = nn.ReLU6,
        bn_momentum: float = 0.001,
        bn_eps: float = 1e-3,
    ) -> None:
        padding = dilation * (kernel_size - 1) // 2
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias=False),
            nn.BatchNorm2d(out_channels, eps=bn_eps, momentum=bn_momentum),
        ]
        if act is not None:
            layers.append(act(inplace=True))
        super().__init__(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expansion (skipped when it would not widen), dilated depthwise k×k, linear 1x1
    projection, and a residual where the shape allows."""

    def __init__(self, in_ch: int, out_ch: int, expansion: int, stride: int, dilation: int,
                 bn: dict, kernel_size: int = 3) -> None:
        super().__init__()
        inner = make_divisible(in_ch * expansion, 8) if expansion > 1 else in_ch
        layers: list[nn.Module] = []
        if inner > in_ch:
            layers.append(ConvBNAct(in_ch, inner, 1, **bn))
        layers.append(ConvBNAct(inner, inner, kernel_size, stride=stride, dilation=dilation, groups=inner, **bn))
        layers.append(ConvBNAct(inner, out_ch, 1, act=None, **bn))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


def is_depthwise(conv: nn.Conv2d) -> bool:
    """True for a depthwise convolution (one filter per input channel)."""
    return conv.groups > 1 and conv.groups == conv.in_channels
