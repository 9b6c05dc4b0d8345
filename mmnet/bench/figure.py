"""The paper's figure redrawn from our measurements: GAUSS_GRAD against latency, circle area growing with
log(parameters), each circle labelled by its multiplier, 128-input models marked with *."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from mmnet.bench.latency import precision_of  # noqa: E402
from mmnet.bench.report import ENGINE_TITLES, figure_latency  # noqa: E402
from mmnet.files import atomic_write  # noqa: E402

COLORS = {"MMNet": "tab:red", "MD16": "tab:blue", "MD8": "tab:green", "peer": "tab:gray"}
AREA_PER_LOG = 40.0  # points² per natural log of the parameter count
PEER_AREA = 200.0  # a peer without a parameter count
PEER_LABELS = {"mediapipe-selfie": "MediaPipe selfie", "rvm-mobilenetv3": "RVM MobileNetV3"}


def plot(results: dict, path: Path) -> Path:
    """Write the figure as a PNG; trained variants and peers with a quality and a latency are drawn."""
    figure, axes = plt.subplots(figsize=(8, 5.5), dpi=120)
    drawn = set()
    precision = precision_of(results["figure"]["engine"])
    for row in results["variants"] + [p for p in results.get("peers", []) if "skipped" not in p]:
        ms = figure_latency(row, results)
        scores = row.get("quality", {})
        grad = scores.get(precision if "family" in row else "fp32", {}).get("gauss_grad_full")
        if ms is None or grad is None:
            continue
        family = row.get("family", "peer")
        area = AREA_PER_LOG * math.log(row["params"]) if row.get("params") else PEER_AREA
        axes.scatter(ms, grad * 1e3, s=area, color=COLORS.get(family, "black"), alpha=0.6,
                     marker="o" if family != "peer" else "D", label=None if family in drawn else family,
                     edgecolors="black", linewidths=0.5)
        drawn.add(family)
        axes.annotate(row.get("label", PEER_LABELS.get(row["name"], row["name"])), (ms, grad * 1e3),
                      textcoords="offset points", xytext=(7, 5), fontsize=9)
    figure_info, env = results["figure"], results["environment"]
    axes.set_xlabel("latency (ms, log scale)")
    axes.set_ylabel("gradient error (GAUSS_GRAD ×1e-3, 800×600)")
    axes.set_title(f"Quality against speed on {env['cpu']} ({env['date']})", fontsize=10)
    axes.set_xscale("log")  # the peers span two orders of magnitude of latency
    axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.margins(x=0.15, y=0.1)
    axes.grid(True, which="both", alpha=0.3)
    if drawn:
        axes.legend(loc="upper right", fontsize=9, markerscale=0.6)
    else:
        axes.text(0.5, 0.5, "no trained model with a quality score", transform=axes.transAxes, ha="center")
    figure.text(0.01, 0.01, f"batch 1, {figure_info['threads']} threads; mmnet in "
                f"{ENGINE_TITLES[figure_info['engine']]} (mmnet.load's default here), peers in their own runtime.\n"
                "Circle area ∝ log(parameters); * = 128×128 input, otherwise 256×256; labels: width (depth) "
                "multiplier", fontsize=7, color="dimgray")
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    try:
        atomic_write(path, lambda temporary: figure.savefig(temporary, format="png"), suffix=".png")
    finally:
        plt.close(figure)
    return path
