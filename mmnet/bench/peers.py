"""The peers in the benchmark, behind one shape: `prepare` (photo -> model input), `run` (the model call),
`alpha` (its output -> the network-resolution alpha that `metrics.score` upsamples)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Peer:
    name: str
    runtime: str
    size: int
    prepare: Callable[[np.ndarray], np.ndarray]
    run: Callable[[np.ndarray], np.ndarray]
    params: int | None = None
    license: str = ""

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 RGB photo -> float alpha at the model's resolution."""
        return np.asarray(self.run(self.prepare(rgb)))


def mediapipe(threads: int) -> Peer:
    """MediaPipe's selfie segmenter (general model, 256×256) on LiteRT."""
    from mmnet.peers.mediapipe import MediaPipeSelfie, fetch_selfie_model

    peer = MediaPipeSelfie(fetch_selfie_model(), threads=threads)
    return Peer("mediapipe-selfie", "LiteRT fp32", peer.size, peer.prepare, peer.run_prepared, None, "Apache-2.0")


def rvm(threads: int) -> Peer:
    """Robust Video Matting MobileNetV3 (fp32 ONNX) on ONNX Runtime, one frame from zero states."""
    from mmnet.peers.rvm import RobustVideoMatting, fetch_rvm_model

    path = fetch_rvm_model()
    peer = RobustVideoMatting(path, threads=threads)
    return Peer("rvm-mobilenetv3", "ONNX Runtime fp32", peer.size, peer.prepare, peer.run_prepared,
                onnx_parameters(path), "GPL-3.0 (benchmark only)")


PEERS: dict[str, Callable[[int], Peer]] = {"mediapipe-selfie": mediapipe, "rvm-mobilenetv3": rvm}


def onnx_parameters(path: Path) -> int | None:
    """The number of weights stored in an ONNX file (its initializers), None without the onnx package."""
    try:
        import onnx
    except ImportError:
        return None
    graph = onnx.load(str(path)).graph
    return int(sum(np.prod(tensor.dims, dtype=np.int64) for tensor in graph.initializer))
