"""The model card's numbers (docs/models.md), measured in one run: every shipped model and MediaPipe's selfie
segmenter, scored by the same code on the same images, with latency on this machine.

    python benchmarks/model_card.py [--models mmnet-1.0-256 ...] [--sets everyday picsart ...] [--threads 2]

Real photos first, each never trained on (mattes and caches under ~/.cache/mmnet):
- everyday: the 77 photos of ../shared/data/everyday/val (validation only: never trained on, not even as
  backgrounds), hand-drawn person masks, scored by person IoU; all of them, and those whose people cover at
  least 5 % of the frame (`everyday_large`);
- picsart: the 10 % hold-out of ../shared/data/picsart/train, selfies and portraits of other people, 240×320,
  with mattes made by `mmnet prepare-alpha` from their person masks (band 5 px; made here on the first run);
- ccp: the 10 % hold-out of ../shared/data/ccp/train, street photos of full figures, with mattes made the same
  way (band 10 px);
- holdout: the 10 % validation hold-out of ../shared/data/eg1800/train, centred portraits (soft mattes);
- the example portrait's face, suit and backdrop.
Then composites, labelled as such (they judge nothing on their own: a composite is not a photo), on the
held-out 15 % of ../shared/data/backgrounds: EG1800's held-out people as portraits, 600×800 (W×H) and 800×600;
and scenes of the held-out people of EG1800 and CCP (groups of up to 4, each 5-100 % of the height), 600×800
and 800×600.
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
from mmnet.data.dataset import find_pairs, select
from mmnet.data.holdout import HOLDOUT_PERCENT
from mmnet.data.io import read_image, read_mask
from mmnet.data.prepare_alpha import prepare_alpha
from mmnet.evaluation.metrics import METRIC_NAMES, MetricMean, resize_alpha, score

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
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
    info = {"params": count_parameters(net)["params"], "macs": count_macs(net, state.size),
            "size": state.size, "runtime": f"{model.backend.name} (fp32)"}
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


def matted_dataset(root: Path, source: Path, band: int) -> Path:
    """`root` in the original layout for a set of binary person masks (`source`/train/{image,seg}): its photos
    linked, its mattes made from its masks by `mmnet prepare-alpha` with an unknown band of `band` px (CCP: about
    5 min the first time, all 1003)."""
    (root / "train").mkdir(parents=True, exist_ok=True)
    if not (root / "train" / "image").exists():
        (root / "train" / "image").symlink_to((source / "train" / "image").resolve())
    summary = prepare_alpha(source / "train" / "image", source / "train" / "seg", root / "train" / "mask", band=band)
    if summary.failed:
        raise SystemExit(f"prepare-alpha failed on {source}:\n  {summary.report()}")
    return root


def real_sets(args: argparse.Namespace) -> dict[str, list[tuple[Path, Path]]]:
    """The real sets of `args.sets` as (photo, mask) pairs: the everyday photos (all, and those with large
    people) and the hold-outs of PicsArt, CCP (these two matted here when their mattes are missing) and EG1800."""
    def held_out(root: Path) -> list[tuple[Path, Path]]:
        return [(p.image, p.mask) for p in select(find_pairs(root, "train"), HOLDOUT_PERCENT, True)]

    def everyday() -> list[tuple[Path, Path]]:
        return [(p.image, p.mask) for p in find_pairs(args.everyday, "val")]

    makers = {"everyday": everyday, "everyday_large": lambda: large_people(everyday()),
              "picsart": lambda: held_out(matted_dataset(args.picsart_root, args.picsart, band=5)),
              "ccp": lambda: held_out(matted_dataset(args.ccp_root, args.ccp, band=10)),
              "holdout": lambda: held_out(args.dataset)}
    return {split: make() for split, make in makers.items() if split in args.sets}


def large_people(pairs: list[tuple[Path, Path]], share: float = 0.05) -> list[tuple[Path, Path]]:
    """The pairs whose labelled people cover at least `share` of the frame."""
    return [(image, mask) for image, mask in pairs if np.mean(read_mask(mask) > 127) >= share]


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


REAL = {  # set -> its title; the real photos, each never trained on
    "everyday": "Everyday photos ({n}, all: people at every scale, indoors and out; polygon masks, IoU only)",
    "everyday_large": "Everyday photos whose people cover at least 5 % of the frame ({n})",
    "picsart": "PicsArt hold-out ({n} selfies and portraits of other people, 240×320)",
    "ccp": "CCP hold-out ({n} street photos of full figures, 550×832, as they are)",
    "holdout": "EG1800 validation hold-out ({n} centred portraits, 600×800)",
}
COMPOSITED = {
    "scenes": "Composited scenes ({n} portrait photos, 600×800: held-out people of EG1800 and CCP, alone or in "
              "groups, 5-100 % of the height, on held-out backgrounds)",
    "scenes_landscape": "Composited scenes, landscape ({n} photos, 800×600)",
    "composite": "Composited portraits ({n} portrait photos, 600×800)",
    "landscape": "Composited portraits, landscape ({n} photos, 800×600)",
}
SHORT = {"everyday": "everyday, all", "everyday_large": "everyday, people ≥ 5 %", "picsart": "PicsArt",
         "ccp": "CCP", "holdout": "EG1800"}
PEER = "mediapipe-selfie"
# The metrics of the detail tables, in order: those that tell a trained model from an untrained one first
# (IoU, MAD, SAD), then the paper's GAUSS_GRAD, which a flat matte scores well (little gradient to get wrong).
DETAIL = (("IoU", "iou", 1, ".4f"), ("MAD", "mad_full", 1, ".4f"), ("SAD", "sad", 1, ".2f"),
          ("GAUSS_GRAD", "gauss_grad_full", 1e3, ".3f"), ("MSE", "mse", 1, ".4f"), ("Grad", "grad", 1, ".2f"),
          ("Conn", "conn", 1, ".2f"), ("MAD net", "mad", 1, ".4f"), ("GAUSS_GRAD net", "gauss_grad", 1e3, ".3f"))


def _gap(value: float, peer: float | None, digits: int = 3) -> str:
    """`value`, and its difference to the peer's in parentheses where there is one."""
    text = f"{value:.{digits}f}"
    return text if peer is None else f"{text} ({value - peer:+.{digits}f})"


