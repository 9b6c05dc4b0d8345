"""Mobile DeepLabv3, the MMNet paper's baseline: MobileNetV2 (up to its 320-channel block) with dilation for
the output stride, and a head of a 1x1 branch and an image-pooling branch (section 7 of the reference)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mmnet.models.layers import ConvBNAct, InvertedResidual, make_divisible
from mmnet.models.registry import register

# MobileNetV2's inverted-residual stages after the stem: (expansion, channels, repeats, first stride).
_STAGES = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


class MobileDeepLabV3(nn.Module):
    """Logits at the input's resolution; alpha = softmax(logits)[:, 1]. There is no auxiliary head."""

    def __init__(self, depth_multiplier: float = 1.0, output_stride: int = 16,
                 bn_momentum: float = 0.0003) -> None:
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ValueError(f"output_stride must be 8, 16 or 32, not {output_stride}")
        self.depth_multiplier, self.output_stride = depth_multiplier, output_stride
        bn = {"bn_momentum": bn_momentum, "bn_eps": 1e-5}

        def d(channels: int) -> int:
            return make_divisible(channels * depth_multiplier, 8)

        layers: list[nn.Module] = [ConvBNAct(3, d(32), 3, stride=2, **bn)]
        in_ch, current_stride, rate = d(32), 2, 1
        for expansion, channels, repeats, first_stride in _STAGES:
            for i in range(repeats):
                stride = first_stride if i == 0 else 1
                if current_stride == output_stride:  # dilate instead of striding further
                    layer_stride, layer_rate, rate = 1, rate, rate * stride
                else:
                    layer_stride, layer_rate, current_stride = stride, 1, current_stride * stride
                layers.append(InvertedResidual(in_ch, d(channels), expansion, layer_stride, layer_rate, bn))
                in_ch = d(channels)
        self.backbone = nn.Sequential(*layers)
        head_bn = {**bn, "act": nn.ReLU}
        self.aspp_conv = ConvBNAct(in_ch, 256, 1, **head_bn)
        self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), ConvBNAct(in_ch, 256, 1, **head_bn))
        self.project = ConvBNAct(512, 256, 1, **head_bn)
        self.dropout = nn.Dropout(0.1)
        self.final_block = nn.Conv2d(256, 2, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.trunc_normal_(m.weight, std=0.09, a=-0.18, b=0.18)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor, with_aux: bool = False):
        size = x.shape[-2:]
        features = self.backbone(x)
        pooled = self.image_pool(features).expand(-1, -1, features.shape[2], features.shape[3])
        x = self.project(torch.cat([self.aspp_conv(features), pooled], dim=1))
        logits = F.interpolate(self.final_block(self.dropout(x)), size=size, mode="bilinear", align_corners=True)
        return (logits, None) if with_aux else logits


@register("deeplab")
def deeplab(depth_multiplier: float = 1.0, output_stride: int = 16, bn_momentum: float = 0.0003) -> MobileDeepLabV3:
    return MobileDeepLabV3(depth_multiplier=depth_multiplier, output_stride=output_stride, bn_momentum=bn_momentum)
