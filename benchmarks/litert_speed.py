"""`predict` on a 256×256 photo in every runtime against MediaPipe's selfie segmenter doing the same work
(its input prepared, the model run, its output at the photo's size), interleaved in one run, so that every
contender sees the same machine; and LiteRT's profile by kind of operator.

    python benchmarks/litert_speed.py [--threads 2] [--runs 100] [--models mmnet-1.0-256 mmnet-1.0-128]
                                      [--profile]

Contenders for each model: ONNX Runtime fp32, LiteRT fp32, LiteRT int8 (what `mmnet.load` runs where it
ships it as the default), and MediaPipe. The photo: the first EG1800 hold-out portrait where ../shared is
present, else the example portrait, squashed to 256×256. Writes benchmarks/results/litert_speed.json.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import cv2

import mmnet
from mmnet.bench import latency
from mmnet.bench.machine import describe as machine
from mmnet.data.io import read_image
from mmnet.peers.mediapipe import MediaPipeSelfie, fetch_selfie_model

ROOT = Path(__file__).resolve().parents[1]
EG1800 = ROOT.parent / "shared" / "data" / "eg1800"
RESULTS = ROOT / "benchmarks" / "results" / "litert_speed.json"


def photo_256() -> tuple:
    """The 256×256 uint8 RGB test photo and where it came from."""
    if (EG1800 / "train").is_dir():
        from mmnet.bench.quality import holdout_pairs

        source = holdout_pairs(EG1800, 1)[0].image
    else:
        source = ROOT / "examples" / "astronaut.jpg"
    return cv2.resize(read_image(source), (256, 256), interpolation=cv2.INTER_AREA), str(source)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--models", nargs="+", default=["mmnet-1.0-256", "mmnet-1.0-128"])
    parser.add_argument("--profile", action="store_true", help="also LiteRT's per-operator profile of each file")
    args = parser.parse_args()
    photo, source = photo_256()
    selfie = MediaPipeSelfie(fetch_selfie_model(), threads=args.threads)
    runners = {"mediapipe predict": lambda: selfie.predict_full(photo)}
    loaded = {}
    for name in args.models:
        contenders = {"onnxruntime fp32": {"backend": "onnxruntime"},
                      "litert fp32": {"backend": "litert", "precision": "fp32"},
                      "litert int8": {"backend": "litert", "precision": "int8"}}
        for label, options in contenders.items():
            model = loaded[f"{name} {label}"] = mmnet.load(name, threads=args.threads, **options)
            runners[f"{name} {label}"] = lambda model=model: model.predict(photo)
        default = mmnet.load(name, threads=args.threads)
        print(f"{name}: mmnet.load() runs {default.backend!r}")
    started = time.perf_counter()
    medians = latency.interleaved(runners, args.runs, args.warmup)
    mediapipe = medians["mediapipe predict"]
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(), "threads": args.threads,
              "runs": args.runs, "photo": source, "load_average": os.getloadavg()[0],
              "seconds": round(time.perf_counter() - started, 1), "median_ms": medians,
              "against_mediapipe": {key: ms / mediapipe for key, ms in medians.items()}}
    for key, ms in medians.items():
        print(f"{key:34s} {ms:6.2f} ms  {ms / mediapipe:4.2f}× MediaPipe")
    if args.profile:
        from mmnet.bench.litert_profile import profile_operators

        result["profile"] = {}
        for key, model in loaded.items():
            if model.backend.name == "litert":
                rows = result["profile"][key] = profile_operators(model.path, args.threads)
                print(f"\n{key}: {sum(row['ms'] for row in rows):.2f} ms summed over operators timed alone")
                for row in rows[:8]:
                    rate = f"{row['gmacs_per_s']:.0f} GMAC/s" if row["gmacs_per_s"] else ""
                    print(f"  {row['op']:34s} {row['nodes']:3d} {row['ms']:6.2f} ms {row['share']:4.0%} {rate}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
