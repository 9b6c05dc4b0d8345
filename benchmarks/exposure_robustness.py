"""Does the matte hold when the same photo is brighter, darker or of another gamma? IoU, GAUSS_GRAD and MAD at
800×600 on every other EG1800 hold-out portrait, each photo changed by one 8-bit lookup table.

    python benchmarks/exposure_robustness.py [--model NAME|PATH] [--threads 2]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

import mmnet
from mmnet.data.dataset import find_pairs, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_card import HOLDOUT_PERCENT, SHARED, Predictor, evaluate

CHANGES = {"as taken": (1.0, 1.0), "brightness ×1.4": (1.4, 1.0), "brightness ×0.6": (0.6, 1.0),
           "gamma 0.6": (1.0, 0.6), "gamma 1.6": (1.0, 1.6)}


def lookup(gain: float, gamma: float) -> np.ndarray:
    levels = np.clip(np.arange(256) / 255 * gain, 0, 1) ** gamma
    return np.round(255 * levels).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a shipped name, .onnx or .pt (default: the default model)")
    parser.add_argument("--dataset", type=Path, default=SHARED / "eg1800")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    pairs = [(p.image, p.mask) for p in select(find_pairs(args.dataset, "train"), HOLDOUT_PERCENT, True)][::2]
    model = mmnet.load(args.model, threads=args.threads)
    print(f"{model!r}, {len(pairs)} held-out EG1800 portraits\n"
          "| photo | IoU | GAUSS_GRAD ×1e-3 | MAD |\n|---|---|---|---|")
    for name, (gain, gamma) in CHANGES.items():
        table = lookup(gain, gamma)
        predictor = Predictor(name, lambda rgb: model.network_input(cv2.LUT(rgb, table))[None], model.infer,
                              lambda out: out[0], {})
        r = evaluate(predictor, pairs)
        print(f"| {name} | {r['iou']:.4f} | {r['gauss_grad_full'] * 1e3:.3f} | {r['mad_full']:.4f} |", flush=True)


if __name__ == "__main__":
    main()
