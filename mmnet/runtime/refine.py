"""The network's S×S matte back to the photo's H×W: plain bilinear, or guided by the photo.

The network sees the photo squash-resized to S×S with align_corners=True bilinear, so the matte comes
back with the same mapping (corner pixels on corner pixels). `guided_upsample` is the fast guided filter
(He & Sun 2015, arXiv:1505.00996): the local linear model alpha ≈ A·I + b is fitted at S×S against
the S×S photo (`coefficients`), A and b are upsampled, and alpha = A·I + b is evaluated on the
full-resolution photo (`evaluate`), so that edges follow the photo instead of the S×S grid.

On by default (`mmnet.runtime.model.REFINE_DEFAULT`), from GAUSS_GRAD at 600×800 on 30 held-out EG1800
photos (×1e-3, bilinear -> guided): the barely trained smoke model (MAD 0.46) 4.57 -> 4.52; the ground
truth shrunk to 256² as a perfect network 0.68 -> 0.36, to 128² 1.53 -> 0.82; that truth blurred
(σ = 1 px at 256²), the way a network's edges are, 1.68 -> 1.31; eroded by one pixel 3.29 -> 2.94. MAD
falls or stays. The shipped `mmnet-1.0-256` on the 137 hold-out portraits: 3.57 -> 3.34, MAD 0.0459 -> 0.0456
(`benchmarks/refine_quality.py`).

Speed (`benchmarks/matte_speed.py`, a 600×800 photo on 2 cores): both halves work on bands of rows, from
the inputs to the box-averaged coefficients (or to alpha) in one go, and the full-resolution half multiplies
the uint8 photo by the upsampled coefficients in one OpenCV call; the rows are split among a few threads.
That took the refine from 10.5 ms to 5.4 ms, and 128-row bands (fewer numpy calls; they were 32 rows while
every call's temporaries still cost page faults, see `mmnet.runtime.memory`) to 3.7 ms, and float32 numerics
(below) to 2.5 ms. Pipelines that already matte several photos at once keep it on one thread: splitting there
too cost a 720p video 14 % of its frame rate.

Numerics: the guide is the network's uint8 input, so the window sums of its colours and of their products are
integers that float32 holds exactly, and the colour covariance comes out exact; then the sums with alpha and
the 3×3 solve (LDLᵀ) run in float32 too. On 23 EG1800 and CCP photos with the shipped model's mattes the
result is within 2.5e-4 of the plain float64 filter, a sixteenth of an 8-bit level (`tests/test_fast_paths.py`
holds it to 1e-3). Plain float32 moments of colours in [0, 1] were off by up to 0.45 in alpha on real
portraits: the 3×3 inverse of a grey window's covariance amplified their rounding. The coefficients of a 256²
matte took 3.47 ms as float64 moments with a cofactor inverse, 2.68 ms with exact colour sums and the solve
in float64, and 1.3 ms all in float32 (interleaved runs).
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from mmnet.data.preprocess import align_corners_scale, resize_align_corners

RADIUS = 1  # box radius at S×S
EPS = 1e-5  # regularisation, colours in [0, 1]: larger -> closer to plain bilinear
BAND = 128  # rows per band (measured 32/64/128/256 rows: 15.7/14.6/14.2/15.7 ms per predict)
MAX_THREADS = 4  # threads that share the rows of one photo (`parallel`): the process's cores, at most this
# Fewer rows run on one thread: `mmnet-1.0-128`'s predict of a 256×256 photo (LiteRT int8, 2 threads), interleaved,
# took 2.80 / 3.37 ms with the rows split (at 2 × BAND) and 2.54 / 3.17 ms without (two runs); at 384 rows the two
# ways tied within the noise.
PARALLEL_MIN_ROWS = 3 * BAND
# The coefficients cost about 10 µs a row at 256 columns, the evaluation about 2 µs at 600: a 256² matte's are
# split too. `predict` of a 600×800 photo (mmnet-1.0-256, LiteRT int8, 2 threads), interleaved, took 12.6 / 10.0 /
# 9.7 ms with them on one thread and 11.3 / 9.7 / 9.2 ms split (three runs).
COEFFICIENT_PARALLEL_MIN_ROWS = 2 * BAND


def upsample(alpha: np.ndarray, height: int, width: int) -> np.ndarray:
    """float32 S×S matte -> float32 height×width in [0, 1], plain bilinear."""
    return np.clip(resize_align_corners(alpha.astype(np.float32, copy=False), height, width), 0.0, 1.0)


def guided_upsample(alpha: np.ndarray, small: np.ndarray, photo: np.ndarray, radius: int = RADIUS,
                    eps: float = EPS, parallel: bool = True) -> np.ndarray:
    """float32 S×S matte -> float32 H×W in [0, 1], guided by the photo (colour guided filter).

    `small`: the uint8 S×S×3 photo the network saw (`Matting.network_input`); `photo`: uint8 H×W×3;
    parallel: split the rows among a few threads (the result is the same)."""
    return evaluate(coefficients(alpha, small, radius, eps, parallel), photo, parallel)


def coefficients(alpha: np.ndarray, small: np.ndarray, radius: int = RADIUS, eps: float = EPS,
                 parallel: bool = False) -> np.ndarray:
    """float32 S×S×4: (A_r, A_g, A_b, b/255) of the local linear model alpha ≈ A·I + b, box-averaged, for
    8-bit colours I: alpha = (A, b/255)·(R, G, B, 255), as `evaluate` takes it; `small`: the uint8 S×S×3 guide.

    Band by band, from the inputs to the averaged model, so that no temporary is large: fresh large arrays
    cost page faults on every call."""
    if small.dtype != np.uint8 or small.shape != (*alpha.shape, 3):
        raise ValueError(f"the guide must be uint8 {alpha.shape[0]}×{alpha.shape[1]}×3 like the matte, "
                         f"got {small.dtype} {small.shape}")
    height = alpha.shape[0]
    out = np.empty((*alpha.shape, 4), np.float32)

    def band(top: int, bottom: int) -> None:
        # The model is needed `radius` rows around the band (for its box average), and the inputs
        # `radius` rows around those; rows near a cut that is not the image's edge are dropped.
        model_low, model_high = max(0, top - radius), min(height, bottom + radius)
        low, high = max(0, model_low - radius), min(height, model_high + radius)
        model = _model(alpha[low:high], small[low:high], radius, eps)[model_low - low:model_high - low]
        out[top:bottom] = _box(model, radius)[top - model_low:bottom - model_low]

    _bands(band, height, parallel, COEFFICIENT_PARALLEL_MIN_ROWS)
    return out


def _model(alpha: np.ndarray, small: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """float32 rows×S×4 (A_r, A_g, A_b, b/255) for each window of a band of rows (not yet box-averaged).

    Sums over each window of n pixels, of the 8-bit colours x, their products xy and alpha p: M = n·Σxy −
    Σx·Σy + n²·255²·eps·I is n²·255² times the regularised covariance of colours in [0, 1], c = n·Σxp − Σx·Σp
    is n² times the covariance of 8-bit colours with alpha, and M A = c is solved per pixel by LDLᵀ (M is
    symmetric positive definite). For radius 1, n·Σxy < 2^24: M is integers that float32 holds exactly (but
    for the ridge), and all of it runs in float32; larger windows run in float64."""
    n = (2 * radius + 1) ** 2
    dtype = np.float32 if n * n * 255 * 255 < 2 ** 24 else np.float64
    r, g, b = (channel.astype(dtype) for channel in cv2.split(small))
    s_r, s_g, s_b = (_box(x, radius, mean=False) for x in (r, g, b))
    ridge = dtype(eps * (n * 255) ** 2)

    def scatter(x: np.ndarray, y: np.ndarray, s_x: np.ndarray, s_y: np.ndarray) -> np.ndarray:
        product = _box(x * y, radius, mean=False)
        product *= n
        product -= s_x * s_y
        return product

    m11, m21, m31 = scatter(r, r, s_r, s_r) + ridge, scatter(g, r, s_g, s_r), scatter(b, r, s_b, s_r)
    m22, m32, m33 = scatter(g, g, s_g, s_g) + ridge, scatter(b, g, s_b, s_g), scatter(b, b, s_b, s_b) + ridge
    p = alpha.astype(dtype, copy=False)
    s_p = _box(p, radius, mean=False)
    c1, c2, c3 = (scatter(x, p, s_x, s_p) for x, s_x in ((r, s_r), (g, s_g), (b, s_b)))
    # M = L·D·Lᵀ, L unit lower triangular, D = diag(m11, d2, d3); r1 = 1/m11
    r1 = 1 / m11
    l21, l31 = m21 * r1, m31 * r1
    d2 = m22 - l21 * m21
    t32 = m32 - l31 * m21
    l32 = t32 / d2
    d3 = m33 - l31 * m31 - l32 * t32
    # L y = c, then D Lᵀ A = y
    c2 -= l21 * c1
    c3 -= l31 * c1 + l32 * c2
    a3 = c3 / d3
    a2 = c2 / d2 - l32 * a3
    a1 = c1 * r1 - l21 * a2 - l31 * a3
    bias = (s_p - a1 * s_r - a2 * s_g - a3 * s_b) * dtype(1 / (255 * n))
    return cv2.merge([x.astype(np.float32, copy=False) for x in (a1, a2, a3, bias)])


def evaluate(model: np.ndarray, photo: np.ndarray, parallel: bool = False) -> np.ndarray:
    """float32 S×S×4 `coefficients` and a uint8 H×W×3 photo -> float32 H×W alpha = A·I + b in [0, 1].

    Band by band: the coefficients upsampled (rows of `resize_align_corners`), times the photo's
    (R, G, B, 255) in one OpenCV multiply, summed."""
    height, width = photo.shape[:2]
    out = np.empty((height, width), np.float32)

    def band(top: int, bottom: int) -> None:
        local = _align_corners_rows(model, height, width, top, bottom - top)
        product = cv2.multiply(cv2.cvtColor(photo[top:bottom], cv2.COLOR_RGB2RGBA), local, dtype=cv2.CV_32F)
        rows = out[top:bottom]
        np.add(product[..., 0], product[..., 1], out=rows)
        rows += product[..., 2]
        rows += product[..., 3]
        np.clip(rows, 0.0, 1.0, out=rows)

    _bands(band, height, parallel)
    return out


def _bands(work: Callable[[int, int], None], height: int, parallel: bool,
           min_rows: int = PARALLEL_MIN_ROWS) -> None:
    """work(top, bottom) for each band of at most BAND rows of 0 … height−1: in order, or (`parallel`, at least
    `min_rows` rows) with the rows cut into one piece per thread of a shared pool (numpy and OpenCV release
    the GIL, so pieces run side by side)."""
    def piece(start: int, stop: int) -> None:
        for top in range(start, stop, BAND):
            work(top, min(stop, top + BAND))

    pieces = _threads() if parallel and height >= min_rows else 1
    if pieces == 1:
        piece(0, height)
        return
    cuts = np.linspace(0, height, pieces + 1).astype(int)
    for future in [_pool().submit(piece, start, stop) for start, stop in zip(cuts[:-1], cuts[1:])]:
        future.result()


@functools.cache
def _threads() -> int:
    """The cores this process may run on (its affinity), at most MAX_THREADS; read at the first refine."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(MAX_THREADS, cores))


@functools.cache
def _pool() -> ThreadPoolExecutor:
    """The shared pool, made at the first refine that splits its rows (none is made at import)."""
    return ThreadPoolExecutor(_threads(), thread_name_prefix="mmnet-refine")


def _align_corners_rows(array: np.ndarray, height: int, width: int, top: int, rows: int) -> np.ndarray:
    """Rows top … top+rows−1 of `resize_align_corners(array, height, width)`, computed alone."""
    in_height, in_width = array.shape[:2]
    scale_y = align_corners_scale(in_height, height)
    matrix = np.array([[align_corners_scale(in_width, width), 0.0, 0.0], [0.0, scale_y, top * scale_y]])
    return cv2.warpAffine(array, matrix, (width, rows), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def _box(x: np.ndarray, radius: int, mean: bool = True) -> np.ndarray:
    """Mean (or, `mean=False`, sum) over a (2r+1)² window."""
    size = (2 * radius + 1, 2 * radius + 1)
    return cv2.boxFilter(x, -1, size, normalize=mean, borderType=cv2.BORDER_REFLECT)
