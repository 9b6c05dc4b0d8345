"""`load` a model and run it: `Matting.predict` (alpha), `cutout` (RGBA), `composite` (new background).

LiteRT, ONNX Runtime or OpenVINO (`mmnet.runtime.backends`) + numpy + OpenCV only, never torch. The photo is
squash-resized to S×S uint8 pixels exactly as in training (`mmnet.data.preprocess.prepare_eval`), which every
backend takes (`run_pixels`), and the S×S matte is brought back to the photo's size by `mmnet.runtime.refine`,
guided by those same pixels.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mmnet.data.preprocess import resize_align_corners
from mmnet.runtime import compose
from mmnet.runtime import refine as refining
from mmnet.runtime.backends import OnnxRuntimeBackend, choose, open_backend
from mmnet.runtime.compose import Background
from mmnet.runtime.images import ImageLike, to_rgb
from mmnet.runtime.interface import Backend
from mmnet.runtime.weights import WeightsError, input_size

REFINE_DEFAULT = True  # guided upsampling: it lowers GAUSS_GRAD at full resolution (see refine.py)


def load(model: str | Path | None = None, *, providers: Sequence[str] | None = None, threads: int | None = None,
         size: int | None = None, backend: str | None = None, precision: str | None = None) -> Matting:
    """A ready `Matting` for a shipped model name (None: the default), an `.onnx` or `.tflite` file or a
    `.pt` checkpoint.

    backend: "litert" (pip install mmnet[litert]), "onnxruntime", "openvino" (pip install mmnet[openvino])
    or None: LiteRT where `ai-edge-litert` is installed and the model is or ships a .tflite file, else ONNX
    Runtime (`mmnet.runtime.backends.choose`; OpenVINO only when named, ONNX Runtime when `providers` are
    given); precision: a shipped LiteRT model's "fp32" or "int8" (None: the one it ships as its default);
    providers: ONNX Runtime execution providers (default: CUDA/CoreML where available, then CPU); threads:
    intra-op threads (default: the cores; ONNX Runtime counts physical ones, LiteRT takes up to 4); size: the
    side S for a dynamic-size ONNX file."""
    path, side, backend = choose(model, size, backend, precision, providers)
    runner = open_backend(path, backend, threads=threads, providers=providers, size=side)
    input_size(runner, path, side)
    return Matting(runner, side, path)


class Matting:
    """A matting model in an inference backend; photos are any `ImageLike` (array, path, PIL image)."""

    def __init__(self, session: Backend | object, size: int, path: Path, refine: bool = REFINE_DEFAULT) -> None:
        """session: a backend of `mmnet.runtime.backends`, or an `onnxruntime.InferenceSession`."""
        is_ort_session = hasattr(session, "get_providers")
        self.backend: Backend = OnnxRuntimeBackend.from_session(session, path) if is_ort_session else session
        self.size, self.path, self.refine = size, Path(path), refine
        batch = self.backend.get_inputs()[0].shape[0]
        if isinstance(batch, int) and batch != 1:
            raise WeightsError(f"{path}: the model takes batches of exactly {batch}; export it with a batch of "
                               f"1 or a dynamic one")
        self.max_batch = batch if isinstance(batch, int) else None  # 1, or None: any batch size

    @property
    def session(self):
        """The backend's own object (an `onnxruntime.InferenceSession`, or OpenVINO's compiled model)."""
        return self.backend.session

    def __repr__(self) -> str:
        return f"Matting({self.path.name}, size={self.size}, backend={self.backend!r})"

    # ---------------------------------------------------------------------------------------- steps
    def network_input(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 H×W×3 RGB -> uint8 S×S×3: the photo squash-resized as in training, what the network takes."""
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"the network takes a uint8 H×W×3 RGB photo, got {rgb.dtype} {rgb.shape}")
        return resize_align_corners(rgb, self.size)

    def infer(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 N×S×S×3 (`network_input`s) -> float32 N×S×S alpha, in one backend run (one per image for a
        model exported with a fixed batch of 1, as `mmnet export` without --dynamic makes)."""
        if self.max_batch == 1 and len(pixels) != 1:
            return np.concatenate([self.infer(pixels[i:i + 1]) for i in range(len(pixels))])
        return self.backend.run_pixels(pixels)[:, 0]

    def to_full(self, alpha: np.ndarray, rgb: np.ndarray, network_input: np.ndarray | None = None,
                refine: bool | None = None, parallel: bool = True) -> np.ndarray:
        """The S×S matte back at the photo's H×W (float32 in [0, 1]), guided by the photo if `refine` and the
        photo is larger than S×S (no larger, it has no finer edges to follow: plain resizing then).
        parallel: share the refine among threads; pipelines that already run photos side by side say False."""
        height, width = rgb.shape[:2]
        if not (self.refine if refine is None else refine) or max(height, width) <= self.size:
            return refining.upsample(alpha, height, width)
        small = self.network_input(rgb) if network_input is None else network_input
        return refining.guided_upsample(alpha, small, rgb, parallel=parallel)

    # ------------------------------------------------------------------------------------- results
    def predict(self, image: ImageLike, *, refine: bool | None = None) -> np.ndarray:
        """float32 H×W alpha in [0, 1] at the photo's resolution. `image`: a path, encoded bytes, a PIL image or
        a numpy array in RGB order; an OpenCV (`cv2.imread`) array is BGR and gives another matte: pass
        `bgr[..., ::-1]`, or the path."""
        return self.predict_batch([image], refine=refine)[0]

    def predict_batch(self, images: Sequence[ImageLike], *, refine: bool | None = None) -> list[np.ndarray]:
        """`predict` of each photo, with one backend run for all of them (see `infer`); sizes may differ."""
        photos = [to_rgb(image) for image in images]
        if not photos:
            return []
        inputs = np.stack([self.network_input(rgb) for rgb in photos])
        alphas = self.infer(inputs)
        return [self.to_full(alpha, rgb, small, refine) for alpha, rgb, small in zip(alphas, photos, inputs)]

    def cutout(self, image: ImageLike, *, refine: bool | None = None) -> np.ndarray:
        """uint8 H×W×4 RGBA: the person with foreground colours freed of the old background."""
        rgb = to_rgb(image)
        return compose.cutout(rgb, self.predict(rgb, refine=refine))

    def composite(self, image: ImageLike, background: Background, *, refine: bool | None = None) -> np.ndarray:
        """uint8 H×W×3 RGB: the person over `background` (an (R, G, B) colour, an image or path, resized
        to cover, or "blur" for the photo's own background blurred)."""
        rgb = to_rgb(image)
        return compose.composite(rgb, self.predict(rgb, refine=refine), background)
