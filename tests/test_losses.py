import math

import pytest
import torch

from mmnet.models import create
from mmnet.training.losses import LossWeights, MattingLoss, sobel, soft_cross_entropy, weight_decay_groups


def logits_for(alpha: torch.Tensor) -> torch.Tensor:
    """Logits whose softmax channel 1 equals `alpha` (alpha in (0, 1))."""
    return torch.cat([torch.zeros_like(alpha), torch.log(alpha / (1 - alpha))], dim=1)


def test_terms_by_hand():
    pred = torch.full((1, 1, 4, 4), 0.75)
    alpha = torch.full((1, 1, 4, 4), 0.25)
    image = torch.full((1, 3, 4, 4), 0.5)
    loss, terms = MattingLoss(LossWeights(1, 1, 1, 1, 0))(logits_for(pred), None, alpha, image)
    assert terms["alpha"].item() == pytest.approx(0.5)
    assert terms["comp"].item() == pytest.approx(0.25)  # |0.5 * 0.75 - 0.5 * 0.25|
    # CE of p=0.75 against soft target 0.25: -(0.25 ln 0.75 + 0.75 ln 0.25)
    assert terms["kd"].item() == pytest.approx(-(0.25 * math.log(0.75) + 0.75 * math.log(0.25)), rel=1e-5)
    # constant maps: Sobel with zero padding differs only at the border
    expected_grad = (sobel(pred) - sobel(alpha)).abs().mean().item()
    assert terms["grad"].item() == pytest.approx(expected_grad)
    assert expected_grad > 0
    assert loss.item() == pytest.approx(sum(terms[k].item() for k in ("alpha", "comp", "grad", "kd")) / 4)


def test_weighted_average_and_aux():
    alpha = torch.rand(2, 1, 32, 32) * 0.8 + 0.1
    logits, aux = torch.randn(2, 2, 32, 32), torch.randn(2, 2, 2, 2)
    image = torch.rand(2, 3, 32, 32)
    loss, terms = MattingLoss(LossWeights(2, 0, 0, 0, 1))(logits, aux, alpha, image)
    aux_target = alpha[:, :, ::16, ::16]  # nearest neighbour takes the top-left sample of each cell
    assert terms["aux"].item() == pytest.approx(soft_cross_entropy(aux, aux_target).item(), rel=1e-6)
    assert loss.item() == pytest.approx((2 * terms["alpha"].item() + terms["aux"].item()) / 3, rel=1e-6)


def test_teacher_term_counts_only_with_a_teacher():
    alpha, image = torch.rand(2, 1, 16, 16), torch.rand(2, 3, 16, 16)
    teacher = torch.rand(2, 1, 16, 16)
    logits = torch.randn(2, 2, 16, 16)
    weights = LossWeights(alpha=1, comp=0, grad=0, kd=0, aux=0, teacher=3)
    alone, terms = MattingLoss(weights)(logits, None, alpha, image)
    assert "teacher" not in terms and alone.item() == pytest.approx(terms["alpha"].item())
    taught, terms = MattingLoss(weights)(logits, None, alpha, image, teacher)
    assert terms["teacher"].item() == pytest.approx(soft_cross_entropy(logits, teacher).item(), rel=1e-6)
    assert taught.item() == pytest.approx((terms["alpha"].item() + 3 * terms["teacher"].item()) / 4, rel=1e-6)


def test_original_comp_scale_divides_by_255_again():
    alpha, image = torch.rand(1, 1, 8, 8), torch.rand(1, 3, 8, 8)
    logits = torch.randn(1, 2, 8, 8)
    _, fixed = MattingLoss()(logits, None, alpha, image)
    _, original = MattingLoss(original_comp_scale=True)(logits, None, alpha, image)
    assert original["comp"].item() == pytest.approx(fixed["comp"].item() / 255, rel=1e-5)


def test_sobel_on_a_ramp():
    ramp = torch.arange(8.0).repeat(8, 1)[None, None]  # slope 1 along x
    g = sobel(ramp)
    assert torch.allclose(g[0, 0, 1:-1, 1:-1], torch.full((6, 6), 1.0))  # (1+2+1)*2/8 = 1
    assert torch.allclose(g[0, 1, 1:-1, 1:-1], torch.zeros(6, 6))


def test_perfect_prediction_has_lowest_loss():
    alpha = (torch.rand(1, 1, 16, 16) > 0.5).float() * 0.98 + 0.01
    image = torch.rand(1, 3, 16, 16)
    perfect, _ = MattingLoss(LossWeights(aux=0))(logits_for(alpha), None, alpha, image)
    worse, _ = MattingLoss(LossWeights(aux=0))(logits_for(1 - alpha), None, alpha, image)
    assert perfect < worse


def test_weight_decay_only_on_regular_conv_kernels():
    model = create("mmnet", width_multiplier=0.5)
    decay, no_decay = weight_decay_groups(model, 4e-7)
    assert decay["weight_decay"] == 4e-7 and no_decay["weight_decay"] == 0
    decayed = {id(p) for p in decay["params"]}
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            depthwise = module.groups == module.in_channels > 1
            assert (id(module.weight) in decayed) != depthwise
            if module.bias is not None:
                assert id(module.bias) not in decayed
        if isinstance(module, torch.nn.BatchNorm2d):
            assert id(module.weight) not in decayed
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_sobel_equals_the_convolution():
    x = torch.rand(2, 1, 9, 7)
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8
    expected = torch.nn.functional.conv2d(x, torch.stack([kx, kx.t()]).unsqueeze(1), padding=1)
    assert torch.allclose(sobel(x), expected, atol=1e-6)
