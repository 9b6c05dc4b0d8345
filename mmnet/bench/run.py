"""`mmnet bench`: every variant and peer measured in one run, written as bench.json, bench.md (the table)
and bench.png (the figure), and optionally into the README between its bench markers."""
from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from mmnet.bench import floor, latency, litert_profile, quality, report
from mmnet.bench import peers as peer_models
from mmnet.bench.machine import cpu_name
from mmnet.bench.variants import Variant, all_variants, build, export
from mmnet.export.quantize import training_calibration
from mmnet.files import write_atomic
from mmnet.manifest import read_manifest
from mmnet.runtime.backends import default_backend, installed_backends

E2E_THREADS = 2  # the done-criterion: predict against MediaPipe with 2 threads
FASTEST = "mmnet-1.0-128"  # also timed end to end beside MediaPipe
PROFILE_THREADS = 2
PACKAGES = ("mmnet", "numpy", "opencv-python-headless", "onnxruntime", "openvino", "torch", "ai-edge-litert")


@dataclass
class BenchConfig:
    """What to measure; None takes the full or the --quick default."""

    output: Path
    quick: bool = False
    threads: tuple[int, ...] = (1, 2)
    runs: int | None = None
    warmup: int | None = None
    variants: list[str] | None = None
    dataset: Path | None = None
    holdout_limit: int | None = None
    calibration: int | None = None
    peers: bool = True
    readme: Path | None = None

    def __post_init__(self) -> None:
        quick = self.quick
        self.runs = self.runs or (6 if quick else 60)
        self.warmup = self.warmup if self.warmup is not None else (2 if quick else 10)
        self.calibration = self.calibration or (4 if quick else 32)
        self.holdout_limit = self.holdout_limit or (8 if quick else None)
        self.output = Path(self.output)
        self.dataset = Path(self.dataset) if self.dataset else None
        self.readme = Path(self.readme) if self.readme else None


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def environment(threads: tuple[int, ...]) -> dict:
    """Machine, load, versions and date of this run."""
    cpu = cpu_name()
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": cpu, "logical_cpus": os.cpu_count(),
            "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "versions": versions, "threads": list(threads), "default_backend": default_backend()}


