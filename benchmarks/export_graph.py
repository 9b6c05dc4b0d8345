"""Which form of the exported graph runs fastest, with the same function: each rewrite of
`mmnet.export.rewrite` measured on its own, fixed vs dynamic shapes, int8 recipes, in ONNX Runtime and (where
installed) OpenVINO and LiteRT, 1 and 2 threads, batch 1; with each form's max |alpha - PyTorch| and
GAUSS_GRAD on the validation hold-out.

    python benchmarks/export_graph.py [--checkpoint mmnet/weights/mmnet-1.0-256.pt] [--runs 60]
        [--dataset ../shared/data/eg1800] [--threads 1 2] [--out benchmarks/results/export_graph.json]

Latency: median of --runs calls after a warm-up, the forms interleaved round by round so that a load
beside them (a training job) touches all alike; for 1 thread also the median process CPU time, which a
load disturbs less. int8 is calibrated on 64 photos of the training part (never the hold-out).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from mmnet.bench.machine import describe as machine
from mmnet.data.dataset import find_pairs, select
from mmnet.data.holdout import HOLDOUT_PERCENT
from mmnet.data.io import read_image
from mmnet.data.preprocess import prepare_eval
from mmnet.export.check import check_export, validation_split
from mmnet.export.onnx import write_onnx
from mmnet.export.quantize import quantize_int8
from mmnet.export.rewrite import AlphaOutput, alpha_model
from mmnet.files import write_atomic
from mmnet.training.checkpoint import load_checkpoint, model_from_checkpoint

ROOT = Path(__file__).resolve().parents[1]
EG1800 = ROOT.parent / "shared" / "data" / "eg1800"

# name -> (what it is, how the alpha module is built, export options)
FP32_FORMS: dict[str, tuple[str, Callable, dict]] = {
    "dynamic": ("softmax head, batch/H/W free (shipped before)", AlphaOutput, {"dynamic": True}),
    "fixed": ("softmax head, fixed 1x3xSxS", AlphaOutput, {}),
    "fixed-batch-free": ("softmax head, fixed SxS, batch free", AlphaOutput, {"dynamic_batch": True}),
    "sigmoid": ("fixed + sigmoid(l1 - l0) head", lambda m: alpha_model(m, early_head=False, split_merges=False), {}),
    "early-head": ("sigmoid + head before the upsampling",
                   lambda m: alpha_model(m, early_head=True, split_merges=False), {}),
    "summed-merges": ("early-head + concat/merge as summed 1x1s (shipped now)", alpha_model, {}),
}
INT8_FORMS = {  # name -> (what it is, fp32 form quantized, quantize_static options; None: mmnet's recipe)
    "int8-stock": ("quantize_static defaults (S8S8, per tensor) of early-head", "early-head",
                   {"per_channel": False}),
    "int8": ("mmnet export --int8: U8S8 per channel of early-head", "early-head", None),
    "int8-summed": ("U8S8 per channel of summed-merges", "summed-merges", None),
}


def calibration(root: Path, size: int, count: int = 64) -> np.ndarray:
    """`count` photos of the training part (not the hold-out), evenly spread, as the runtime prepares them."""
    pairs = select(find_pairs(root, "train"), HOLDOUT_PERCENT, False)
    picked = np.linspace(0, len(pairs) - 1, count).round().astype(int)
    return np.stack([prepare_eval(read_image(pairs[i].image), size) for i in picked])


def stock_int8(src: Path, dst: Path, images: np.ndarray, options: dict) -> Path:
    """onnxruntime's quantize_static with its defaults (QDQ, S8S8), for comparison with mmnet's recipe."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(images)

        def get_next(self):
            image = next(self.items, None)
            return None if image is None else {"image": image[None]}

    prepared = dst.with_suffix(".prepared.onnx")
    quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
    quantize_static(prepared, dst, Reader(), quant_format=QuantFormat.QDQ, **options)
    return dst


# --------------------------------------------------------------------------------------------- backends
def ort_call(path: Path, threads: int, size: int) -> Callable[[], object]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads, options.log_severity_level = threads, 1, 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {"image": np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)}
    return lambda: session.run(None, feed)


def openvino_call(path: Path, threads: int, size: int) -> Callable[[], object]:
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(path))
    model.reshape([1, 3, size, size])
    compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
                                                 "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    image = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
    return lambda: request.infer([image])


def litert_call(path: Path, threads: int, size: int) -> Callable[[], object]:
    from mmnet.runtime.litert import LiteRtBackend

    backend = LiteRtBackend(path, threads)
    image = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
    return lambda: backend.run(image)


BACKENDS = {"onnxruntime": ort_call, "openvino": openvino_call, "litert": litert_call}


def installed(backend: str) -> bool:
    module = {"onnxruntime": "onnxruntime", "openvino": "openvino", "litert": "ai_edge_litert"}[backend]
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def interleaved(calls: dict[str, Callable[[], object]], runs: int) -> dict[str, dict[str, float]]:
    """Median wall and process-CPU ms of each call, the calls taken in turn for `runs` rounds."""
    for call in calls.values():
        for _ in range(5):
            call()
    wall = {name: [] for name in calls}
    cpu = {name: [] for name in calls}
    for _ in range(runs):
        for name, call in calls.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            call()
            cpu[name].append(time.process_time() - start_cpu)
            wall[name].append(time.perf_counter() - start)
    return {name: {"ms": 1000 * statistics.median(wall[name]), "cpu_ms": 1000 * statistics.median(cpu[name]),
                   "min_ms": 1000 * min(wall[name])} for name in calls}


