"""How good and how fast the foreground colours of cut-outs and composites are (`mmnet.runtime.foreground`),
at the resolution their local means are taken at, against the photo's own colours and pymatting's
`estimate_foreground_ml`.

    python benchmarks/foreground_quality.py [--images 12] [--work 400 300 200]

Held-out EG1800 portraits (600×800) with their soft mattes α are recomposited over other photos B:
I = αP + (1−α)B, so that the true foreground is the portrait P. Each method estimates F from I and α;
the error is the alpha-weighted colour error α·|F − P| over the edge band 0.02 < α < 0.98, in 8-bit
levels (what shows in a new composite), and the same against the ML estimate. Needs ../shared (the
data) and pymatting (`pip install 'mmnet[train]'`).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from matte_speed import machine  # a sibling script

from mmnet.data.dataset import find_pairs, select
from mmnet.data.holdout import HOLDOUT_PERCENT
from mmnet.data.io import read_image, read_mask
from mmnet.files import write_atomic
from mmnet.runtime import compose, foreground

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results" / "foreground_quality.json"
Estimator = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (uint8 photo, float alpha) -> float32 F in [0, 1]
Method = tuple[Estimator, Callable[[np.ndarray, np.ndarray], object]]  # (the estimate, what a composite runs)


def recomposited(count: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(uint8 composite I, float32 alpha, float32 true foreground P in [0, 1]) of `count` held-out photos."""
    pairs = select(find_pairs(SHARED / "eg1800", "train"), HOLDOUT_PERCENT, holdout=True)[:count]
    backgrounds = sorted((SHARED / "backgrounds").glob("*.jpg"))
    if not pairs or not backgrounds:
        raise SystemExit(f"needs the EG1800 portraits and backgrounds under {SHARED}")
    samples = []
    for index, pair in enumerate(pairs):
        photo = read_image(pair.image).astype(np.float32) / 255
        alpha = read_mask(pair.mask).astype(np.float32) / 255
        behind = compose.cover(read_image(backgrounds[(7 * index) % len(backgrounds)]), *alpha.shape)
        mixed = alpha[..., None] * photo + (1 - alpha[..., None]) * behind.astype(np.float32) / 255
        samples.append((np.clip(mixed * 255 + 0.5, 0, 255).astype(np.uint8), alpha, photo))
    return samples


def error(estimate: np.ndarray, truth: np.ndarray, alpha: np.ndarray) -> float:
    """Mean α·|F − truth| over 0.02 < α < 0.98 and the colours, in 8-bit levels."""
    band = (alpha > 0.02) & (alpha < 0.98)
    return float(255 * (alpha[..., None] * np.abs(estimate - truth))[band].mean())


def pymatting_ml(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    from pymatting import estimate_foreground_ml

    return estimate_foreground_ml(rgb.astype(np.float64) / 255, alpha.astype(np.float64)).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--work", type=int, nargs="+", default=[400, 300, 200, 150],
                        help="longer sides at which to take the local means (the photo's own is always measured)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    samples = recomposited(args.images)
    side = max(samples[0][1].shape)
    methods: dict[str, Method] = {"photo's colours (F = I)": (lambda rgb, alpha: rgb.astype(np.float32) / 255,
                                                              lambda rgb, alpha: None)}
    for work in [side] + args.work:
        label = f"Blur-Fusion, means at {work} px" + (" (the default)" if work == foreground.WORK else "") + \
            (" = full resolution" if work == side else "")
        methods[label] = (lambda rgb, alpha, work=work: foreground.estimate(rgb, alpha, work=work),
                          lambda rgb, alpha, work=work: foreground.estimate(rgb, alpha, work=work, peak=255))
    methods["pymatting estimate_foreground_ml"] = (pymatting_ml, pymatting_ml)

    references = [pymatting_ml(rgb, alpha) for rgb, alpha, _ in samples]
    rows = {}
    for name, (method, work) in methods.items():
        errors, against_ml, seconds = [], [], []
        for (rgb, alpha, truth), reference in zip(samples, references):
            start = time.perf_counter()
            work(rgb, alpha)
            seconds.append(time.perf_counter() - start)
            estimate = method(rgb, alpha)
            errors.append(error(estimate, truth, alpha))
            against_ml.append(error(estimate, reference, alpha))
        rows[name] = {"error": statistics.mean(errors), "error_vs_ml": statistics.mean(against_ml),
                      "ms": 1000 * statistics.median(seconds)}

    print(f"machine  {machine()}; OpenCV threads 1")
    print(f"photos   {len(samples)} held-out EG1800 portraits, {samples[0][1].shape[1]}x{samples[0][1].shape[0]}, "
          f"recomposited over other photos")
    print("\n| foreground estimate | error (8-bit levels) | vs ML estimate | ms per photo |\n"
          "|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['error']:.2f} | {row['error_vs_ml']:.2f} | {row['ms']:.1f} |")
    write_atomic(RESULTS, (json.dumps({"machine": machine(), "threads": 1, "photos": len(samples),
                                       "size": list(samples[0][1].shape[::-1]), "methods": rows}, indent=2)
                           + "\n").encode())
    print(f"\nwritten {RESULTS}")


if __name__ == "__main__":
    main()
