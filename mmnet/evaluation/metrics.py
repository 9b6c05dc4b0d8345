"""Matting metrics in plain numpy + OpenCV (no torch: shared by training and runtime).

Definitions follow `docs/metrics.md`:

- MMNet protocol: `mad` and `gauss_grad` (MMNet's GAUSS_GRAD, raw units; the paper reports ×1e-3).
- DIM MATLAB convention (whole image): `sad` (/1000), `mse`, `dim_grad` (/1000), `connectivity` (/1000).
- Segmentation: `person_iou` (alpha > threshold is "person").

All alpha inputs are H×W arrays: float in [0, 1], or uint8 (divided by 255).
Computation is done in float64.
"""
from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

from mmnet.data.preprocess import resize_align_corners

METRIC_NAMES: tuple[str, ...] = (
    "mad", "gauss_grad",              # network resolution, gt resized (bilinear) to pred's size
    "mad_full", "gauss_grad_full",    # gt resolution, pred upsampled (bilinear)
    "sad", "mse", "grad", "conn", "iou",  # gt resolution, DIM convention / person IoU
)

SIGMA = 1.4


# ----------------------------------------------------------------------------------------------- inputs

def _as_float(a: np.ndarray) -> np.ndarray:
    """Alpha as float64: uint8 is divided by 255, bool maps to {0, 1}, floats are kept as they are."""
    a = np.asarray(a)
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    return a.astype(np.float64)


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both alphas as float64, checked to be 2-D and of the same shape."""
    p, g = _as_float(pred), _as_float(gt)
    if p.ndim != 2 or p.shape != g.shape:
        raise ValueError(f"expected two H×W alphas of the same shape, got {p.shape} and {g.shape}")
    return p, g


def resize_alpha(alpha: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize to height×width, as float32, with the align_corners=True mapping by which the photo
    was squashed into the network (the reference upsampled with TF's legacy mapping, which is shifted
    against its own input by up to a pixel of the network's grid)."""
    return resize_align_corners(_as_float(alpha).astype(np.float32), height, width)


# ------------------------------------------------------------------------------------ pixel-wise errors

