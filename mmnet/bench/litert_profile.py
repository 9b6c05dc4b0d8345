"""LiteRT's time by kind of operator: each operator of a `.tflite` model cut out as a model of its own (its
constants kept, its activations made inputs) and timed alone in the XNNPACK delegate, the way the whole
model runs. A PAD that feeds one convolution is cut out with it (XNNPACK fuses the two into one padded
convolution) and counted with it. The single-operator runs carry a call's fixed cost each, so their sum is
above the whole model's time; the shares between kinds are what this is for (ai-edge-litert's Python API
has no per-operator profiler)."""
from __future__ import annotations

import statistics
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D")


def operator_kind(model, subgraph, op) -> tuple[str, int]:
    """("CONV_2D 1×1", "DEPTHWISE_CONV_2D 3×3 dilated", "CONCATENATION"...; MACs of one run)."""
    from ai_edge_litert.tools import flatbuffer_utils

    name = flatbuffer_utils.opcode_to_name(model, op.opcodeIndex) or "?"
    if name not in WEIGHTED:
        return name, 0
    weight = list(subgraph.tensors[op.inputs[1]].shape)  # CONV_2D: O×H×W×I; DEPTHWISE: 1×H×W×C
    out = list(subgraph.tensors[op.outputs[0]].shape)
    options = op.builtinOptions
    dilation = max(getattr(options, "dilationHFactor", 1), getattr(options, "dilationWFactor", 1))
    dilated = " dilated" if dilation > 1 else ""
    strided = " stride 2" if getattr(options, "strideH", 1) > 1 else ""
    per_pixel = int(np.prod(weight[1:])) if name == "CONV_2D" else int(np.prod(weight[1:3]))
    return f"{name} {weight[1]}×{weight[2]}{strided}{dilated}", int(np.prod(out)) * per_pixel


def profile_operators(path: str | Path, threads: int = 2, runs: int = 30, warmup: int = 3) -> list[dict]:
    """[{"op", "nodes", "ms" (per run, summed over its nodes), "share", "macs", "gmacs_per_s"}], slowest first."""
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    subgraph = model.subgraphs[0]
    operators, inputs, outputs, signatures = subgraph.operators, subgraph.inputs, subgraph.outputs, model.signatureDefs
    totals: dict[str, dict] = defaultdict(lambda: {"nodes": 0, "ms": 0.0, "macs": 0})
    model.signatureDefs = []
    fused = _pads_into_convolutions(model, operators)
    try:
        for index, op in enumerate(operators):
            if index in fused.values():
                continue
            kind, macs = operator_kind(model, subgraph, op)
            cut = [operators[fused[index]], op] if index in fused else [op]
            subgraph.operators = cut
            subgraph.inputs = [i for i in cut[0].inputs if i >= 0 and not _is_constant(model, subgraph, i)]
            subgraph.outputs = list(op.outputs)
            content = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
            interpreter = Interpreter(model_content=content, num_threads=threads)
            interpreter.allocate_tensors()
            for detail in interpreter.get_input_details():
                interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
            times = []
            for i in range(warmup + runs):
                start = time.perf_counter()
                interpreter.invoke()
                if i >= warmup:
                    times.append(time.perf_counter() - start)
            entry = totals[kind]
            entry["nodes"] += 1
            entry["ms"] += 1000 * statistics.median(times)
            entry["macs"] += macs
    finally:
        subgraph.operators, subgraph.inputs, subgraph.outputs = operators, inputs, outputs
        model.signatureDefs = signatures
    total = sum(entry["ms"] for entry in totals.values()) or 1.0
    rows = [{"op": kind, "nodes": entry["nodes"], "ms": entry["ms"], "share": entry["ms"] / total,
             "macs": entry["macs"], "gmacs_per_s": entry["macs"] / entry["ms"] / 1e6 if entry["macs"] else None}
            for kind, entry in totals.items()]
    return sorted(rows, key=lambda row: -row["ms"])


def _pads_into_convolutions(model, operators) -> dict[int, int]:
    """{convolution's index: index of the PAD that feeds it alone}."""
    from ai_edge_litert.tools import flatbuffer_utils

    names = [flatbuffer_utils.opcode_to_name(model, op.opcodeIndex) for op in operators]
    readers: dict[int, list[int]] = defaultdict(list)
    for index, op in enumerate(operators):
        for tensor in op.inputs:
            readers[int(tensor)].append(index)
    fused = {}
    for index, op in enumerate(operators):
        consumers = readers[int(op.outputs[0])]
        if names[index] == "PAD" and len(consumers) == 1 and names[consumers[0]] in WEIGHTED:
            fused[consumers[0]] = index
    return fused


def _is_constant(model, subgraph, index: int) -> bool:
    buffer = model.buffers[subgraph.tensors[index].buffer]
    return buffer.data is not None and len(buffer.data) > 0 or bool(getattr(buffer, "size", 0))
