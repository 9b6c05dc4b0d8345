"""The benchmark's results as Markdown (bench.md, and the README's block between its bench markers)."""
from __future__ import annotations

import os
from pathlib import Path

from mmnet.bench.latency import ENGINES, precision_of
from mmnet.files import write_atomic

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
ENGINE_TITLES = {"onnxruntime": "ORT fp32", "onnxruntime-int8": "ORT int8", "openvino": "OV fp32",
                 "openvino-bf16": "OV bf16", "openvino-int8": "OV int8", "litert": "LiteRT fp32",
                 "litert-int8": "LiteRT int8", "pytorch": "PyTorch"}
PROFILE_ROWS = 8


def _ms(cells: dict | None, threads: list[int]) -> str:
    """"1.23 / 0.98": one median per thread count, "–" where not measured."""
    if not cells:
        return "–"
    return " / ".join(f"{cells[str(t)]:.2f}" if str(t) in cells else "–" for t in threads)


def _quality(row: dict, precision: str, metric: str, scale: float = 1.0, digits: int = 3) -> str:
    value = row.get("quality", {}).get(precision, {}).get(metric)
    return "–" if value is None else f"{value * scale:.{digits}f}"


def _count(value: int | None, unit: float, suffix: str) -> str:
    return "–" if not value else f"{value / unit:.2f} {suffix}"


def figure_latency(row: dict, results: dict, threads: str | None = None) -> float | None:
    """The latency the figure plots: the engine `mmnet.load` uses by default (a peer: its own runtime),
    with the figure's thread count unless told."""
    threads = threads or str(results["figure"]["threads"])
    cells = row["latency_ms"].get(results["figure"]["engine"], {}) if "family" in row else row["latency_ms"]
    return cells.get(threads)


def header(results: dict) -> str:
    env = results["environment"]
    versions = ", ".join(f"{name} {version}" for name, version in env["versions"].items() if version)
    load = f"load average {env['load_average']:.1f} at the start, {env['load_average_end']:.1f} at the end" \
        if env.get("load_average") is not None else "load unknown"
    quick = " **Quick run (few runs, few variants): preliminary numbers.**" if results["quick"] else ""
    return (f"Measured {env['date']} on {env['cpu']} ({env['logical_cpus']} logical CPUs, {env['os']}; {load}) "
            f"by `mmnet bench`: batch 1, median of {results['runs']} runs after {results['warmup']} warm-up runs, "
            f"in ms, *1 thread / 2 threads*; {versions}.{quick}")


def peaks(results: dict) -> str:
    """"fp32 46.1 GMAC/s with 1 thread, 93.5 with 2; bf16 ...": the GEMM rates by precision."""
    parts = []
    for precision, rates in results["floor"]["peak_gmacs_per_s"].items():
        (first, rate), *others = rates.items()
        parts.append(f"{precision} {rate:.0f} GMAC/s with {first} thread{'s' if first != '1' else ''}"
                     + "".join(f", {value:.0f} with {t}" for t, value in others))
    return "; ".join(parts)


def variants_table(results: dict) -> list[str]:
    threads = results["environment"]["threads"]
    engines = [e for e in ENGINES if any(e in row["latency_ms"] for row in results["variants"])]
    figure_threads = results["figure"]["threads"]
    engine, int8 = results["figure"]["engine"], results["figure"]["int8_engine"]
    titles = ["model", "input", "params", "MACs", *(ENGINE_TITLES[e] for e in engines),
              f"floor {precision_of(engine)} ({figure_threads}t)", "× floor", f"floor int8 ({figure_threads}t)",
              "int8 × floor", *(f"GAUSS_GRAD{suffix}" for suffix in ("", " bf16", " int8")), "MAD", "IoU"]
    lines = [_row(titles), "|---" * len(titles) + "|"]
    for row in results["variants"]:
        lines.append(_row([f"**{row['name']}**" if row["trained"] else row["name"], f"{row['size']}²",
                           _count(row["params"], 1e6, "M"), _count(row["macs"], 1e9, "G"),
                           *(_ms(row["latency_ms"].get(e), threads) for e in engines),
                           *_floor(row, results, engine), *_floor(row, results, int8),
                           *(_quality(row, p, "gauss_grad_full", 1e3) for p in ("fp32", "bf16", "int8")),
                           _quality(row, "fp32", "mad_full", 1, 4), _quality(row, "fp32", "iou", 1, 4)]))
    return lines