def run_bench(config: BenchConfig) -> dict:
    """Measure everything, write the outputs; the results as written to bench.json."""
    started = time.perf_counter()
    results = {"environment": environment(config.threads), "quick": config.quick, "runs": config.runs,
               "warmup": config.warmup, "figure": {"engine": latency.default_engine(),
                                                   "int8_engine": f"{default_backend(('.onnx',))}-int8",
                                                   "threads": max(config.threads)}}
    log(f"machine: {results['environment']['cpu']}, threads {config.threads}, runs {config.runs}")
    peaks = {precision: {t: floor.peak_macs_per_second(t, precision) for t in config.threads}
             for precision in floor.PRECISIONS}
    peaks = {precision: rates for precision, rates in peaks.items() if all(rates.values())}
    results["floor"] = {"peak_gmacs_per_s": {precision: {str(t): rate / 1e9 for t, rate in rates.items()}
                                             for precision, rates in peaks.items()},
                        "gemm_side": floor.GEMM_SIDE}
    pairs = quality.holdout_pairs(config.dataset, config.holdout_limit) if config.dataset else []
    variants = all_variants(config.variants, config.quick)
    with tempfile.TemporaryDirectory(prefix="mmnet-bench-") as folder:
        results["variants"] = [measure_variant(v, Path(folder), config, peaks, pairs) for v in variants]
        default = read_manifest().default
        shipped = {v.name: v for v in variants if v.shipped}
        if default in shipped:
            log(f"{default}: ONNX Runtime profile, {PROFILE_THREADS} threads")
            results["floor"]["profile"] = {
                precision: {"model": default, "threads": PROFILE_THREADS,
                            "operators": floor.profile_operators(path, shipped[default].size, PROFILE_THREADS,
                                                                 config.runs, config.warmup)}
                for precision, path in shipped[default].files.items() if path.suffix == ".onnx"}
            for key, path in shipped[default].files.items():
                if path.suffix == ".tflite" and "litert" in installed_backends():
                    log(f"{default}: LiteRT profile ({key}), {PROFILE_THREADS} threads")
                    results["floor"].setdefault("litert_profile", {})[key.removeprefix("tflite-")] = {
                        "model": default, "threads": PROFILE_THREADS,
                        "operators": litert_profile.profile_operators(path, PROFILE_THREADS, config.runs)}
    if config.peers:
        results["peers"] = [measure_peer(name, config, pairs) for name in peer_models.PEERS]
        if default:
            results["predict_vs_mediapipe"] = predict_vs_mediapipe(default, pairs, config)
    results["environment"]["load_average_end"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    results["seconds"] = round(time.perf_counter() - started, 1)
    write_outputs(results, config)
    return results


def calibration_inputs(dataset: Path | None, size: int, count: int) -> np.ndarray:
    """int8 calibration inputs: the dataset's training photos outside the hold-out; uniform noise without a
    dataset (enough for latency, not for quality)."""
    if dataset is None:
        return np.random.default_rng(0).random((count, 3, size, size), dtype=np.float32)
    return training_calibration(dataset, size, count)


def measure_variant(variant: Variant, folder: Path, config: BenchConfig, peaks: dict[str, dict[int, float]],
                    pairs: list) -> dict:
    """Parameters, MACs, latency in every engine at every thread count, the floor in each precision
    (`peaks`: MACs/s by precision and threads), and quality."""
    log(f"{variant.name}: export")
    model = build(variant)
    calibration = calibration_inputs(config.dataset, variant.size, config.calibration)
    export(variant, model, folder, calibration)
    row = {"name": variant.name, "family": variant.family, "label": variant.label, "model": variant.model,
           "kwargs": variant.kwargs, "size": variant.size, "params": variant.params, "macs": variant.macs,
           "trained": bool(variant.shipped), "int8": "int8" in variant.files, "latency_ms": {},
           "limit_ms": {precision: {str(t): floor.limit_ms(variant.macs, rate) for t, rate in rates.items()}
                        for precision, rates in peaks.items()}}
    for threads in config.threads:
        log(f"{variant.name}: latency, {threads} thread(s)")
        medians = latency.model_latencies(variant.files, variant.size, threads, config.runs, config.warmup, model)
        for engine, ms in medians.items():
            row["latency_ms"].setdefault(engine, {})[str(threads)] = ms
    if variant.shipped and pairs:
        row["quality"] = variant_quality(variant, pairs, max(config.threads))
    return row


def variant_quality(variant: Variant, pairs: list, threads: int) -> dict:
    """Hold-out quality of a shipped model: fp32 (ONNX Runtime), bf16 (OpenVINO, where the CPU has it) and
    int8 (the int8 file in the default backend)."""
    from mmnet.runtime.backends import OpenVinoBackend, openvino_bf16
    from mmnet.runtime.model import Matting, load

    fp32 = variant.files["fp32"]
    runs = {"fp32": lambda: load(variant.name, threads=threads, backend="onnxruntime")}
    if "openvino" in installed_backends() and openvino_bf16():
        runs["bf16"] = lambda: Matting(OpenVinoBackend(fp32, threads, variant.size, "bf16"), variant.size, fp32)
    if "int8" in variant.files:
        runs["int8"] = lambda: load(variant.files["int8"], threads=threads, size=variant.size)
    scores = {}
    for precision, make in runs.items():
        log(f"{variant.name}: quality {precision} on {len(pairs)} hold-out portraits")
        matting = make()
        scores[precision] = quality.evaluate(lambda rgb: matting.infer(matting.network_input(rgb)[None])[0], pairs)
    return scores


def measure_peer(name: str, config: BenchConfig, pairs: list) -> dict:
    """A peer's model-call latency at every thread count and its hold-out quality; skipped with the
    reason where it cannot be fetched or run here."""
    from mmnet.peers.mediapipe import PeerModelError

    row: dict = {"name": name, "latency_ms": {}}
    try:
        for threads in config.threads:
            log(f"{name}: latency, {threads} thread(s)")
            peer = peer_models.PEERS[name](threads)
            prepared = peer.prepare(np.random.default_rng(0).integers(0, 256, (800, 600, 3), np.uint8))
            ms = latency.interleaved({name: lambda: peer.run(prepared)}, config.runs, config.warmup)[name]
            row["latency_ms"][str(threads)] = ms
        row.update(runtime=peer.runtime, size=peer.size, params=peer.params, license=peer.license)
        if pairs:
            log(f"{name}: quality on {len(pairs)} hold-out portraits")
            row["quality"] = {"fp32": quality.evaluate(peer.predict, pairs)}
    except (ImportError, PeerModelError, FileNotFoundError) as error:
        log(f"{name}: skipped ({error})")
        row["skipped"] = str(error)
    return row


def predict_vs_mediapipe(model: str, pairs: list, config: BenchConfig) -> dict:
    """`mmnet.load(model).predict(photo)` against MediaPipe doing the same work (its input prepared, the
    model run, its output read at the photo's size) on a 256×256 photo, interleaved, E2E_THREADS threads."""
    import cv2

    from mmnet.data.io import read_image
    from mmnet.peers.mediapipe import MediaPipeSelfie, PeerModelError, fetch_selfie_model
    from mmnet.runtime.model import load

    if pairs:
        photo = cv2.resize(read_image(pairs[0].image), (256, 256), interpolation=cv2.INTER_AREA)
    else:
        photo = np.random.default_rng(0).integers(0, 256, (256, 256, 3), np.uint8)
    try:
        selfie = MediaPipeSelfie(fetch_selfie_model(), threads=E2E_THREADS)
    except (ImportError, PeerModelError) as error:
        return {"skipped": str(error)}
    matting = load(model, threads=E2E_THREADS)
    log(f"predict vs MediaPipe: {model} ({matting.backend!r}), {E2E_THREADS} threads")
    others = {f"mmnet predict, {backend}": load(model, threads=E2E_THREADS, backend=backend)
              for backend in installed_backends() if backend != matting.backend.name}
    if getattr(matting.backend, "precision", "fp32") == "int8":
        others["mmnet predict, litert fp32"] = load(model, threads=E2E_THREADS, backend="litert", precision="fp32")
    if FASTEST in read_manifest().models and FASTEST != model:
        others[f"{FASTEST} predict"] = load(FASTEST, threads=E2E_THREADS)
    runners = {"mmnet predict": lambda: matting.predict(photo),
               **{name: (lambda other=other: other.predict(photo)) for name, other in others.items()}}
    runners["mediapipe predict"] = lambda: selfie.predict_full(photo)
    medians = latency.interleaved(runners, config.runs, config.warmup)
    return {"model": model, "backend": repr(matting.backend), "threads": E2E_THREADS, "photo": "256×256",
            "median_ms": medians, "ratio": medians["mmnet predict"] / medians["mediapipe predict"]}


def write_outputs(results: dict, config: BenchConfig) -> None:
    """bench.json, bench.md, bench.png in the output folder; the README block where asked."""
    from mmnet.bench import figure  # matplotlib

    out = config.output
    write_atomic(out / "bench.json", (json.dumps(results, indent=2, ensure_ascii=False) + "\n").encode())
    figure.plot(results, out / "bench.png")
    write_atomic(out / "bench.md", (report.markdown(results) + "\n").encode())
    if config.readme:
        report.update_readme(config.readme, results, out / "bench.png")
    log(f"wrote {out / 'bench.json'}, {out / 'bench.md'}, {out / 'bench.png'}"
        + (f" and {config.readme}" if config.readme else ""))
