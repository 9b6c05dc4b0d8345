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
every call's temporaries still cost page faults, see `mmnet.runtime.memory`) to 3.7 ms. Pipelines that
already matte several photos at once keep it on one thread: splitting there too cost a 720p video 14 % of its
frame rate. float32 statistics lose the exact filter: plain float32 was off by up to 0.45 in alpha on real
portraits (the 3×3 inverse of a grey window's covariance amplifies rounding), and float32 moments with a float64
inverse, 0.6 ms faster, were still off by up to 8e-4 on real portraits.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from mmnet.data.augment import resize_align_corners

RADIUS = 1  # box radius at S×S
EPS = 1e-5  # regularisation, colours in [0, 1]: larger -> closer to plain bilinear
BAND = 128  # rows per band (measured 32/64/128/256 rows: 15.7/14.6/14.2/15.7 ms per predict)
THREADS = min(4, os.cpu_count() or 1)  # threads that share the rows of one photo (`parallel`)
# Fewer rows run on one thread: `mmnet-1.0-128`'s predict of a 256×256 photo (LiteRT int8, 2 threads), interleaved,
# took 2.80 / 3.37 ms with the rows split (at 2 × BAND) and 2.54 / 3.17 ms without (two runs); at 384 rows the two
# ways tied within the noise.
PARALLEL_MIN_ROWS = 3 * BAND


def upsample(alpha: np.ndarray, height: int, width: int) -> np.ndarray:
    """float32 S×S matte -> float32 height×width in [0, 1], plain bilinear."""
    return np.clip(resize_align_corners(alpha.astype(np.float32, copy=False), height, width), 0.0, 1.0)


def guided_upsample(alpha: np.ndarray, small: np.ndarray, photo: np.ndarray, radius: int = RADIUS,
                    eps: float = EPS, parallel: bool = True) -> np.ndarray:
    """float32 S×S matte -> float32 H×W in [0, 1], guided by the photo (colour guided filter).

    `small`: the S×S×3 photo the network saw, float32 in [0, 1] (channels last); `photo`: uint8 H×W×3;
    parallel: split the rows among a few threads (the result is the same)."""
    return evaluate(coefficients(alpha, small, radius, eps, parallel), photo, parallel)


def coefficients(alpha: np.ndarray, small: np.ndarray, radius: int = RADIUS, eps: float = EPS,
                 parallel: bool = False) -> np.ndarray:
    """float32 S×S×4: (A_r, A_g, A_b, b) of the local linear model alpha ≈ A·I + b, box-averaged.

    The window statistics are in float64: E[x²] − E[x]² cancels badly in float32, and the 3×3 colour
    covariance of a near-grey window is near-singular. Band by band, from the inputs to the averaged
    model, so that no temporary is large: fresh large arrays cost page faults on every call."""
    height = alpha.shape[0]
    out = np.empty((*alpha.shape, 4), np.float32)

    def band(top: int, bottom: int) -> None:
        # The model is needed `radius` rows around the band (for its box average), and the inputs
        # `radius` rows around those; rows near a cut that is not the image's edge are dropped.
        model_low, model_high = max(0, top - radius), min(height, bottom + radius)
        low, high = max(0, model_low - radius), min(height, model_high + radius)
        model = _model(alpha[low:high], small[low:high], radius, eps)[model_low - low:model_high - low]
        out[top:bottom] = _box(model, radius)[top - model_low:bottom - model_low]

    _bands(band, height, parallel)
    return out


def _model(alpha: np.ndarray, small: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """float64 rows×S×4 (A_r, A_g, A_b, b) for each window of a band of rows (not yet box-averaged)."""
    p = alpha.astype(np.float64)
    r, g, b = (small[..., c].astype(np.float64) for c in range(3))
    m_r, m_g, m_b, m_p, m_rp, m_gp, m_bp, m_rr, m_rg, m_rb, m_gg, m_gb, m_bb = (
        _box(x, radius) for x in (r, g, b, p, r * p, g * p, b * p, r * r, r * g, r * b, g * g, g * b, b * b))
    cov_r, cov_g, cov_b = m_rp - m_r * m_p, m_gp - m_g * m_p, m_bp - m_b * m_p
    # Σ + eps·I, symmetric 3×3 per pixel, inverted by cofactors.
    v_rr, v_gg, v_bb = m_rr - m_r * m_r + eps, m_gg - m_g * m_g + eps, m_bb - m_b * m_b + eps
    v_rg, v_rb, v_gb = m_rg - m_r * m_g, m_rb - m_r * m_b, m_gb - m_g * m_b
    i_rr, i_rg, i_rb = v_gg * v_bb - v_gb * v_gb, v_gb * v_rb - v_rg * v_bb, v_rg * v_gb - v_gg * v_rb
    i_gg, i_gb, i_bb = v_rr * v_bb - v_rb * v_rb, v_rb * v_rg - v_rr * v_gb, v_rr * v_gg - v_rg * v_rg
    det = v_rr * i_rr + v_rg * i_rg + v_rb * i_rb
    model = np.empty((*alpha.shape, 4), np.float64)
    a_r = model[..., 0] = (i_rr * cov_r + i_rg * cov_g + i_rb * cov_b) / det
    a_g = model[..., 1] = (i_rg * cov_r + i_gg * cov_g + i_gb * cov_b) / det
    a_b = model[..., 2] = (i_rb * cov_r + i_gb * cov_g + i_bb * cov_b) / det
    model[..., 3] = m_p - a_r * m_r - a_g * m_g - a_b * m_b
    return model


def evaluate(model: np.ndarray, photo: np.ndarray, parallel: bool = False) -> np.ndarray:
    """float32 S×S×4 `coefficients` and a uint8 H×W×3 photo -> float32 H×W alpha = A·I + b in [0, 1].

    Band by band: the coefficients upsampled (rows of `resize_align_corners`), times the photo's
    (R, G, B, 255) in one OpenCV multiply (A and b scaled by 1/255 to take 8-bit colours), summed."""
    height, width = photo.shape[:2]
    scaled = model * np.float32(1 / 255)
    out = np.empty((height, width), np.float32)

    def band(top: int, bottom: int) -> None:
        local = _align_corners_rows(scaled, height, width, top, bottom - top)
        product = cv2.multiply(cv2.cvtColor(photo[top:bottom], cv2.COLOR_RGB2RGBA), local, dtype=cv2.CV_32F)
        rows = out[top:bottom]
        np.add(product[..., 0], product[..., 1], out=rows)
        rows += product[..., 2]
        rows += product[..., 3]
        np.clip(rows, 0.0, 1.0, out=rows)

    _bands(band, height, parallel)
    return out


def _bands(work: Callable[[int, int], None], height: int, parallel: bool) -> None:
    """work(top, bottom) for each band of at most BAND rows of 0 … height−1: in order, or with the rows cut
    into one piece per thread of a shared pool (numpy and OpenCV release the GIL, so pieces run side by side)."""
    def piece(start: int, stop: int) -> None:
        for top in range(start, stop, BAND):
            work(top, min(stop, top + BAND))

    pieces = THREADS if parallel and height >= PARALLEL_MIN_ROWS else 1
    if pieces == 1:
        piece(0, height)
        return
    cuts = np.linspace(0, height, pieces + 1).astype(int)
    for future in [_pool().submit(piece, start, stop) for start, stop in zip(cuts[:-1], cuts[1:])]:
        future.result()


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(THREADS, thread_name_prefix="mmnet-refine")


def _align_corners_rows(array: np.ndarray, height: int, width: int, top: int, rows: int) -> np.ndarray:
    """Rows top … top+rows−1 of `resize_align_corners(array, height, width)`, computed alone."""
    in_height, in_width = array.shape[:2]
    scale_y = (in_height - 1) / (height - 1)
    matrix = np.array([[(in_width - 1) / (width - 1), 0.0, 0.0], [0.0, scale_y, top * scale_y]])
    return cv2.warpAffine(array, matrix, (width, rows), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)² window."""
    size = (2 * radius + 1, 2 * radius + 1)
    return cv2.boxFilter(x, -1, size, borderType=cv2.BORDER_REFLECT)
