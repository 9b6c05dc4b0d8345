"""MediaPipe's selfie segmenter (Apache-2.0) as a benchmark peer, run with ai-edge-litert.

The model is the `.tflite` inside the `mediapipe==0.10.21` wheel; `fetch_selfie_model` downloads that
wheel with pip (mediapipe itself is never installed), extracts the model and caches it.

Preprocessing follows MediaPipe's own graph, `mediapipe/modules/selfie_segmentation/selfie_segmentation_cpu.pbtxt`
(model 0, as compiled into the wheel's `selfie_segmentation_cpu.binarypb`): ImageToTensorCalculator with
`output_tensor_width/height: 256`, `keep_aspect_ratio: false` (the whole frame is squashed, no letterbox),
`output_tensor_float_range {min: 0 max: 1}`, `border_mode: BORDER_ZERO`; its OpenCV converter warps the
uint8 RGB frame with `cv::warpPerspective(INTER_LINEAR)` (frame corners onto tensor corners), then scales
by 1/255. TensorsToSegmentationCalculator uses `activation: NONE` (the model ends in a sigmoid) and
upsamples the 256×256 mask to the frame size with `cv::resize` (bilinear).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mmnet.peers.wheels import PIP_TIMEOUT_S, PeerModelError, default_cache_dir, fetch_wheel_member
from mmnet.runtime.litert import allocate_quietly

__all__ = ["PIP_TIMEOUT_S", "PeerModelError", "default_cache_dir", "fetch_selfie_model", "MediaPipeSelfie"]

SELFIE_REQUIREMENT = "mediapipe==0.10.21"
SELFIE_MEMBER = "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite"
SELFIE_SHA256 = "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"
SELFIE_FILENAME = "selfie_segmentation.tflite"
# The landscape model of the same release (144×256 input, for frames wider than tall): `landscape=True`.
LANDSCAPE_MEMBER = "mediapipe/modules/selfie_segmentation/selfie_segmentation_landscape.tflite"
LANDSCAPE_SHA256 = "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd"
LANDSCAPE_FILENAME = "selfie_segmentation_landscape.tflite"
# Any wheel of the release holds the same model: pin one so the download works from any host Python.
_WHEEL_TARGET = ("--platform", "manylinux_2_28_x86_64", "--python-version", "3.11",
                 "--implementation", "cp", "--only-binary=:all:")
INPUT_SIZE = 256


# ------------------------------------------------------------------------------------------- fetching

def fetch_selfie_model(cache_dir: Path | None = None, *, landscape: bool = False) -> Path:
    """The cached selfie segmentation `.tflite` (general 256×256, or with `landscape` the 144×256 landscape
    model), downloaded (wheel via pip), extracted and checked first when it is absent or its sha256 differs."""
    if landscape:
        return fetch_wheel_member(SELFIE_REQUIREMENT, LANDSCAPE_MEMBER, LANDSCAPE_SHA256, LANDSCAPE_FILENAME,
                                  cache_dir, _WHEEL_TARGET)
    return fetch_wheel_member(SELFIE_REQUIREMENT, SELFIE_MEMBER, SELFIE_SHA256, SELFIE_FILENAME, cache_dir,
                              _WHEEL_TARGET)


# ------------------------------------------------------------------------------------------- inference

class MediaPipeSelfie:
    """The selfie segmenter on ai-edge-litert: uint8 RGB photo -> person probability. The input tensor is
    `height`×`width` (256×256 for the general model, 144×256 for the landscape one); `size` is the longer side."""

    def __init__(self, model_path: str | Path, threads: int = 2) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise ImportError("MediaPipeSelfie needs ai-edge-litert (pip install ai-edge-litert); it is a "
                              "benchmark-only peer, not a dependency of mmnet") from None
        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: model file does not exist (fetch_selfie_model() downloads it)")
        try:
            self._interpreter = Interpreter(model_path=str(path), num_threads=threads)
            allocate_quietly(self._interpreter)
        except (ValueError, RuntimeError) as error:
            raise PeerModelError(f"{path}: cannot load the model ({error})") from None
        (self._input,), (self._output,) = (self._interpreter.get_input_details(),
                                           self._interpreter.get_output_details())
        shape = tuple(int(n) for n in self._input["shape"])
        if len(shape) != 4 or shape[0] != 1 or shape[3] != 3 or shape[2] != INPUT_SIZE:
            raise PeerModelError(f"{path}: input shape {shape}, expected (1, H, {INPUT_SIZE}, 3)")
        self.height, self.width = shape[1:3]
        self.size = max(self.height, self.width)

    def prepare(self, image_u8: np.ndarray) -> np.ndarray:
        """uint8 H×W×3 RGB -> float32 1×height×width×3 in [0, 1], squashed as MediaPipe does (no letterbox)."""
        image = np.asarray(image_u8)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected a uint8 H×W×3 RGB image, got {image.dtype} {image.shape}")
        height, width = image.shape[:2]
        warp = np.diag([self.width / width, self.height / height, 1.0])  # frame corners -> tensor corners
        squashed = cv2.warpPerspective(image, warp, (self.width, self.height), flags=cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return (squashed.astype(np.float32) * np.float32(1 / 255))[None]

    def run_prepared(self, tensor: np.ndarray) -> np.ndarray:
        """The model call alone: float32 1×height×width×3 -> float32 height×width person probability."""
        self._interpreter.set_tensor(self._input["index"], np.ascontiguousarray(tensor, np.float32))
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output["index"])[0, :, :, 0].copy()

    def predict(self, image_u8: np.ndarray) -> np.ndarray:
        """uint8 H×W×3 RGB -> float32 height×width person probability (of the squashed frame)."""
        return self.run_prepared(self.prepare(image_u8))

    def predict_full(self, image_u8: np.ndarray) -> np.ndarray:
        """uint8 H×W×3 RGB -> float32 H×W person probability (bilinear upsampling, as MediaPipe's)."""
        height, width = np.asarray(image_u8).shape[:2]
        return cv2.resize(self.predict(image_u8), (width, height), interpolation=cv2.INTER_LINEAR)
