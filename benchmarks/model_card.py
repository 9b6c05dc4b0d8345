"""The model card's numbers (docs/models.md), measured in one run: every shipped model and MediaPipe's selfie
segmenter, scored by the same code on the same images, with latency on this machine.

    python benchmarks/model_card.py [--models mmnet-1.0-256 ...] [--threads 2]

Data, each part never trained on (cached under ~/.cache/mmnet):
- the 10 % validation hold-out of ../shared/data/eg1800/train, centred portraits;
- the 10 % hold-out of ../shared/data/ccp/train, street photos of full figures, as they are, with mattes made
  by `mmnet prepare-alpha` from their person masks (made here on the first run);
- composited sets on the held-out 15 % of ../shared/data/backgrounds: EG1800's held-out people as portraits,
  600×800 (W×H) and 800×600; and scenes of the held-out people of both sets (groups of up to 4, each 5-100 %
  of the height, cut by any edge), 600×800 and 800×600;
- the example portrait's face, suit and backdrop.
MediaPipe's selfie segmenter runs its general model on portrait and square photos and its landscape model on
landscape ones, as its users would. Writes benchmarks/results/model_card.json and the tables between the
markers of docs/models.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np

from mmnet.data.composite_set import build_composite_set
from mmnet.data.prepare_alpha import prepare_alpha
from mmnet.data.dataset import find_pairs, select
from mmnet.data.io import read_image, read_mask
from mmnet.evaluation.metrics import METRIC_NAMES, MetricMean, resize_alpha, score

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
HOLDOUT_PERCENT = 10.0
BEGIN, END = "<!-- model-card:begin -->", "<!-- model-card:end -->"
EXAMPLE = ROOT / "examples" / "astronaut.jpg"  # 512×512
EXAMPLE_REGIONS = json.loads((ROOT / "examples" / "astronaut.regions.json").read_text())  # as tests/test_shipped.py


class Predictor:
    """A model as the benchmark sees it: `prepare` (photo -> model input), `run` (the model call) and
    `alpha` (its output as the network-resolution alpha that `metrics.score` upsamples)."""

    def __init__(self, name: str, prepare: Callable, run: Callable, alpha: Callable, info: dict) -> None:
        self.name, self.prepare, self.run, self.alpha, self.info = name, prepare, run, alpha, info

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        return self.alpha(self.run(self.prepare(rgb)))


def mmnet_predictor(name: str, threads: int) -> Predictor:
    import mmnet
    from mmnet.models.complexity import count_macs, count_parameters
    from mmnet.training.checkpoint import load_model  # torch: only for the parameter and MAC counts

    model = mmnet.load(name, threads=threads, backend="onnxruntime")  # the network in fp32, as always measured
    net, state = load_model(name)  # a shipped name's weights, or a .pt
    info = {"params": count_parameters(net)["params"], "macs": count_macs(net, state["size"]),
            "size": state["size"], "runtime": f"{model.backend.name} (fp32)"}
    return Predictor(name, lambda rgb: model.network_input(rgb)[None], model.infer, lambda out: out[0], info)


def mediapipe_predictor(threads: int) -> Predictor:
    """The general model (256×256) for portrait and square photos, the landscape model (144×256) for wider ones."""
    from mmnet.peers.mediapipe import MediaPipeSelfie, fetch_selfie_model

    general = MediaPipeSelfie(fetch_selfie_model(), threads=threads)
    landscape = MediaPipeSelfie(fetch_selfie_model(landscape=True), threads=threads)

    def prepare(rgb: np.ndarray) -> tuple[MediaPipeSelfie, np.ndarray]:
        peer = landscape if rgb.shape[1] > rgb.shape[0] else general
        return peer, peer.prepare(rgb)

    info = {"params": None, "macs": None, "size": 256, "runtime": "LiteRT (fp32)"}
    return Predictor("mediapipe-selfie", prepare, lambda prepared: prepared[0].run_prepared(prepared[1]),
                     lambda out: np.asarray(out), info)


def ccp_dataset(root: Path, ccp: Path) -> Path:
    """`root` in the original layout for ../shared/data/ccp: its photos linked, its mattes made from its
    person masks by `mmnet prepare-alpha` (about 5 min the first time, all 1003)."""
    (root / "train").mkdir(parents=True, exist_ok=True)
    if not (root / "train" / "image").exists():
        (root / "train" / "image").symlink_to((ccp / "train" / "image").resolve())
    summary = prepare_alpha(ccp / "train" / "image", ccp / "train" / "seg", root / "train" / "mask")
    if summary.failed:
        raise SystemExit(f"prepare-alpha failed on CCP:\n  {summary.report()}")
    return root


def evaluate(predictor: Predictor, pairs: list[tuple[Path, Path]]) -> dict[str, float]:
    means = MetricMean()
    for image_path, mask_path in pairs:
        means.update(score(predictor.predict(read_image(image_path)), read_mask(mask_path) / 255.0))
    return means.result()


def example_regions(predictor: Predictor) -> dict[str, float]:
    """Mean alpha over the face, the suit and the backdrop of the example portrait (alpha upsampled bilinearly,
    as for the metrics): a photo from outside EG1800, with a flag, a helmet and a model shuttle around her."""
    rgb = read_image(EXAMPLE)
    alpha = resize_alpha(np.asarray(predictor.predict(rgb), np.float32), *rgb.shape[:2])
    return {name: float(alpha[top:bottom, left:right].mean())
            for name, (top, bottom, left, right) in EXAMPLE_REGIONS.items()}


def latencies(predictors: list[Predictor], rgb: np.ndarray, runs: int = 60, warmup: int = 10) -> dict:
    """Median ms of the model call alone and of the whole predict (prepare + call + output), interleaved
    in rounds so that every model sees the same machine state."""
    prepared = {p.name: p.prepare(rgb) for p in predictors}
    for p in predictors:
        for _ in range(warmup):
            p.run(prepared[p.name])
    model_ms: dict[str, list[float]] = {p.name: [] for p in predictors}
    total_ms: dict[str, list[float]] = {p.name: [] for p in predictors}
    for _ in range(runs // 10):
        for p in predictors:
            for _ in range(10):
                start = time.perf_counter()
                p.run(prepared[p.name])
                model_ms[p.name].append(1000 * (time.perf_counter() - start))
                start = time.perf_counter()
                p.predict(rgb)
                total_ms[p.name].append(1000 * (time.perf_counter() - start))
    return {p.name: {"model_ms": statistics.median(model_ms[p.name]),
                     "predict_ms": statistics.median(total_ms[p.name])} for p in predictors}


def markdown(results: dict) -> str:
    lines = [f"Measured {results['date']} on {results['machine']}, {results['threads']} threads, by "
             "`python benchmarks/model_card.py`. GAUSS_GRAD and MAD at 800×600 (the paper's protocol: the "
             "network's alpha upsampled bilinearly to the photo), GAUSS_GRAD ×1e-3; DIM SAD, Grad and Conn "
             "/1000 at 800×600; person IoU at alpha > 0.5. Latency: batch 1, the model call alone and "
             "`predict` of a 600×800 photo at network resolution (input prepared, model run, output read)."]
    if any(r.get("run", results["run"]) != results["run"] for r in results["models"].values()):
        lines[0] += (" A model followed by a time was not re-run: its row is from that earlier run on the same sets "
                     "(`--keep`), so its latencies were not interleaved with the others'.")
    counts = results["counts"]
    titles = {"holdout": f"EG1800 validation hold-out ({counts['holdout']} portraits)",
              "ccp": f"CCP hold-out ({counts['ccp']} street photos of full figures, 550×832, as they are)",
              "scenes": f"Scenes ({counts['scenes']} portrait photos, 600×800: held-out people of both sets, "
                        "alone or in groups, 5-100 % of the height, on held-out backgrounds)",
              "scenes_landscape": f"Scenes, landscape ({counts['scenes_landscape']} photos, 800×600)",
              "composite": f"Composited portraits ({counts['composite']} portrait photos, 600×800)",
              "landscape": f"Composited portraits, landscape ({counts['landscape']} photos, 800×600)"}
    for split, title in titles.items():
        lines += ["", f"**{title}**", "",
                  "| model | input | params | MACs | IoU | GAUSS_GRAD 800×600 | MAD 800×600 | GAUSS_GRAD net | "
                  "MAD net | SAD | MSE | Grad | Conn | model ms | predict ms |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, r in results["models"].items():
            s, info, lat = r[split], r["info"], r["latency"]
            params = f"{info['params']:,}" if info["params"] else "–"
            macs = f"{info['macs'] / 1e6:.0f} M" if info["macs"] else "–"
            lines.append(f"| {_label(name, r, results)} | {info['size']}² | {params} | {macs} | {s['iou']:.4f} | "
                         f"{s['gauss_grad_full'] * 1e3:.3f} | {s['mad_full']:.4f} | {s['gauss_grad'] * 1e3:.3f} | "
                         f"{s['mad']:.4f} | {s['sad']:.2f} | {s['mse']:.4f} | {s['grad']:.2f} | {s['conn']:.2f} | "
                         f"{lat['model_ms']:.2f} | {lat['predict_ms']:.2f} |")
    lines += ["", "**The example portrait** (`examples/astronaut.jpg`, not from EG1800): mean alpha over her face, "
              "her suit and the backdrop", "", "| model | face | suit | backdrop |", "|---|---|---|---|"]
    for name, r in results["models"].items():
        e = r["example"]
        lines.append(f"| {_label(name, r, results)} | {e['face']:.2f} | {e['suit']:.2f} | {e['backdrop']:.2f} |")
    return "\n".join(lines)


def _label(name: str, result: dict, results: dict) -> str:
    run = result.get("run", results["run"])
    return name if run == results["run"] else f"{name} ({run})"


def _row_order(name: str) -> tuple[bool, str]:
    return name.startswith("mediapipe"), name  # the peer last


def kept_models(path: Path, counts: dict[str, int], measured: list[str]) -> dict:
    """The results of the models not in `measured` from an earlier results file, where it scored the same
    sets (the same counts), each with the time of the run that measured it."""
    if not path.is_file():
        return {}
    earlier = json.loads(path.read_text())
    if earlier.get("counts") != counts:
        return {}
    return {name: {"run": earlier.get("run", earlier["date"]), **result} for name, result in earlier["models"].items()
            if name not in measured}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", help="shipped model names or checkpoints (default: all shipped)")
    parser.add_argument("--dataset", type=Path, default=SHARED / "eg1800")
    parser.add_argument("--backgrounds", type=Path, default=SHARED / "backgrounds")
    parser.add_argument("--composite-root", type=Path, default=Path("~/.cache/mmnet/composite-val").expanduser())
    parser.add_argument("--landscape-root", type=Path,
                        default=Path("~/.cache/mmnet/composite-val-landscape").expanduser())
    parser.add_argument("--ccp", type=Path, default=SHARED / "ccp")
    parser.add_argument("--ccp-root", type=Path, default=Path("~/.cache/mmnet/ccp").expanduser(),
                        help="the CCP photos with mattes, in the original layout (made here when missing)")
    parser.add_argument("--scenes-root", type=Path, default=Path("~/.cache/mmnet/scenes-val").expanduser())
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-peer", action="store_true", help="leave MediaPipe out")
    parser.add_argument("--card", type=Path, default=ROOT / "docs" / "models.md")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "model_card.json")
    parser.add_argument("--keep", action="store_true",
                        help="keep the other models' rows from the last results file (same sets), with their time")
    args = parser.parse_args()

    from mmnet.runtime.weights import read_manifest
    names = args.models or sorted(read_manifest()["models"])
    holdout = [(p.image, p.mask) for p in select(find_pairs(args.dataset, "train"), HOLDOUT_PERCENT, True)]
    ccp = ccp_dataset(args.ccp_root, args.ccp)
    sets = {"holdout": holdout,
            "ccp": [(p.image, p.mask) for p in select(find_pairs(ccp, "train"), HOLDOUT_PERCENT, True)]}
    for split, roots, out, height, width, seed, scene in (
            ("scenes", [args.dataset, ccp], args.scenes_root / "portrait", 800, 600, 2, True),
            ("scenes_landscape", [args.dataset, ccp], args.scenes_root / "landscape", 600, 800, 3, True),
            ("composite", args.dataset, args.composite_root, 800, 600, 0, False),
            ("landscape", args.dataset, args.landscape_root, 600, 800, 1, False)):
        folder = build_composite_set(roots, "train", HOLDOUT_PERCENT, args.backgrounds, out, height=height,
                                     width=width, seed=seed, scene=scene)
        sets[split] = [(p.image, p.mask) for p in find_pairs(folder.parent, folder.name)]
    predictors = [mmnet_predictor(name, args.threads) for name in names]
    if not args.no_peer:
        predictors.append(mediapipe_predictor(args.threads))

    results = {"date": time.strftime("%Y-%m-%d"), "run": time.strftime("%Y-%m-%d %H:%M"),
               "threads": args.threads,
               "machine": f"{platform.machine()}, {os.cpu_count()} cores ({platform.processor() or 'CPU'})",
               "counts": {split: len(pairs) for split, pairs in sets.items()}, "models": {}}
    timing = latencies(predictors, read_image(holdout[0][0]))
    for p in predictors:
        print(f"scoring {p.name} ...", flush=True)
        scores = {split: evaluate(p, pairs) for split, pairs in sets.items()}
        results["models"][p.name] = {"run": results["run"], "info": p.info, "latency": timing[p.name],
                                     "example": example_regions(p), **scores}
        for split in sets:
            row = results["models"][p.name][split]
            print(f"  {split:9s} " + "  ".join(f"{k} {row[k]:.4g}" for k in METRIC_NAMES))
    if args.keep:
        kept = kept_models(args.results, results["counts"], list(results["models"]))
        results["models"] = {name: results["models"].get(name) or kept[name]
                             for name in sorted({*results["models"], *kept}, key=_row_order)}
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    card = args.card.read_text() if args.card.exists() else f"# Models\n\n{BEGIN}\n{END}\n"
    head, rest = card.split(BEGIN, 1)
    args.card.write_text(f"{head}{BEGIN}\n{table}\n{END}{rest.split(END, 1)[1]}")
    print(table)


if __name__ == "__main__":
    main()