def mad(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean absolute difference over all pixels."""
    p, g = _pair(pred, gt)
    return float(np.mean(np.abs(p - g)))


def sad(pred: np.ndarray, gt: np.ndarray) -> float:
    """Sum of absolute differences / 1000 (DIM `compute_sad_loss.m`); depends on resolution."""
    p, g = _pair(pred, gt)
    return float(np.sum(np.abs(p - g)) / 1000.0)


def mse(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean squared difference over all pixels (raw, not ×1e3)."""
    p, g = _pair(pred, gt)
    return float(np.mean((p - g) ** 2))


def person_iou(pred: np.ndarray, gt: np.ndarray, threshold: float = 0.5) -> float:
    """|P∩G| / |P∪G| with P = pred > threshold, G = gt > threshold (strictly greater); 1.0 if both empty."""
    p, g = _pair(pred, gt)
    pm, gm = p > threshold, g > threshold
    union = int(np.count_nonzero(pm | gm))
    if union == 0:
        return 1.0
    return float(np.count_nonzero(pm & gm) / union)


# ------------------------------------------------------------------------------- MMNet GAUSS_GRAD

@lru_cache(maxsize=None)
def mmnet_grad_kernels(sigma: float = SIGMA) -> tuple[np.ndarray, np.ndarray]:
    """MMNet's (d/dx, d/dy) kernels: −x/σ²·G and −y/σ²·G, G the softmax-normalised 9×9 Gaussian.

    x runs along the width (columns), y along the height (rows). Half-width int(3σ + 0.5).
    """
    half = int(3 * sigma + 0.5)
    r = np.arange(-half, half + 1, dtype=np.float64)
    y, x = np.meshgrid(r, r, indexing="ij")
    logits = -(x ** 2 + y ** 2) / (2 * sigma ** 2)
    g = np.exp(logits - logits.max())
    g /= g.sum()
    kx, ky = -x / sigma ** 2 * g, -y / sigma ** 2 * g
    kx.setflags(write=False)
    ky.setflags(write=False)
    return kx, ky


def _correlate_valid(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """2-D correlation keeping only the outputs whose window lies inside the image ('VALID')."""
    kh, kw = kernel.shape
    h, w = image.shape
    if h < kh or w < kw:
        raise ValueError(f"image {image.shape} is smaller than the {kernel.shape} kernel")
    full = cv2.filter2D(image, cv2.CV_64F, kernel, borderType=cv2.BORDER_CONSTANT)
    return full[kh // 2: h - kh // 2, kw // 2: w - kw // 2]


def gauss_grad(pred: np.ndarray, gt: np.ndarray) -> float:
    """MMNet GAUSS_GRAD: mean over VALID pixels of ‖∇pred − ∇gt‖₂ (Gaussian-derivative gradients).

    Raw units (the paper reports it ×1e-3). Needs at least 9×9 inputs.
    """
    p, g = _pair(pred, gt)
    kx, ky = mmnet_grad_kernels()
    diff = p - g  # the filters are linear: ∇pred − ∇gt = ∇(pred − gt)
    dx, dy = _correlate_valid(diff, kx), _correlate_valid(diff, ky)
    return float(np.mean(np.sqrt(dx ** 2 + dy ** 2)))


# ----------------------------------------------------------------------------- DIM gradient error

def mat2gray(a: np.ndarray) -> np.ndarray:
    """Per-image min-max normalisation to [0, 1]; a constant image maps to zeros."""
    a = _as_float(a)
    lo, hi = float(a.min()), float(a.max())
    if hi <= lo:
        return np.zeros_like(a)
    return (a - lo) / (hi - lo)


@lru_cache(maxsize=None)
def dim_grad_kernel(sigma: float = SIGMA, epsilon: float = 1e-2) -> np.ndarray:
    """DIM `gaussgradient.m` hx: hx(i, j) = g(u_i)·g'(u_j), unit L2 norm (derivative along columns)."""
    half = math.ceil(sigma * math.sqrt(-2 * math.log(math.sqrt(2 * math.pi) * sigma * epsilon)))
    u = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-u ** 2 / (2 * sigma ** 2)) / (sigma * math.sqrt(2 * math.pi))
    dg = -u * g / sigma ** 2
    hx = np.outer(g, dg)
    hx /= np.sqrt(np.sum(hx ** 2))
    hx.setflags(write=False)
    return hx


def _imfilter_conv_replicate(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """MATLAB imfilter(image, kernel, 'replicate', 'conv') for an odd-sized kernel."""
    flipped = np.ascontiguousarray(kernel[::-1, ::-1])  # convolution = correlation with the flipped kernel
    return cv2.filter2D(image, cv2.CV_64F, flipped, borderType=cv2.BORDER_REPLICATE)


def _dim_grad_magnitude(alpha: np.ndarray) -> np.ndarray:
    """|∇ mat2gray(alpha)| with the DIM kernels."""
    a = mat2gray(alpha)
    hx = dim_grad_kernel()
    gx = _imfilter_conv_replicate(a, hx)
    gy = _imfilter_conv_replicate(a, hx.T)
    return np.sqrt(gx ** 2 + gy ** 2)


def dim_grad(pred: np.ndarray, gt: np.ndarray) -> float:
    """DIM gradient error: Σ(|∇pred| − |∇gt|)² / 1000 after per-image mat2gray."""
    p, g = _pair(pred, gt)
    return float(np.sum((_dim_grad_magnitude(p) - _dim_grad_magnitude(g)) ** 2) / 1000.0)


# ------------------------------------------------------------------------------- DIM connectivity

def _thresholds(step: float) -> np.ndarray:
    """0:step:1 with exact decimal values (0.3, not 3·0.1 = 0.30000000000000004).

    Rounding keeps 8-bit mattes consistent with MATLAB: 153/255 ≥ 0.6 is true.
    """
    n = int(math.floor(1.0 / step + 1e-9))
    return np.round(np.arange(n + 1) * step, 12)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """Largest 4-connected component of a boolean mask (empty if the mask is empty; ties as MATLAB)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=4)
    if count <= 1:
        return np.zeros_like(mask, dtype=bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    tied = np.flatnonzero(areas == areas.max()) + 1
    largest = int(tied[0])
    if len(tied) > 1:  # MATLAB's max keeps the first of bwconncomp's column-major-ordered components
        largest = int(min(tied, key=lambda c: np.flatnonzero((labels == c).T)[0]))
    return labels == largest


def _connectivity_levels(p: np.ndarray, g: np.ndarray, step: float) -> np.ndarray:
    """l_map: the last threshold at which each pixel was still in the largest common component."""
    steps = _thresholds(step)
    level = np.full(p.shape, -1.0)
    for k in range(1, len(steps)):
        omega = _largest_component((p >= steps[k]) & (g >= steps[k]))
        level[(level == -1.0) & ~omega] = steps[k - 1]
    level[level == -1.0] = 1.0
    return level


def _phi(alpha: np.ndarray, level: np.ndarray) -> np.ndarray:
    """φ = 1 − d·[d ≥ 0.15], d = alpha − l."""
    d = alpha - level
    return 1.0 - d * (d >= 0.15)


def connectivity(pred: np.ndarray, gt: np.ndarray, step: float = 0.1) -> float:
    """DIM `compute_connectivity_error.m` over the whole image: Σ|φ(pred) − φ(gt)| / 1000."""
    p, g = _pair(pred, gt)
    level = _connectivity_levels(p, g, step)
    return float(np.sum(np.abs(_phi(p, level) - _phi(g, level))) / 1000.0)


# --------------------------------------------------------------------------------------- per image

def score(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Every metric of METRIC_NAMES for one image.

    `pred` is the network-resolution alpha, `gt` the ground truth at its own resolution.
    `mad`/`gauss_grad`: at pred's size, gt resized bilinearly. The rest: at gt's size,
    pred upsampled bilinearly.
    """
    p, g = _as_float(pred), _as_float(gt)
    g_small = resize_alpha(g, *p.shape)
    p_full = resize_alpha(p, *g.shape)
    scores = {
        "mad": mad(p, g_small),
        "gauss_grad": gauss_grad(p, g_small),
        "mad_full": mad(p_full, g),
        "gauss_grad_full": gauss_grad(p_full, g),
        "sad": sad(p_full, g),
        "mse": mse(p_full, g),
        "grad": dim_grad(p_full, g),
        "conn": connectivity(p_full, g),
        "iou": person_iou(p_full, g),
    }
    return {name: scores[name] for name in METRIC_NAMES}


class MetricMean:
    """Running mean of `score()` dicts (every key averaged over the updates that carried it)."""

    def __init__(self) -> None:
        self.count = 0
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def update(self, scores: dict[str, float]) -> None:
        """Add one image's scores."""
        self.count += 1
        for name, value in scores.items():
            self._sums[name] = self._sums.get(name, 0.0) + float(value)
            self._counts[name] = self._counts.get(name, 0) + 1

    def result(self) -> dict[str, float]:
        """Mean of every key seen so far (empty before the first update)."""
        return {name: total / self._counts[name] for name, total in self._sums.items()}