def markdown(results: dict) -> str:
    lines = [f"Measured {results['date']} on {results['machine']}, {results['threads']} threads, by "
             "`python benchmarks/model_card.py`. Person IoU at alpha > 0.5; MAD and GAUSS_GRAD at the photo's "
             "size (the paper's protocol: the network's alpha upsampled bilinearly), GAUSS_GRAD ×1e-3; DIM SAD, "
             "Grad and Conn /1000. In parentheses: the difference to MediaPipe's selfie segmenter on the same "
             "photos. Latency: batch 1, the model call alone and `predict` of a 600×800 photo at network "
             "resolution (input prepared, model run, output read)."]
    if any(r.get("run", results["run"]) != results["run"] for r in results["models"].values()):
        lines[0] += (" A model followed by a time was not re-run: its row is from that earlier run on the same sets "
                     "(`--keep`), so its latencies were not interleaved with the others'.")
    counts, models = results["counts"], results["models"]
    peer = models.get(PEER)
    real = [split for split in REAL if split in counts]
    lines += ["", "**Real photos** (what a model is shipped on): person IoU on each set, EG1800's MAD and "
              "GAUSS_GRAD, and the example portrait's mean alpha", "",
              "| model | input | params | MACs | " + " | ".join(f"{SHORT[split]} IoU" for split in real)
              + (" | EG1800 MAD | EG1800 GAUSS_GRAD" if "holdout" in real else "")
              + " | example face / suit / backdrop | model ms | predict ms |",
              "|---|---|---|---|" + "---|" * (len(real) + 2 * ("holdout" in real) + 3)]
    for name, r in models.items():
        info, lat, e = r["info"], r["latency"], r["example"]
        theirs = None if peer is None or name == PEER else peer
        def cell(split: str, key: str, scale: float = 1, digits: int = 3) -> str:
            return _gap(r[split][key] * scale, theirs and theirs[split][key] * scale, digits)

        cells = [cell(split, "iou") for split in real]
        if "holdout" in real:
            cells += [cell("holdout", "mad_full", digits=4), cell("holdout", "gauss_grad_full", 1e3)]
        params = f"{info['params']:,}" if info["params"] else "–"
        macs = f"{info['macs'] / 1e6:.0f} M" if info["macs"] else "–"
        lines.append(f"| {_label(name, r, results)} | {info['size']}² | {params} | {macs} | " + " | ".join(cells)
                     + f" | {e['face']:.2f} / {e['suit']:.2f} / {e['backdrop']:.2f} | {lat['model_ms']:.2f} | "
                       f"{lat['predict_ms']:.2f} |")
    titles = {**{split: REAL[split] for split in real if split not in ("everyday", "everyday_large")},
              **{split: COMPOSITED[split] for split in COMPOSITED if split in counts}}
    for split, title in titles.items():
        if split == next((s for s in COMPOSITED if s in counts), None):
            lines += ["", "*Composited sets: people cut out and pasted onto other photos. They are not photos, and "
                      "a model that gains on them while it loses on the real sets above is learning the composites; "
                      "they are kept to show that, never to choose a model.*"]
        lines += ["", f"**{title.format(n=counts[split])}**", "",
                  "| model | " + " | ".join(head for head, *_ in DETAIL) + " |", "|---|" + "---|" * len(DETAIL)]
        for name, r in models.items():
            lines.append(f"| {_label(name, r, results)} | "
                         + " | ".join(f"{r[split][key] * scale:{fmt}}" for _, key, scale, fmt in DETAIL) + " |")
    lines += ["", "Sets: " + "; ".join(f"{split}: {(REAL | COMPOSITED)[split].format(n=counts[split])}"
                                       for split in ("everyday", "everyday_large") if split in counts) + "."]
    return "\n".join(lines)


