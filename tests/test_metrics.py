"""Metrics checked against hand-computed values and independent re-implementations."""
import math

import numpy as np
import pytest

from mmnet.evaluation.metrics import (
    METRIC_NAMES,
    MetricMean,
    _as_float,
    connectivity,
    dim_grad,
    gauss_grad,
    mad,
    mse,
    person_iou,
    resize_alpha,
    sad,
    score,
)

SIGMA = 1.4
PRED = np.array([[0.0, 0.5], [1.0, 0.25]])
GT = np.array([[0.0, 0.0], [0.5, 0.75]])  # |diff| = 0, .5, .5, .5


def rng_pair(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random(shape), rng.random(shape)


# --------------------------------------------------------------------------------- pixel-wise

def test_mad_sad_mse_by_hand():
    assert mad(PRED, GT) == pytest.approx(0.375)
    assert sad(PRED, GT) == pytest.approx(1.5 / 1000)
    assert mse(PRED, GT) == pytest.approx(0.75 / 4)


def test_sad_is_mad_times_pixels_over_1000():
    p, g = rng_pair((13, 7))
    assert sad(p, g) == pytest.approx(mad(p, g) * p.size / 1000)


def test_uint8_inputs_are_divided_by_255():
    assert _as_float(np.array([[0, 255]], np.uint8)).tolist() == [[0.0, 1.0]]
    p8 = np.array([[0, 255], [51, 102]], np.uint8)
    assert mad(p8, np.zeros((2, 2))) == pytest.approx((1 + 0.2 + 0.4) / 4)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        mad(np.zeros((2, 3)), np.zeros((3, 2)))


def test_person_iou():
    pred = np.array([[0.6, 0.4], [0.5, 0.9]])
    gt = np.array([[1.0, 1.0], [0.0, 0.51]])
    # P = {(0,0), (1,1)} (0.5 is not > 0.5), G = {(0,0), (0,1), (1,1)}: 2 / 3
    assert person_iou(pred, gt) == pytest.approx(2 / 3)
    assert person_iou(np.zeros((3, 3)), np.full((3, 3), 0.5)) == 1.0  # both empty
    assert person_iou(np.ones((2, 2)), np.zeros((2, 2))) == 0.0


# ------------------------------------------------------------------------ MMNet GAUSS_GRAD

def mmnet_kernels():
    """Independent build: G(x, y) ∝ exp(−(x²+y²)/2σ²) on [−4, 4]², sum 1; kx = −x/σ²·G (x = column)."""
    half = int(3 * SIGMA + 0.5)
    assert half == 4
    kx, ky = np.zeros((9, 9)), np.zeros((9, 9))
    total = sum(math.exp(-(x * x + y * y) / (2 * SIGMA ** 2)) for x in range(-4, 5) for y in range(-4, 5))
    for row in range(9):
        for col in range(9):
            x, y = col - 4, row - 4
            gval = math.exp(-(x * x + y * y) / (2 * SIGMA ** 2)) / total
            kx[row, col], ky[row, col] = -x / SIGMA ** 2 * gval, -y / SIGMA ** 2 * gval
    return kx, ky


def ramp_response():
    """|response| of the d/dx kernel to f = x: Σ x²·G / σ² (≈ 0.99, a true derivative)."""
    kx, _ = mmnet_kernels()
    x = np.arange(-4, 5)[None, :].repeat(9, 0)
    return abs(float(np.sum(kx * x)))


def test_gauss_grad_zero_for_identical_and_offset():
    p, g = rng_pair((20, 17))
    assert gauss_grad(p, p) == 0.0
    assert gauss_grad(g + 0.3, g) == pytest.approx(0.0, abs=1e-12)


def test_gauss_grad_ramp_difference():
    r = ramp_response()
    assert 0.98 < r < 1.0
    _, g = rng_pair((12, 15))
    rows, cols = np.indices(g.shape)
    c = 0.02
    assert gauss_grad(g + c * cols, g) == pytest.approx(c * r, rel=1e-9)  # horizontal ramp
    assert gauss_grad(g + c * rows, g) == pytest.approx(c * r, rel=1e-9)  # vertical ramp
    # a·x + b·y: the cross terms Σ x·y·G vanish, so the norm is r·√(a² + b²)
    assert gauss_grad(g + 0.03 * cols - 0.04 * rows, g) == pytest.approx(0.05 * r, rel=1e-9)


def test_gauss_grad_valid_single_pixel():
    """A 9×9 input has exactly one VALID output: the kernels dotted with the whole difference."""
    p, g = rng_pair((9, 9), seed=3)
    kx, ky = mmnet_kernels()
    d = p - g
    expected = math.hypot(float(np.sum(kx * d)), float(np.sum(ky * d)))
    assert gauss_grad(p, g) == pytest.approx(expected, rel=1e-9)
    # 9×10: two valid outputs, averaged
    p, g = rng_pair((9, 10), seed=4)
    d = p - g
    per_pixel = [math.hypot(float(np.sum(kx * d[:, j:j + 9])), float(np.sum(ky * d[:, j:j + 9]))) for j in (0, 1)]
    assert gauss_grad(p, g) == pytest.approx(np.mean(per_pixel), rel=1e-9)


def test_gauss_grad_too_small_raises():
    with pytest.raises(ValueError):
        gauss_grad(np.zeros((8, 20)), np.zeros((8, 20)))


# ---------------------------------------------------------------------- DIM gradient error

def dim_grad_reference(pred, gt):
    """Direct re-implementation of DIM compute_gradient_loss.m / gaussgradient.m with explicit loops."""
    def mat2gray(a):
        return np.zeros_like(a) if a.max() == a.min() else (a - a.min()) / (a.max() - a.min())

    def gauss(x):
        return math.exp(-x * x / (2 * SIGMA ** 2)) / (SIGMA * math.sqrt(2 * math.pi))

    half = math.ceil(SIGMA * math.sqrt(-2 * math.log(math.sqrt(2 * math.pi) * SIGMA * 0.01)))
    assert half == 4
    n = 2 * half + 1
    hx = np.array([[gauss(i - half) * (-(j - half) * gauss(j - half) / SIGMA ** 2) for j in range(n)]
                   for i in range(n)])
    hx /= math.sqrt(float(np.sum(hx * hx)))

    def imfilter_conv_replicate(img, h):
        padded = np.pad(img, half, mode="edge")
        out = np.zeros_like(img)
        for r in range(img.shape[0]):
            for c in range(img.shape[1]):
                # true convolution: out(r, c) = Σ h(k, l)·img(r − (k − half), c − (l − half))
                out[r, c] = sum(h[k, m] * padded[r - (k - half) + half, c - (m - half) + half]
                                for k in range(n) for m in range(n))
        return out

    def magnitude(a):
        a = mat2gray(a)
        return np.sqrt(imfilter_conv_replicate(a, hx) ** 2 + imfilter_conv_replicate(a, hx.T) ** 2)

    return float(np.sum((magnitude(pred) - magnitude(gt)) ** 2) / 1000)


def test_dim_grad_matches_direct_loop():
    p, g = rng_pair((5, 6), seed=1)
    g[:, 3:] += 1.5  # an edge in gt
    expected = dim_grad_reference(p, g)
    assert expected > 0
    assert dim_grad(p, g) == pytest.approx(expected, rel=1e-9)


def test_dim_grad_zero_and_affine_invariance():
    p, g = rng_pair((16, 12), seed=2)
    assert dim_grad(p, p) == 0.0
    # mat2gray removes any positive affine intensity change of each image
    assert dim_grad(0.5 * p + 0.2, 3.0 * g - 1.0) == pytest.approx(dim_grad(p, g), rel=1e-9)
    # a constant image has zero gradient whatever its value
    assert dim_grad(np.full((16, 12), 0.7), g) == pytest.approx(dim_grad(np.zeros((16, 12)), g))


# ------------------------------------------------------------------------------ connectivity

def test_connectivity_identical_is_zero():
    p, _ = rng_pair((10, 10))
    assert connectivity(p, p) == 0.0


def test_connectivity_row_by_hand():
    # pred [1, .6, 0, .4], gt [1, .6, 0, .3]; mask (pred≥t & gt≥t):
    #   t=.1..0.3: [1,1,0,1] -> largest 4-comp {0,1}; pixels 2, 3 leave at t=.1 -> l = 0
    #   t=.4..0.6: [1,1,0,0] -> {0,1};  t=.7..1: [1,0,0,0] -> {0}; pixel 1 leaves at .7 -> l = .6
    #   pixel 0 never leaves -> l = 1.   l = [1, .6, 0, 0]
    # d_pred = [0, 0, 0, .4] -> phi [1, 1, 1, .6];  d_gt = [0, 0, 0, .3] -> phi [1, 1, 1, .7]
    # (pixel 3 outside the largest component: with the plain mask it would get l = .3 and score 0)
    pred = np.array([[1.0, 0.6, 0.0, 0.4]])
    gt = np.array([[1.0, 0.6, 0.0, 0.3]])
    assert connectivity(pred, gt) == pytest.approx(0.1 / 1000)


def test_connectivity_exact_thresholds_8bit():
    # pred [1, 153/255 = .6], gt [1, 1]: pixel 1 is in the component up to t = .6 (exactly), leaves at .7
    # -> l = .6; d_pred = 0 -> phi 1; d_gt = .4 -> phi .6; sum .4.
    # (with t = 6·0.1 = 0.6000000000000001, l would be .5 and the sum .5)
    pred = np.array([[255, 153]], np.uint8)
    gt = np.array([[255, 255]], np.uint8)
    assert connectivity(pred, gt) == pytest.approx(0.4 / 1000)


def test_connectivity_is_4_connected():
    # the .4/.3 corner pixel touches the 1-block only diagonally: 4-connectivity isolates it,
    # so it leaves at t=.1 (l = 0): phi_pred = 1 - .4, phi_gt = 1 - .3 -> .1. Zeros: d = 0, phi 1.
    # (8-connected it would stay until t=.3, l = .3, d below .15 for both -> 0)
    gt = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 0.3]])
    pred = gt.copy()
    pred[2, 2] = 0.4
    assert connectivity(pred, gt) == pytest.approx(0.1 / 1000)


