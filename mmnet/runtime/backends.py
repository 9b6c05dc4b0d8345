"""Inference backends: a shipped model's ONNX or TFLite file run by LiteRT, ONNX Runtime or OpenVINO behind
one small interface.

A backend is opened with `open_backend(path, name, threads)` and has `run(batch) -> alpha` (float32
N×3×H×W in [0, 1] -> the graph's float32 N×1×H×W "alpha"), `run_pixels(pixels) -> alpha` (the same from
uint8 N×H×W×3 RGB, what `mmnet.load` feeds: LiteRT gives them to an int8 model as they are, the others
convert them with `pixels_to_batch`), `get_inputs()`/`get_outputs()` (ports with `name` and `shape`, as ONNX
Runtime's sessions have them, None or a string for a free dimension), `name` and `session` (the runtime's
own object). ONNX Runtime is always installed; LiteRT (`ai-edge-litert`, with XNNPACK) and OpenVINO are
optional. `default_backend()` picks LiteRT where it is installed and the model ships a `.tflite` file (1.5×
ONNX Runtime's fp32 speed for mmnet-1.0-256 in fp32, more in int8, as `mmnet bench` measures), else ONNX
Runtime. OpenVINO is faster than ONNX Runtime on CPUs that compute in bf16 but is
chosen explicitly: loaded in a process that also runs numba's kernels (pymatting, in training), it crashed
that process in our test suite.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mmnet.extras import pip_install
from mmnet.runtime.interface import INPUT, OUTPUT, Backend, BackendError, Port, last_line, pixels_to_batch
from mmnet.runtime.weights import resolve, shipped_name, shipped_tflite

BACKENDS = ("litert", "onnxruntime", "openvino")  # in order of preference where a model has the file
MODULES = {"litert": "ai_edge_litert", "onnxruntime": "onnxruntime", "openvino": "openvino"}
FORMATS = {"litert": ".tflite", "onnxruntime": ".onnx", "openvino": ".onnx"}
ACCELERATED = ("CUDAExecutionProvider", "CoreMLExecutionProvider")


# ------------------------------------------------------------------------------------------- choice

def installed_backends() -> list[str]:
    """The names of BACKENDS whose runtime can be imported here."""
    return [name for name in BACKENDS if importlib.util.find_spec(MODULES[name]) is not None]


def accelerated_providers() -> list[str]:
    """ONNX Runtime's CUDA or CoreML providers, where this build has them."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    return [p for p in ACCELERATED if p in available]


def default_backend(formats: Sequence[str] = (".tflite", ".onnx")) -> str:
    """The backend `mmnet.load` takes by default for a model with `formats` (its files): LiteRT for a `.tflite`
    file where `ai-edge-litert` is installed, else ONNX Runtime (always installed, exact fp32). OpenVINO is
    faster than ONNX Runtime on CPUs that compute in bf16 but is chosen explicitly: `backend="openvino"`."""
    installed = installed_backends()
    for name in ("litert", "onnxruntime"):
        if name in installed and FORMATS[name] in formats:
            return name
    return "onnxruntime"


def choose(model: str | Path | None, size: int | None = None, backend: str | None = None,
           precision: str | None = None, providers: Sequence[str] | None = None) -> tuple[Path, int, str]:
    """(file, side S, backend) that `mmnet.load` runs `model` with: a shipped model's `.tflite` in LiteRT
    where it ships one and LiteRT is installed (in `precision`, None: the precision it ships as its
    default), else its ONNX file in ONNX Runtime; `backend` and `providers` (ONNX Runtime's) choose."""
    path, side = resolve(model, size)
    name = shipped_name(model)
    tflite = shipped_tflite(name, precision) if name else (path if path.suffix.lower() == ".tflite" else None)
    if precision and name and tflite is None:
        raise BackendError(f"{name}: ships no {precision} .tflite file")
    formats = (".tflite",) if path.suffix.lower() == ".tflite" else ((".tflite",) if tflite else ()) + (".onnx",)
    chosen = backend or ("onnxruntime" if providers else default_backend(formats))
    if chosen == "litert" and tflite is not None:
        return tflite, side, chosen
    if precision == "int8":
        raise BackendError(f"{model}: int8 models ship as .tflite files, run by backend 'litert' only")
    return path, side, chosen


def openvino_bf16() -> bool:
    """Whether OpenVINO's CPU plugin computes in bf16 on this CPU (it then does so unless told f32)."""
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def open_backend(path: str | Path, backend: str | None = None, *, threads: int | None = None,
                 providers: Sequence[str] | None = None, size: int | None = None) -> Backend:
    """`path` (a `.tflite` file for "litert", else an ONNX file) in `backend` ("litert", "onnxruntime",
    "openvino", None: `default_backend()` for that file); threads: intra-op threads (None: the runtime's
    choice); providers: ONNX Runtime execution providers; size: the side S of the photos it will take (lets
    OpenVINO compile for 1×3×S×S now rather than at the first run)."""
    path = Path(path)
    name = backend or ("onnxruntime" if providers else default_backend((path.suffix.lower(),)))
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)} "
                           f"(installed here: {', '.join(installed_backends())})")
    if name not in installed_backends():
        raise BackendError(f"backend {name!r} is not installed ({pip_install(MODULES[name])})")
    if path.suffix.lower() != FORMATS[name]:
        raise BackendError(f"{path}: backend {name!r} runs {FORMATS[name]} files (`mmnet export --format "
                           f"{FORMATS[name][1:]}` makes one)")
    if name == "onnxruntime":
        return OnnxRuntimeBackend(path, threads, providers)
    if providers:
        raise BackendError(f"providers {list(providers)} are ONNX Runtime's; backend {name!r} takes none")
    if name == "litert":
        from mmnet.runtime.litert import LiteRtBackend

        return LiteRtBackend(path, threads)
    return OpenVinoBackend(path, threads, size)