def prep_ms(size: int, runs: int) -> float:
    """The runtime's numpy step from a uint8 SxSx3 array to the float 1x3xSxS input, which fusing the
    pre-processing into the graph would save (the squash-resize stays outside either way)."""
    rgb = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        np.ascontiguousarray((rgb.astype(np.float32) / 255).transpose(2, 0, 1))[None]
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "mmnet" / "weights" / "mmnet-1.0-256.pt"))
    parser.add_argument("--dataset", default=str(EG1800), help="for quality and int8 calibration")
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--forms", nargs="+", help="only these forms (default: all)")
    parser.add_argument("--no-quality", action="store_true", help="skip the hold-out scores")
    parser.add_argument("--work", help="keep the exported files here and reuse them on the next run")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "export_graph.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    checkpoint = load_checkpoint(Path(args.checkpoint))
    model, size = model_from_checkpoint(checkpoint), checkpoint.size
    dataset_root = Path(args.dataset)
    has_data = (dataset_root / "train" / "image").is_dir()
    wanted = set(args.forms or [*FP32_FORMS, *INT8_FORMS, "tflite"])
    backends = [name for name in BACKENDS if name != "litert" and installed(name)]
    load_before = os.getloadavg()[0]
    print(f"machine   {machine()}, load average {load_before:.1f} (preliminary while it is high)")
    print(f"model     {args.checkpoint} at {size}x{size}, batch 1; backends {', '.join(backends)}")

    with tempfile.TemporaryDirectory(prefix="export-graph-") as scratch:
        work = Path(args.work or scratch)
        work.mkdir(parents=True, exist_ok=True)

        def made(path: Path, make: Callable[[Path], object]) -> Path:
            """`path`, made unless --work kept it from an earlier run of the same checkpoint."""
            if not path.is_file():
                make(path)
            return path

        stem = f"{Path(args.checkpoint).stem}-"
        files: dict[str, Path] = {}
        notes: dict[str, str] = {}
        for name, (note, build, options) in FP32_FORMS.items():
            if name in wanted or any(base == name for _, base, _ in INT8_FORMS.values()):
                files[name] = made(work / f"{stem}{name}.onnx",
                                   lambda path, b=build, o=options: write_onnx(b(model), path, size, **o))
                notes[name] = note
        int8_names = [name for name in INT8_FORMS if name in wanted]
        if int8_names and has_data:
            images = calibration(dataset_root, size)
            for name in int8_names:
                note, base, options = INT8_FORMS[name]
                files[name] = made(work / f"{stem}{name}.onnx", lambda path, b=base, o=options: (
                    quantize_int8(files[b], path, [images]) if o is None else stock_int8(files[b], path, images, o)))
                notes[name] = note
        if "tflite" in wanted and installed("litert"):
            try:
                from mmnet.export.tflite import export_tflite
                files["tflite"] = made(work / f"{stem}model.tflite", lambda path: export_tflite(model, path, size))
                notes["tflite"] = "TFLite of summed-merges (litert-torch), NHWC input, XNNPACK"
            except ImportError as error:
                print(f"no TFLite row: {error}")
        files = {name: path for name, path in files.items() if name in wanted}

        rows = []
        for threads in args.threads:
            for backend in backends + (["litert"] if "tflite" in files else []):
                chosen = {n: p for n, p in files.items() if (n == "tflite") == (backend == "litert")}
                calls = {n: BACKENDS[backend](p, threads, size) for n, p in chosen.items()}
                for name, timing in interleaved(calls, args.runs).items():
                    rows.append({"form": name, "backend": backend, "threads": threads, **timing})
                    print(f"{name:17s} {backend:11s} {threads} thr  {timing['ms']:6.2f} ms  "
                          f"(cpu {timing['cpu_ms']:6.2f}, min {timing['min_ms']:6.2f})")

        quality = {}
        if has_data and not args.no_quality:
            dataset = validation_split(dataset_root, size, holdout_percent=HOLDOUT_PERCENT)
            for name, path in files.items():
                check = check_export(model, path, size, dataset)
                quality[name] = {"max_abs_diff": check.max_abs_diff, "gauss_grad": check.gauss_grad,
                                 "gauss_grad_torch": check.gauss_grad_torch, "mad": check.mad,
                                 "mad_torch": check.mad_torch, "images": check.images}
                print(check)

    result = {"machine": machine(), "load_average": [load_before, os.getloadavg()[0]],
              "checkpoint": args.checkpoint, "size": size, "batch": 1, "runs": args.runs,
              "versions": versions(), "prep_ms_numpy": prep_ms(size, args.runs),
              "forms": notes, "latency": rows, "quality": quality}
    write_atomic(Path(args.out), (json.dumps(result, indent=2) + "\n").encode())
    print(f"numpy pre-processing (uint8 SxSx3 -> float 1x3xSxS): {result['prep_ms_numpy']:.3f} ms")
    print(f"wrote {args.out}")


def versions() -> dict[str, str]:
    found = {"torch": torch.__version__}
    for module in ("onnxruntime", "openvino", "ai_edge_litert"):
        try:
            found[module] = getattr(__import__(module), "__version__", "?")
        except ImportError:
            pass
    return found


if __name__ == "__main__":
    main()