def test_connectivity_tie_follows_matlab_column_order():
    # pixels (0,2) and (1,0) form two 1-pixel components for t ≤ .3 (tie). MATLAB's bwconncomp
    # numbers components in column-major order and max keeps the first: (1,0) is omega.
    #   (1,0): l = .3 (leaves at .4): d_pred = .6 -> .4, d_gt = 0 -> 1          -> .6
    #   (0,2): l = 0:                 d_pred = .4 -> .6, d_gt = .3 -> .7        -> .1
    # (picking (0,2) in row-major order would give .6 instead of .7)
    pred = np.array([[0, 0, 0.4], [0.9, 0, 0]])
    gt = np.array([[0, 0, 0.3], [0.3, 0, 0]])
    assert connectivity(pred, gt) == pytest.approx(0.7 / 1000)


def test_connectivity_empty_component():
    # nothing is ≥ .1 in gt: omega empty from t = .1, every l = 0; phi_pred = [.1, 1], phi_gt = [1, 1]
    assert connectivity(np.array([[0.9, 0.0]]), np.zeros((1, 2))) == pytest.approx(0.9 / 1000)


# ----------------------------------------------------------------------------------- score

def test_resize_alpha():
    a = np.arange(12, dtype=np.float64).reshape(3, 4) / 11
    out = resize_alpha(a, 6, 8)
    assert out.shape == (6, 8) and out.dtype == np.float32
    assert resize_alpha(a, 3, 4) == pytest.approx(a.astype(np.float32))
    assert resize_alpha(np.full((5, 7), 200, np.uint8), 2, 3) == pytest.approx(np.full((2, 3), 200 / 255))


