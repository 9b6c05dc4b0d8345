"""The paper's figure redrawn from our measurements: GAUSS_GRAD against latency, circle area growing with
log(parameters), each circle labelled by its multiplier, 128-input models marked with *. Without quality
scores (no --dataset, as `mmnet bench --quick` runs by default) it is each model's latency alone, as bars."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from mmnet.bench.latency import precision_of
from mmnet.bench.report import ENGINE_TITLES, figure_latency
from mmnet.files import atomic_write

COLORS = {"MMNet": "tab:red", "MD16": "tab:blue", "MD8": "tab:green", "peer": "tab:gray"}
AREA_PER_LOG = 40.0  # points² per natural log of the parameter count
PEER_AREA = 200.0  # a peer without a parameter count
PEER_LABELS = {"mediapipe-selfie": "MediaPipe selfie", "rvm-mobilenetv3": "RVM MobileNetV3"}


def _rows(results: dict) -> list[dict]:
    return results["variants"] + [p for p in results.get("peers", []) if "skipped" not in p]


def _label(row: dict) -> str:
    return row.get("label", PEER_LABELS.get(row["name"], row["name"]))


def quality_points(results: dict) -> list[tuple[dict, float, float]]:
    """(row, latency in ms, GAUSS_GRAD) of every variant and peer measured for both."""
    precision = precision_of(results["figure"]["engine"])
    points = []
    for row in _rows(results):
        ms = figure_latency(row, results)
        grad = row.get("quality", {}).get(precision if "family" in row else "fp32", {}).get("gauss_grad_full")
        if ms is not None and grad is not None:
            points.append((row, ms, grad))
    return points


def plot(results: dict, path: Path) -> Path:
    """Write the figure as a PNG: GAUSS_GRAD against latency where there are quality scores, else the
    latencies as bars."""
    figure, axes = plt.subplots(figsize=(8, 5.5), dpi=120)
    points = quality_points(results)
    if points:
        _scatter(axes, points)
        title, legend = "Quality against speed", ("\nCircle area ∝ log(parameters); * = 128×128 input, otherwise "
                                                  "256×256; labels: width (depth) multiplier")
    else:
        _latency_bars(axes, results)
        title, legend = "Latency (no quality scores: give mmnet bench --dataset for the quality figure)", ""
    figure_info, env = results["figure"], results["environment"]
    axes.set_title(f"{title} on {env['cpu']} ({env['date']})", fontsize=10)
    figure.text(0.01, 0.01, f"batch 1, {figure_info['threads']} threads; mmnet in "
                f"{ENGINE_TITLES[figure_info['engine']]} (mmnet.load's default here), peers in their own runtime."
                + legend, fontsize=7, color="dimgray")
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    try:
        atomic_write(path, lambda temporary: figure.savefig(temporary, format="png"), suffix=".png")
    finally:
        plt.close(figure)
    return path


def _latency_bars(axes, results: dict) -> None:
    """One horizontal bar per variant and peer with a latency, coloured by family."""
    bars = [(row, ms) for row in _rows(results) if (ms := figure_latency(row, results)) is not None]
    labels = [row["name"] for row, _ in bars]
    axes.barh(range(len(bars)), [ms for _, ms in bars], color=[COLORS.get(row.get("family", "peer"), "black")
                                                               for row, _ in bars])
    axes.set_yticks(range(len(bars)), labels, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("latency (ms)")
    axes.grid(True, axis="x", alpha=0.3)


def _scatter(axes, points: list[tuple[dict, float, float]]) -> None:
    """GAUSS_GRAD against latency on a log scale, circle area by log(parameters)."""
    drawn = set()
    for row, ms, grad in points:
        family = row.get("family", "peer")
        area = AREA_PER_LOG * math.log(row["params"]) if row.get("params") else PEER_AREA
        axes.scatter(ms, grad * 1e3, s=area, color=COLORS.get(family, "black"), alpha=0.6,
                     marker="o" if family != "peer" else "D", label=None if family in drawn else family,
                     edgecolors="black", linewidths=0.5)
        drawn.add(family)
        axes.annotate(_label(row), (ms, grad * 1e3), textcoords="offset points", xytext=(7, 5), fontsize=9)
    axes.set_xlabel("latency (ms, log scale)")
    axes.set_ylabel("gradient error (GAUSS_GRAD ×1e-3, 800×600)")
    axes.set_xscale("log")  # the peers span two orders of magnitude of latency
    axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.margins(x=0.15, y=0.1)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="upper right", fontsize=9, markerscale=0.6)