def _floor(row: dict, results: dict, engine: str) -> tuple[str, str]:
    """(the limit in ms in `engine`'s precision, `engine`'s latency over it) at the figure's threads."""
    threads = str(results["figure"]["threads"])
    limit = row["limit_ms"].get(precision_of(engine), {}).get(threads)
    measured = row["latency_ms"].get(engine, {}).get(threads)
    return (f"{limit:.2f}" if limit else "–", f"{measured / limit:.1f}" if measured and limit else "–")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def speedups(results: dict) -> list[str]:
    """How much faster each model is at 128² than at 256² (the default engine, each thread count), and
    each trained one in int8 than in the default engine and in fp32 (its backend, the figure's threads)."""
    engine, int8_engine = results["figure"]["engine"], results["figure"]["int8_engine"]
    fp32_engine, threads = int8_engine.removesuffix("-int8"), str(results["figure"]["threads"])
    rows = {row["name"]: row for row in results["variants"]}
    lines = []
    for count in results["environment"]["threads"]:
        ratios = []
        for name, row in rows.items():
            small = rows.get(name.removesuffix("-256") + "-128") if name.endswith("-256") else None
            slow, fast = figure_latency(row, results, str(count)), small and figure_latency(small, results, str(count))
            if slow and fast:
                ratios.append(f"{name.removesuffix('-256')} {slow / fast:.1f}×")
        if ratios:
            where = f"{ENGINE_TITLES[engine]}, {count} thread{'s' * (count != 1)}"
            lines.append(f"128² against 256² ({where}): " + ", ".join(ratios) + ".")
    int8 = []
    for name, row in rows.items():
        cells, scores = row["latency_ms"], row.get("quality", {})
        quantized = cells.get(int8_engine, {}).get(threads)
        if not (row["trained"] and quantized):
            continue
        against = [f"{cells[e][threads] / quantized:.2f}× against {ENGINE_TITLES[e]}"
                   for e in dict.fromkeys([engine, fp32_engine]) if threads in cells.get(e, {})]
        if "int8" in scores and "fp32" in scores:
            against.append(f"GAUSS_GRAD {scores['fp32']['gauss_grad_full'] * 1e3:.3f} (fp32) → "
                           f"{scores['int8']['gauss_grad_full'] * 1e3:.3f}")
        int8.append(f"{name} " + ", ".join(against))
    if int8:
        lines.append(f"int8 ({ENGINE_TITLES[int8_engine]}, {threads} threads): " + "; ".join(int8) + ".")
    return lines


