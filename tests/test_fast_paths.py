"""The fast paths of the runtime give what the plain computations give: the guided filter in bands of rows,
Blur-Fusion with its local means at a reduced resolution and its last step in bands, and the cut-out's
transparent pixels."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from mmnet.data.preprocess import resize_align_corners
from mmnet.data.synthetic import synthetic_pair
from mmnet.runtime import compose, foreground, refine


def plain_guided_upsample(alpha: np.ndarray, small: np.ndarray, photo: np.ndarray, radius: int = 1,
                          eps: float = 1e-5) -> np.ndarray:
    """The colour guided filter on whole images in float64, with an explicit 3×3 solve per pixel; `small`:
    the uint8 guide."""
    box = lambda x: cv2.boxFilter(x, -1, (2 * radius + 1,) * 2, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    guide, p = small.astype(np.float64) / 255, alpha.astype(np.float64)
    mean_i, mean_p = box(guide), box(p)
    covariance = box(guide * p[..., None]) - mean_i * mean_p[..., None]
    sigma = box(np.einsum("...i,...j->...ij", guide, guide).reshape(*p.shape, 9)).reshape(*p.shape, 3, 3)
    sigma -= np.einsum("...i,...j->...ij", mean_i, mean_i) - eps * np.eye(3)
    a = np.linalg.solve(sigma, covariance[..., None])[..., 0]
    b = mean_p - (a * mean_i).sum(-1)
    coefficients = box(np.dstack([a, b])).astype(np.float32)
    full = resize_align_corners(coefficients, *photo.shape[:2])
    return np.clip((full[..., :3] * photo / 255).sum(-1) + full[..., 3], 0, 1)


def plain_blur_fusion(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Blur-Fusion at full resolution on whole images (radii 3 % of the longer side, then 6 px)."""
    image = rgb.astype(np.float64) / 255
    a = np.clip(alpha, 0, 1).astype(np.float64)[..., None]
    f, b = image, image
    for radius in (max(7, round(0.03 * max(alpha.shape))), 6):
        blur = lambda x: cv2.blur(x, (2 * radius + 1,) * 2, borderType=cv2.BORDER_REFLECT)  # noqa: E731
        mean_a = blur(a[..., 0])[..., None]
        mean_f = blur(f * a) / (mean_a + 1e-5)
        mean_b = blur(b * (1 - a)) / (1 + 1e-5 - mean_a)
        f, b = np.clip(mean_f + a * (image - a * mean_f - (1 - a) * mean_b), 0, 1), mean_b
    return f


@pytest.fixture(scope="module")
def portrait() -> tuple[np.ndarray, np.ndarray]:
    """A 600×450 synthetic portrait and a soft matte of it."""
    rgb, matte = synthetic_pair(np.random.default_rng(11), 600, 450)
    return rgb, cv2.GaussianBlur(matte.astype(np.float32) / 255, (0, 0), 2)


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("side, height, width, radius", [(64, 150, 110, 1), (48, 37, 53, 1), (40, 1000, 20, 1),
                                                         (256, 301, 199, 1), (200, 250, 260, 3), (400, 450, 390, 1)])
def test_guided_upsampling_in_bands_is_the_plain_filter(side, height, width, radius, parallel):
    rng = np.random.default_rng(side)
    photo = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (0, 0), 1.5)
    small = resize_align_corners(photo, side)
    alpha = cv2.GaussianBlur(rng.random((side, side), dtype=np.float32), (0, 0), 2)
    np.testing.assert_allclose(refine.guided_upsample(alpha, small, photo, radius=radius, parallel=parallel),
                               plain_guided_upsample(alpha, small, photo, radius=radius), atol=1e-3)


def test_foreground_at_full_resolution_is_plain_blur_fusion(portrait):
    rgb, alpha = portrait
    estimate = foreground.estimate(rgb, alpha, work=max(alpha.shape))
    assert estimate.shape == rgb.shape and estimate.dtype == np.float32
    np.testing.assert_allclose(estimate, plain_blur_fusion(rgb, alpha), atol=1e-4)
    np.testing.assert_allclose(foreground.estimate(rgb, alpha, peak=255), 255 * foreground.estimate(rgb, alpha),
                               rtol=1e-5, atol=1e-3)


def test_foreground_from_reduced_means_stays_close(portrait):
    """What shows of the colours in a composite (α·F over the edge) moves by less than half a level on average."""
    rgb, alpha = portrait
    edge = (alpha > 0.02) & (alpha < 0.98)
    difference = alpha[..., None] * np.abs(foreground.estimate(rgb, alpha) - plain_blur_fusion(rgb, alpha))
    assert edge.sum() > 1000 and 255 * difference[edge].mean() < 0.5  # 0.2 here; F = I: 5.2


def test_cutout_is_black_where_it_is_transparent(portrait):
    rgb, alpha = portrait
    alpha = alpha.copy()
    alpha[:, :40] = 0
    rgba = compose.cutout(rgb, alpha)
    np.testing.assert_array_equal(rgba[..., 3], compose.to_uint8(alpha))
    assert not rgba[rgba[..., 3] == 0].any()
    shown = rgba[..., 3] == 255
    np.testing.assert_array_equal(rgba[shown][:, :3], rgb[shown])
