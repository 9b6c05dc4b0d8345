"""Does guided upsampling help? GAUSS_GRAD and MAD at the photo's resolution (800×600) on the EG1800
validation hold-out, with the matte brought back by plain bilinear upsampling and by the guided filter.

    python benchmarks/refine_quality.py [--model NAME|PATH] [--images 137]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import mmnet
from mmnet.data.dataset import find_pairs, select
from mmnet.data.holdout import HOLDOUT_PERCENT
from mmnet.data.io import read_image, read_mask
from mmnet.evaluation.metrics import gauss_grad, mad

EG1800 = Path(__file__).resolve().parents[2] / "shared" / "data" / "eg1800"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a shipped name, .onnx or .pt (default: the default model)")
    parser.add_argument("--dataset", type=Path, default=EG1800)
    parser.add_argument("--images", type=int, default=137)
    args = parser.parse_args()
    model = mmnet.load(args.model, threads=2)
    pairs = select(find_pairs(args.dataset, "train"), HOLDOUT_PERCENT, holdout=True)[:args.images]
    results: dict[bool, list[tuple[float, float, float]]] = {False: [], True: []}
    for pair in pairs:
        rgb, gt = read_image(pair.image), read_mask(pair.mask).astype(np.float32) / 255
        small = model.network_input(rgb)
        alpha = model.infer(small[None])[0]
        for refine in (False, True):
            start = time.perf_counter()
            full = model.to_full(alpha, rgb, small, refine)
            results[refine].append((gauss_grad(full, gt), mad(full, gt), time.perf_counter() - start))
    print(f"{model!r}, {len(pairs)} held-out EG1800 portraits at their own resolution")
    print("| upsampling | GAUSS_GRAD ×1e-3 | MAD | ms |\n|---|---|---|---|")
    for refine, name in ((False, "bilinear"), (True, "guided filter (default)")):
        r = np.array(results[refine])
        print(f"| {name} | {r[:, 0].mean() * 1e3:.3f} | {r[:, 1].mean():.4f} | {np.median(r[:, 2]) * 1e3:.1f} |")


if __name__ == "__main__":
    main()