def peers_table(results: dict) -> list[str]:
    threads = results["environment"]["threads"]
    lines = ["| peer | runtime | input | params | latency | GAUSS_GRAD | MAD | IoU | licence |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in results.get("peers", []):
        if "skipped" in row:
            lines.append(f"| {row['name']} | skipped: {row['skipped']} | | | | | | | |")
            continue
        lines.append(f"| {row['name']} | {row['runtime']} | {row['size']}² | {_count(row['params'], 1e6, 'M')} | "
                     f"{_ms(row['latency_ms'], threads)} | {_quality(row, 'fp32', 'gauss_grad_full', 1e3)} | "
                     f"{_quality(row, 'fp32', 'mad_full', 1, 4)} | {_quality(row, 'fp32', 'iou', 1, 4)} | "
                     f"{row['license']} |")
    return lines


def predict_table(result: dict, variants: list[dict]) -> list[str]:
    """predict against MediaPipe, and the model's fp32 floor beside MediaPipe's whole call."""
    if "skipped" in result:
        return [f"`predict` against MediaPipe: skipped ({result['skipped']})."]
    lines = [f"`mmnet.load(\"{result['model']}\").predict(photo)` ({result['backend']}) against MediaPipe doing "
             f"the same work (input prepared, model run, output read at the photo's size), a {result['photo']} "
             f"photo, interleaved, {result['threads']} threads: **{result['ratio']:.2f}×** MediaPipe's time."]
    row = next((v for v in variants if v["name"] == result["model"]), None)
    floor = row and row["limit_ms"].get("fp32", {}).get(str(result["threads"]))
    mediapipe = result["median_ms"]["mediapipe predict"]
    if floor:
        verdict = ("so no fp32 runtime can match MediaPipe with this model here" if floor > mediapipe
                   else "so the gap is the runtime's, not the arithmetic's")
        lines[0] += (f" The model's fp32 floor alone (its MACs at this machine's fp32 GEMM rate, {result['threads']} "
                     f"threads) is {floor:.2f} ms against MediaPipe's whole call of {mediapipe:.2f} ms, {verdict}.")
    lines += ["", "| call | median ms |", "|---|---|"]
    lines += [f"| {name} | {ms:.2f} |" for name, ms in result["median_ms"].items()]
    return lines


def profile_table(profile: dict, runtime: str = "ONNX Runtime's", unit: str = "ms of kernels a run") -> list[str]:
    lines = []
    for precision, entry in profile.items():
        total = sum(op["ms"] for op in entry["operators"])
        lines += ["", f"{runtime} profile of {entry['model']} ({precision}, {entry['threads']} threads, "
                      f"{total:.2f} {unit}), slowest kinds of operator:", "",
                  "| operator | nodes | ms a run | share | GMAC/s |", "|---|---|---|---|---|"]
        for op in entry["operators"][:PROFILE_ROWS]:
            rate = f"{op['gmacs_per_s']:.1f}" if op["gmacs_per_s"] else "–"
            lines.append(f"| {op['op']} | {op['nodes']} | {op['ms']:.2f} | {op['share']:.0%} | {rate} |")
    return lines


def markdown(results: dict) -> str:
    """The whole report: header, the variants' table, the peers, predict against MediaPipe, the floor."""
    figure = results["figure"]
    lines = [header(results), "",
             f"Variants (**bold**: trained, shipped; the others have random weights: speed only). Floor: the MACs "
             f"at the machine's rate in a {results['floor']['gemm_side']}² GEMM in PyTorch ({peaks(results)}); "
             f"× floor: with {figure['threads']} threads, the latency over the floor in its precision, of "
             f"{ENGINE_TITLES[figure['engine']]} (what `mmnet.load` runs an `.onnx` model in by default here; "
             "the figure's latency) and "
             f"of {ENGINE_TITLES[figure['int8_engine']]}. GAUSS_GRAD ×1e-3 (fp32: ONNX Runtime; bf16: OpenVINO; "
             f"int8: {ENGINE_TITLES[figure['int8_engine']]}) and MAD at the photo's "
             f"resolution (the paper's protocol), person IoU at alpha > 0.5, on the EG1800 validation hold-out"
             + (f" ({_images(results)} portraits)" if _images(results) else "") + ".", "",
             *variants_table(results)]
    summary = speedups(results)
    if summary:
        lines += ["", *summary]
    if results.get("peers"):
        lines += ["", "Peers, the model call alone at their own input size:", "", *peers_table(results)]
    if results.get("predict_vs_mediapipe"):
        lines += ["", *predict_table(results["predict_vs_mediapipe"], results["variants"])]
    if results["floor"].get("profile"):
        lines += profile_table(results["floor"]["profile"])
    if results["floor"].get("litert_profile"):
        lines += profile_table(results["floor"]["litert_profile"], "LiteRT's (XNNPACK, each operator timed alone)",
                               "ms summed over the operators")
    return "\n".join(lines)


def _images(results: dict) -> int | None:
    for row in results["variants"] + results.get("peers", []):
        for scores in row.get("quality", {}).values():
            return scores["images"]
    return None


def update_readme(readme: Path, results: dict, figure: Path) -> Path:
    """Put the figure and the report between the README's bench markers (appended when it has none)."""
    text = readme.read_text(encoding="utf-8")
    link = os.path.relpath(figure, readme.parent).replace(os.sep, "/")
    block = f"{BEGIN}\n![GAUSS_GRAD against latency]({link})\n\n{markdown(results)}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    return write_atomic(readme, text.encode("utf-8"))
