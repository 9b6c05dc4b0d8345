"""MMNet (Seo et al. 2019): multi-branch dilated depthwise encoder blocks with linear bottlenecks.

The layer table is section 1.4 of the reference; every width is scaled by `multiply_depth`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mmnet.models.layers import ConvBNAct
from mmnet.models.registry import register


def multiply_depth(channels: int, multiplier: float) -> int:
    """The original's width scaling: round, snap to the nearest multiple of 8, at least 8."""
    return max(8, (round(channels * multiplier) + 4) // 8 * 8)


class EncoderBlock(nn.Module):
    """One branch per dilation rate (1x1 expand, [depthwise stride 2], dilated depthwise), concatenated and
    merged by a 1x1 convolution that is linear unless `merge_act` is given. No residual."""

    def __init__(self, in_ch: int, expanded: int, out_ch: int, rates: tuple[int, ...], stride: int = 1,
                 merge_act: type[nn.Module] | None = None, bn_momentum: float = 0.001) -> None:
        super().__init__()
        bn = {"bn_momentum": bn_momentum}
        self.branches = nn.ModuleList()
        for rate in rates:
            layers = [ConvBNAct(in_ch, expanded, 1, **bn)]
            if stride == 2:
                layers.append(ConvBNAct(expanded, expanded, 3, stride=2, groups=expanded, **bn))
            layers.append(ConvBNAct(expanded, expanded, 3, dilation=rate, groups=expanded, **bn))
            self.branches.append(nn.Sequential(*layers))
        self.merge = ConvBNAct(expanded * len(rates), out_ch, 1, act=merge_act, **bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.merge(torch.cat([branch(x) for branch in self.branches], dim=1))


class DecoderBlock(nn.Module):
    """1x1 compression, `n_upsample` bilinear x2 steps, then [upsampled, depthwise+1x1 of the skip]."""

    def __init__(self, in_ch: int, compressed: int, n_upsample: int, skip_ch: int = 0, skip_out: int = 0,
                 bn_momentum: float = 0.001) -> None:
        super().__init__()
        bn = {"bn_momentum": bn_momentum}
        self.compress = ConvBNAct(in_ch, compressed, 1, **bn)
        self.n_upsample = n_upsample
        self.shortcut = None
        if skip_ch:
            self.shortcut = nn.Sequential(
                ConvBNAct(skip_ch, skip_ch, 3, groups=skip_ch, **bn), ConvBNAct(skip_ch, skip_out, 1, **bn)
            )

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = self.compress(x)
        for _ in range(self.n_upsample):
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        if self.shortcut is None:
            return x
        return torch.cat([x, self.shortcut(skip)], dim=1)


class MMNet(nn.Module):
    """MMNet for 2-class (background, person) matting; alpha = softmax(logits)[:, 1].

    Input: RGB in [0, 1], N×3×H×W with H and W multiples of 16. `forward(x, with_aux=True)` also returns the
    auxiliary logits of the last encoder block (stride 16) used by the training loss.
    """

    def __init__(self, width_multiplier: float = 1.0, bn_momentum: float = 0.001) -> None:
        super().__init__()
        self.width_multiplier = width_multiplier

        def d(channels: int) -> int:
            return multiply_depth(channels, width_multiplier)

        bn = {"bn_momentum": bn_momentum}
        r4, r3, r2 = (1, 2, 4, 8), (1, 2, 4), (1, 2)
        self.init_block = ConvBNAct(3, d(32), 3, stride=2, **bn)
        # (expanded, out, rates, stride) for enc_block0..9, as in the reference's table.
        table = [(16, 16, r4, 2), (16, 24, r4, 1), (24, 24, r4, 1), (24, 24, r4, 1),
                 (32, 40, r3, 2), (64, 40, r3, 1), (64, 40, r3, 1), (64, 40, r3, 1),
                 (80, 80, r2, 2), (120, 80, r2, 1)]
        blocks, in_ch = [], d(32)
        for i, (expanded, out, rates, stride) in enumerate(table):
            merge_act = nn.ReLU6 if i == len(table) - 1 else None
            blocks.append(EncoderBlock(in_ch, d(expanded), d(out), rates, stride, merge_act, **bn))
            in_ch = d(out)
        self.encoder = nn.ModuleList(blocks)
        enc0, enc4, enc9 = d(16), d(40), d(80)
        self.dec_block0 = DecoderBlock(enc9, d(64), 1, skip_ch=enc4, skip_out=d(64), **bn)
        self.dec_block1 = DecoderBlock(2 * d(64), d(40), 1, skip_ch=enc0, skip_out=d(40), **bn)
        self.dec_block2 = EncoderBlock(2 * d(40), d(40), d(40), r3, **bn)
        self.dec_block3 = EncoderBlock(d(40), d(40), d(40), r3, **bn)
        self.dec_block4 = DecoderBlock(d(40), d(16), 2, **bn)
        self.final_block = nn.Conv2d(d(16), 2, 1)
        self.aux_block = nn.Conv2d(enc9, 2, 1)
        _init_weights(self)

    def forward(self, x: torch.Tensor, with_aux: bool = False):
        x = self.init_block(x)
        skips = {}
        for i, block in enumerate(self.encoder):
            x = block(x)
            if i in (0, 4):
                skips[i] = x
        encoded = x
        x = self.dec_block0(x, skips[4])
        x = self.dec_block1(x, skips[0])
        x = self.dec_block4(self.dec_block3(self.dec_block2(x)))
        logits = self.final_block(x)
        if with_aux:
            return logits, self.aux_block(encoded)
        return logits


def _init_weights(model: nn.Module) -> None:
    """The slim defaults: Xavier-uniform kernels, zero biases."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


@register("mmnet")
def mmnet(width_multiplier: float = 1.0, bn_momentum: float = 0.001) -> MMNet:
    return MMNet(width_multiplier=width_multiplier, bn_momentum=bn_momentum)
