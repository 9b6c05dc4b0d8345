"""The deployed form of a matting network: the same function, alpha = softmax(logits)[:, 1:2], computed with
fewer operations. Measured in `benchmarks/export_graph.py` (ONNX Runtime, 1 and 2 threads):

- the two-class softmax becomes `sigmoid(l1 - l0)`, with the difference folded into the last 1×1
  convolution (one output channel): ONNX Runtime runs a channel softmax through transposes;
- that 1×1 head moves before the bilinear upsampling that precedes it (both are linear and bilinear
  weights sum to one), so MMNet upsamples one channel instead of 16 and runs the head at 1/16 the pixels;
- `split_merges`: each encoder block's concat + linear 1×1 merge becomes a sum of one 1×1 per branch
  (batch norm folded in first). ONNX Runtime's blocked NCHWc layout cannot concatenate 24- or 40-channel
  pieces in place and reorders around every such concat; a sum it fuses into the convolutions. It pays in
  fp32 and costs in int8 (an extra quantized Add per block), so int8 exports leave it out.

Batch norm needs no step here: the ONNX exporter folds it into the convolutions already.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from mmnet.models.mmnet import EncoderBlock, MMNet


class AlphaOutput(nn.Module):
    """The reference form: alpha = softmax(logits)[:, 1:2] of any 2-logit model."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(image), dim=1)[:, 1:2]


class SigmoidOutput(nn.Module):
    """alpha = sigmoid of a model's one-channel output (the logit difference l1 - l0)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(image))


class Upsample2x(nn.Module):
    """`times` bilinear ×2 steps, as `DecoderBlock` does them."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(self.times):
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return x


class SummedMerge(nn.Module):
    """An `EncoderBlock` whose concat + 1×1 merge is a sum of one 1×1 convolution per branch."""

    def __init__(self, block: EncoderBlock) -> None:
        super().__init__()
        conv, norm, *act = block.merge
        fused = fuse_conv_bn_eval(conv, norm)
        self.branches = block.branches
        self.act = act[0] if act else nn.Identity()
        width = fused.in_channels // len(block.branches)
        self.merges = nn.ModuleList()
        for i in range(len(block.branches)):
            part = nn.Conv2d(width, fused.out_channels, 1, bias=i == 0)
            part.weight = nn.Parameter(fused.weight[:, i * width:(i + 1) * width].clone())
            if i == 0:
                part.bias = nn.Parameter(fused.bias.clone())
            self.merges.append(part)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = None
        for branch, merge in zip(self.branches, self.merges):
            y = merge(branch(x))
            total = y if total is None else total + y
        return self.act(total)


def has_two_class_head(model: nn.Module) -> bool:
    """Whether `model` ends in a 1×1 convolution with 2 outputs called `final_block`, as MMNet and DeepLab."""
    head = getattr(model, "final_block", None)
    return isinstance(head, nn.Conv2d) and head.out_channels == 2 and head.kernel_size == (1, 1)


def difference_head(head: nn.Conv2d) -> nn.Conv2d:
    """The 2-class 1×1 head as one channel, l1 - l0."""
    conv = nn.Conv2d(head.in_channels, 1, 1, bias=head.bias is not None)
    conv.weight = nn.Parameter(head.weight[1:2] - head.weight[:1])
    if head.bias is not None:
        conv.bias = nn.Parameter(head.bias[1:2] - head.bias[:1])
    return conv


def alpha_model(model: nn.Module, early_head: bool = True, split_merges: bool = True) -> nn.Module:
    """`model` (eval mode, left untouched) as image -> alpha N×1×H×W, in its cheapest known form: with a
    two-class head (MMNet, DeepLab) the sigmoid head and, as chosen, the other rewrites above (MMNet
    only); else `AlphaOutput`."""
    if not has_two_class_head(model):
        return AlphaOutput(model).eval()
    net = copy.deepcopy(model).eval()
    with torch.no_grad():
        net.final_block = difference_head(net.final_block)
        if early_head and isinstance(net, MMNet) and net.dec_block4.shortcut is None:
            block = net.dec_block4
            net.dec_block4 = nn.Sequential(block.compress, net.final_block, Upsample2x(block.n_upsample))
            net.final_block = nn.Identity()
        if split_merges and isinstance(net, MMNet):
            net.encoder = nn.ModuleList(SummedMerge(block) for block in net.encoder)
            net.dec_block2, net.dec_block3 = SummedMerge(net.dec_block2), SummedMerge(net.dec_block3)
    return SigmoidOutput(net).eval()