def test_score_resolutions():
    # A ramp is resized exactly by the align-corners mapping (corner pixels on corner pixels), in both
    # directions: a 16×16 ramp prediction is exact against a 32×32 ramp at both resolutions. The half-pixel
    # mapping would clamp at the borders and miss.
    gt = np.tile(np.arange(32) / 31, (32, 1))
    ramp = np.tile(np.arange(16) / 15, (16, 1))
    exact = score(ramp, gt)
    assert list(exact) == list(METRIC_NAMES)
    assert exact["mad"] == pytest.approx(0.0, abs=1e-6) and exact["mad_full"] == pytest.approx(0.0, abs=1e-6)
    assert exact["gauss_grad_full"] == pytest.approx(0.0, abs=1e-6)
    s = score(np.full((16, 16), 0.5), gt)
    assert all(isinstance(v, float) and math.isfinite(v) for v in s.values())
    error = np.abs(0.5 - gt)
    assert s["mad_full"] == pytest.approx(error.mean())
    assert s["sad"] == pytest.approx(error.sum() / 1000)
    assert s["mse"] == pytest.approx((error ** 2).mean())
    assert s["iou"] == 0.0  # .5 is not > .5
    assert s["grad"] == pytest.approx(dim_grad(np.zeros((32, 32)), gt)) and s["grad"] > 0


def test_score_full_metrics_use_upsampled_pred():
    rng = np.random.default_rng(5)
    pred, gt = rng.random((12, 12)), rng.random((30, 24))
    s = score(pred, gt)
    up = resize_alpha(pred, 30, 24)
    down = resize_alpha(gt, 12, 12)
    assert s["mad"] == pytest.approx(mad(pred, down))
    assert s["gauss_grad"] == pytest.approx(gauss_grad(pred, down))
    assert s["gauss_grad_full"] == pytest.approx(gauss_grad(up, gt))
    assert s["conn"] == pytest.approx(connectivity(up, gt))
    assert s["iou"] == pytest.approx(person_iou(up, gt))


def test_metric_mean():
    means = MetricMean()
    assert means.result() == {} and means.count == 0
    means.update({"mad": 0.1, "iou": 1.0})
    means.update({"mad": 0.3, "iou": 0.5})
    assert means.count == 2
    assert means.result() == pytest.approx({"mad": 0.2, "iou": 0.75})
