"""Latency: median milliseconds of batch-1 runs, interleaved so that every contender sees the same machine.

Engines for one model: ONNX Runtime and OpenVINO (fp32, int8 where an int8 file exists, and OpenVINO's
bf16 where the CPU has it: the precision OpenVINO picks by itself there, for the int8 file's float parts
too) and LiteRT (fp32 and int8 `.tflite` files where they exist; int8 fed uint8 pixels, as `predict` feeds
it) through `mmnet.runtime.backends`, and PyTorch eager.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from mmnet.runtime.backends import (
    OnnxRuntimeBackend,
    OpenVinoBackend,
    default_backend,
    installed_backends,
    openvino_bf16,
)

ENGINES = ("onnxruntime", "onnxruntime-int8", "openvino", "openvino-bf16", "openvino-int8", "litert", "litert-int8",
           "pytorch")
ROUNDS = 5  # blocks per contender: each a warm run and then runs/ROUNDS timed runs in a row


def interleaved(runners: dict[str, Callable[[], object]], runs: int, warmup: int) -> dict[str, float]:
    """Median ms of each runner, `runs` timed calls after `warmup` untimed ones, in ROUNDS blocks taken in
    turn (a block runs one contender several times in a row, so that another runtime's idle threads, still
    spinning after its own block, have stopped before the timed calls)."""
    for run in runners.values():
        for _ in range(warmup):
            run()
    times: dict[str, list[float]] = {name: [] for name in runners}
    per_block = max(1, -(-runs // ROUNDS))
    for _ in range(ROUNDS):
        for name, run in runners.items():
            run()
            for _ in range(per_block):
                start = time.perf_counter()
                run()
                times[name].append(1000 * (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in times.items()}


def default_engine() -> str:
    """The engine `mmnet.load` runs an fp32 ONNX model in by default (every variant has one): its backend,
    in the precision that backend computes in here."""
    backend = default_backend((".onnx",))
    return "openvino-bf16" if backend == "openvino" and openvino_bf16() else backend


def precision_of(engine: str) -> str:
    """"fp32", "bf16" or "int8" (the part after the runtime's name; fp32 without one)."""
    return engine.partition("-")[2] or "fp32"


def available_engines(files: dict, torch_model: object | None) -> list[str]:
    """The ENGINES that can run here, given the model's `files` ("fp32", "int8": ONNX; "tflite-fp32",
    "tflite-int8": LiteRT)."""
    openvino, litert = "openvino" in installed_backends(), "litert" in installed_backends()
    usable = {"onnxruntime": True, "onnxruntime-int8": "int8" in files, "openvino": openvino,
              "openvino-bf16": openvino and openvino_bf16(), "openvino-int8": openvino and "int8" in files,
              "litert": litert and "tflite-fp32" in files, "litert-int8": litert and "tflite-int8" in files,
              "pytorch": torch_model is not None}
    return [engine for engine in ENGINES if usable[engine]]


def engine_runner(engine: str, files: dict, size: int, threads: int, torch_model=None) -> Callable[[], object]:
    """A no-argument call that runs the model once on a fixed 1×3×S×S input in `engine`."""
    batch = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
    if engine == "pytorch":
        return _torch_runner(torch_model, batch, threads)
    runtime, _, precision = engine.partition("-")
    if runtime == "litert":
        from mmnet.runtime.litert import LiteRtBackend

        litert = LiteRtBackend(files[f"tflite-{precision or 'fp32'}"], threads)
        if litert.precision == "int8":
            pixels = (batch.transpose(0, 2, 3, 1) * 255).round().astype(np.uint8)
            return lambda: litert.run_pixels(pixels)
        return lambda: litert.run(batch)
    path = files["int8" if precision == "int8" else "fp32"]
    if runtime == "onnxruntime":
        backend = OnnxRuntimeBackend(path, threads, ["CPUExecutionProvider"])
    else:
        backend = OpenVinoBackend(path, threads, size, {"": "f32", "bf16": "bf16", "int8": None}[precision])
    return lambda: backend.run(batch)


def _torch_runner(model, batch: np.ndarray, threads: int) -> Callable[[], object]:
    import torch

    from mmnet.export.onnx import AlphaOutput  # the same work as the ONNX graphs

    wrapped, tensor = AlphaOutput(model).eval(), torch.from_numpy(batch)

    def run() -> object:
        torch.set_num_threads(threads)
        with torch.inference_mode():
            return wrapped(tensor)

    return run


def model_latencies(files: dict, size: int, threads: int, runs: int, warmup: int,
                    torch_model=None) -> dict[str, float]:
    """Median ms of every available engine on one model, interleaved."""
    engines = available_engines(files, torch_model)
    runners = {engine: engine_runner(engine, files, size, threads, torch_model) for engine in engines}
    return interleaved(runners, runs, warmup)