README_BEGIN, README_END = "<!-- models-table:begin -->", "<!-- models-table:end -->"
README_NAMES = {"mmnet-1.0-256": "`mmnet-1.0-256` (default)", "mmnet-1.0-128": "`mmnet-1.0-128` (fastest)",
                "mmnet-0.5-256": "`mmnet-0.5-256`",
                "deeplab-os16-0.5-256": "`deeplab-os16-0.5-256` (the paper's baseline)",
                PEER: "MediaPipe selfie segmenter (peer, not shipped)"}


def readme_table(results: dict) -> str:
    """The README's models table: the real sets' person IoU, EG1800's MAD and the model call."""
    real = [split for split in REAL if split in results["counts"]]
    lines = ["| model | params | " + " | ".join(f"{SHORT[split]}" for split in real)
             + (" | EG1800 MAD" if "holdout" in real else "") + " | model call |",
             "|---|---|" + "---|" * (len(real) + ("holdout" in real) + 1)]
    order = {name: rank for rank, name in enumerate(README_NAMES)}  # the default first, the peer last
    for name, r in sorted(results["models"].items(), key=lambda item: (order.get(item[0], len(order) - 1), item[0])):
        params = f"{r['info']['params']:,}" if r["info"]["params"] else "–"
        cells = [f"{r[split]['iou']:.3f}" for split in real] + (
            [f"{r['holdout']['mad_full']:.4f}"] if "holdout" in real else [])
        lines.append(f"| {README_NAMES.get(name, f'`{name}`')} | {params} | " + " | ".join(cells)
                     + f" | {r['latency']['model_ms']:.1f} ms |")
    return "\n".join(lines)


def replace_between(path: Path, begin: str, end: str, text: str) -> None:
    """Write `text` between the markers `begin` and `end` of the file at `path`."""
    head, rest = path.read_text().split(begin, 1)
    path.write_text(f"{head}{begin}\n{text}\n{end}{rest.split(end, 1)[1]}")


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
    parser.add_argument("--picsart", type=Path, default=SHARED / "picsart")
    parser.add_argument("--picsart-root", type=Path, default=Path("~/.cache/mmnet/picsart").expanduser(),
                        help="the PicsArt photos with mattes, in the original layout (made here when missing)")
    parser.add_argument("--everyday", type=Path, default=SHARED / "everyday")
    parser.add_argument("--scenes-root", type=Path, default=Path("~/.cache/mmnet/scenes-val").expanduser())
    parser.add_argument("--sets", nargs="+", choices=[*REAL, *COMPOSITED], default=[*REAL, *COMPOSITED],
                        help="score these sets only (default: all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-peer", action="store_true", help="leave MediaPipe out")
    parser.add_argument("--card", type=Path, default=ROOT / "docs" / "models.md")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "model_card.json")
    parser.add_argument("--readme", type=Path, help="also write the short models table between the markers of this "
                                                    "file (README.md)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the other models' rows from the last results file (same sets), with their time")
    args = parser.parse_args()

    from mmnet.manifest import read_manifest
    names = args.models or sorted(read_manifest().models)
    sets = real_sets(args)
    ccp = matted_dataset(args.ccp_root, args.ccp, band=10) if {"scenes", "scenes_landscape"} & set(args.sets) else None
    for split, roots, out, height, width, seed, scene in (
            ("scenes", [args.dataset, ccp], args.scenes_root / "portrait", 800, 600, 2, True),
            ("scenes_landscape", [args.dataset, ccp], args.scenes_root / "landscape", 600, 800, 3, True),
            ("composite", args.dataset, args.composite_root, 800, 600, 0, False),
            ("landscape", args.dataset, args.landscape_root, 600, 800, 1, False)):
        if split in args.sets:
            folder = build_composite_set(roots, "train", HOLDOUT_PERCENT, args.backgrounds, out, height=height,
                                         width=width, seed=seed, scene=scene)
            sets[split] = [(p.image, p.mask) for p in find_pairs(folder.parent, folder.name)]
    sets = {split: sets[split] for split in [*REAL, *COMPOSITED] if split in args.sets}
    predictors = [mmnet_predictor(name, args.threads) for name in names]
    if not args.no_peer:
        predictors.append(mediapipe_predictor(args.threads))

    results = {"date": time.strftime("%Y-%m-%d"), "run": time.strftime("%Y-%m-%d %H:%M"),
               "threads": args.threads,
               "machine": f"{platform.machine()}, {os.cpu_count()} cores ({platform.processor() or 'CPU'})",
               "counts": {split: len(pairs) for split, pairs in sets.items()}, "models": {}}
    timing = latencies(predictors, read_image(find_pairs(args.dataset, "train")[0].image))  # a 600×800 photo
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
    if not args.card.exists():
        args.card.write_text(f"# Models\n\n{BEGIN}\n{END}\n")
    replace_between(args.card, BEGIN, END, table)
    if args.readme:
        replace_between(args.readme, README_BEGIN, README_END, readme_table(results))
    print(table)


if __name__ == "__main__":
    main()
