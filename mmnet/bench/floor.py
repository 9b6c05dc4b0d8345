"""The floor: the machine's achievable fp32 multiply-accumulate rate (a large GEMM), the latency it allows
each model (MACs / rate), and where ONNX Runtime's time goes instead (its profiler, by kind of operator)."""
from __future__ import annotations

import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

GEMM_SIDE = 2048
PRECISIONS = ("fp32", "bf16", "int8")
KERNEL = "_kernel_time"  # the profiler's suffix of a node's run


def peak_macs_per_second(threads: int, precision: str = "fp32", side: int = GEMM_SIDE,
                         repeats: int = 5) -> float | None:
    """MACs/s of the best of `repeats` side×side matrix products in PyTorch (oneDNN/MKL) on `threads`
    threads, in "fp32", "bf16" or "int8" (int8 inputs, int32 sums): the rate a perfectly compute-bound
    model could reach in that precision; None where PyTorch has no such product here."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        if precision == "int8":
            a, b = (torch.randint(-128, 128, (side, side), dtype=torch.int8) for _ in range(2))
            product = torch._int_mm  # the only int8 GEMM PyTorch exposes (its quantized backends use it)
        else:
            a, b = (torch.rand(side, side, dtype=torch.bfloat16 if precision == "bf16" else torch.float32)
                    for _ in range(2))
            product = torch.mm
        try:
            product(a, b)
        except (RuntimeError, AttributeError):
            return None
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            product(a, b)
            best = min(best, time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return side ** 3 / best


def limit_ms(macs: int, macs_per_second: float) -> float:
    """The physical limit: the model's MACs at the peak rate, in ms."""
    return 1000 * macs / macs_per_second


def profile_operators(path: Path, size: int, threads: int, runs: int, warmup: int) -> list[dict]:
    """ONNX Runtime's profile of `runs` batch-1 runs of the ONNX file at `path` (after `warmup` runs), by
    kind of operator, slowest first: [{"op", "nodes", "ms" (per run), "share", "macs" (per run: the
    convolutions' MACs as ONNX Runtime's optimized graph runs them, channels padded to its NCHWc blocks),
    "gmacs_per_s"}]. Convolutions are told apart by kernel and by depthwise or not."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="mmnet-profile-") as folder:
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.log_severity_level = 3
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(folder) / "ort")
        options.optimized_model_filepath = str(Path(folder) / "optimized.onnx")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        batch = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
        for _ in range(warmup + runs):
            session.run(None, {name: batch})
        events = json.loads(Path(session.end_profiling()).read_text())
        convolutions = _convolutions(Path(options.optimized_model_filepath))
    starts = sorted(e["ts"] for e in events if e.get("cat") == "Session" and e["name"] == "model_run")
    first = starts[warmup] if len(starts) > warmup else 0
    totals: dict[str, dict] = defaultdict(lambda: {"nodes": set(), "us": 0.0, "macs": 0})
    for event in events:
        if event.get("cat") != "Node" or event["ts"] < first or not event["name"].endswith(KERNEL):
            continue
        node = event["name"][:-len(KERNEL)]
        kind, macs = event["args"].get("op_name", "?"), 0
        if node in convolutions:
            kind, weights, channels_last = convolutions[node]
            out = next(iter(event["args"]["output_type_shape"][0].values()))
            macs = int(np.prod([out[0], *(out[1:3] if channels_last else out[2:4])], dtype=np.int64)) * weights
        entry = totals[kind]
        entry["nodes"].add(node)
        entry["us"] += event["dur"]
        entry["macs"] += macs
    total_us = sum(entry["us"] for entry in totals.values()) or 1.0
    rows = [{"op": kind, "nodes": len(entry["nodes"]), "ms": entry["us"] / runs / 1000,
             "share": entry["us"] / total_us, "macs": entry["macs"] // runs,
             "gmacs_per_s": entry["macs"] / entry["us"] / 1000 if entry["macs"] else None}
            for kind, entry in totals.items()]
    return sorted(rows, key=lambda row: -row["ms"])


def _convolutions(optimized: Path) -> dict[str, tuple[str, int, bool]]:
    """{node name: ("Conv 3×3 depthwise" | "QLinearConv 1×1" | ..., weights, channels last)} of the
    convolutions in ONNX Runtime's optimized graph (NCHW, its blocked NCHWc, or NHWC for int8)."""
    import onnx

    graph = onnx.load(str(optimized)).graph
    weights = {tensor.name: list(tensor.dims) for tensor in graph.initializer}
    found = {}
    for node in graph.node:
        if node.op_type not in ("Conv", "FusedConv", "QLinearConv"):
            continue
        weight = weights.get(node.input[3 if node.op_type == "QLinearConv" else 1])
        if not weight or len(weight) != 4:
            continue
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        depthwise = " depthwise" if attributes.get("group", 1) > 1 and weight[1] == 1 else ""
        found[node.name] = (f"{node.op_type} {weight[2]}×{weight[3]}{depthwise}", int(np.prod(weight)),
                            bool(attributes.get("channels_last", 0)))
    return found