# ------------------------------------------------------------------------------------------ backends

class OnnxRuntimeBackend:
    """An ONNX Runtime session (all graph optimizations; CUDA/CoreML where available, then the CPU)."""

    name = "onnxruntime"

    def __init__(self, path: str | Path, threads: int | None = None, providers: Sequence[str] | None = None,
                 options=None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if options is None:
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            # idle threads must not spin: the refine and I/O work between runs needs the cores
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            if threads:
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
        chosen = list(providers or [*accelerated_providers(), "CPUExecutionProvider"])
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=chosen)
        except Exception as error:  # ORT raises its own types for a broken file or an unknown provider
            raise BackendError(f"{self.path}: cannot start ONNX Runtime on it ({last_line(error)})") from None

    @classmethod
    def from_session(cls, session, path: str | Path) -> OnnxRuntimeBackend:
        """Wrap an existing `onnxruntime.InferenceSession`."""
        backend = cls.__new__(cls)
        backend.session, backend.path = session, Path(path)
        return backend

    def __repr__(self) -> str:
        return f"onnxruntime[{self.session.get_providers()[0]}]"

    def get_inputs(self) -> list[Port]:
        return [Port(i.name, list(i.shape)) for i in self.session.get_inputs()]

    def get_outputs(self) -> list[Port]:
        return [Port(o.name, list(o.shape)) for o in self.session.get_outputs()]

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run([OUTPUT], {INPUT: np.ascontiguousarray(batch, np.float32)})[0]

    def run_pixels(self, pixels: np.ndarray) -> np.ndarray:
        return self.run(pixels_to_batch(pixels))


class OpenVinoBackend:
    """OpenVINO on the CPU in latency mode; compiled once per input shape (a static shape runs faster than
    a dynamic one), for 1×3×S×S at once when S is known. precision: "f32", "bf16", or None for OpenVINO's
    own choice (bf16 on CPUs that compute it, else f32)."""

    name = "openvino"

    def __init__(self, path: str | Path, threads: int | None = None, size: int | None = None,
                 precision: str | None = None) -> None:
        import openvino as ov

        self.path = Path(path)
        self._core = ov.Core()
        self.config: dict[str, str | int] = {"PERFORMANCE_HINT": "LATENCY"}
        if precision:
            self.config["INFERENCE_PRECISION_HINT"] = precision
        if threads:
            self.config["INFERENCE_NUM_THREADS"] = int(threads)
        try:
            self._model = self._core.read_model(str(self.path))
        except Exception as error:  # OpenVINO raises RuntimeError subclasses with long traces
            raise BackendError(f"{self.path}: cannot read it with OpenVINO ({last_line(error)})") from None
        self._requests: dict[tuple[int, ...], object] = {}
        self.session = None  # the compiled model of the last shape compiled
        batch, channels, *sides = self.get_inputs()[0].shape
        sides = [side or size for side in sides]
        if batch in (None, 1) and channels and len(sides) == 2 and all(sides):
            self._request((1, channels, *sides))

    @property
    def precision(self) -> str:
        """The precision it computes in: "f32", "bf16" (or the hint given, before the first compilation)."""
        if self.session is None:
            return str(self.config.get("INFERENCE_PRECISION_HINT", "auto"))
        return self.session.get_property("INFERENCE_PRECISION_HINT").get_type_name()

    def __repr__(self) -> str:
        return f"openvino[CPU, {self.precision}]"

    @staticmethod
    def _ports(nodes) -> list[Port]:
        return [Port(node.get_any_name(), [d.get_length() if d.is_static else None for d in node.get_partial_shape()])
                for node in nodes]

    def get_inputs(self) -> list[Port]:
        return self._ports(self._model.inputs)

    def get_outputs(self) -> list[Port]:
        return self._ports(self._model.outputs)

    def _request(self, shape: tuple[int, ...]):
        request = self._requests.get(shape)
        if request is None:
            model = self._model.clone()
            if not model.inputs[0].get_partial_shape().is_static:
                model.reshape({model.inputs[0]: list(shape)})
            try:
                self.session = self._core.compile_model(model, "CPU", self.config)
            except Exception as error:  # OpenVINO raises RuntimeError subclasses with long traces
                raise BackendError(f"{self.path}: OpenVINO cannot compile it for input {shape} "
                                   f"({last_line(error)})") from None
            request = self._requests[shape] = self.session.create_infer_request()
        return request

    def run(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, np.float32)
        request = self._request(batch.shape)
        request.infer({0: batch})
        return request.get_tensor(OUTPUT).data.copy()

    def run_pixels(self, pixels: np.ndarray) -> np.ndarray:
        return self.run(pixels_to_batch(pixels))
