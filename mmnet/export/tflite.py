"""TFLite (LiteRT) export through litert-torch: mmnet's on-device format beyond ONNX.

Why TFLite: it is the format of the peer that mmnet is measured against (MediaPipe's selfie segmenter), so
both run in one interpreter (`ai-edge-litert`, already used for that peer) with the same XNNPACK kernels;
Android and iOS apps load it with the stock LiteRT runtime; and litert-torch converts the PyTorch network
directly (no ONNX hop), matching PyTorch to ~2e-6 on the first try.

The other two, tried on MMNet 1.0 @256 (2026-11-25, this machine, beside a training run):
- ExecuTorch 1.5.1 with XNNPACK (`torch.export` -> `to_edge_transform_and_lower` -> .pte, 826 KiB) runs
  here and matches PyTorch to 1e-6, but lowering took 12 minutes, and its wheel pulls torchao, pandas,
  hydra and coremltools: too heavy an extra for what TFLite already gives.
- Core ML (coremltools 9.0, an mlprogram of 616 KB in under 3 minutes) converts, but runs only on macOS:
  it cannot be checked against PyTorch here, which every export must be.

The file takes what mobile image buffers hold: `1×S×S×3` RGB float in [0, 1] (NHWC), and returns
`1×S×S×1` alpha. Converting needs `pip install litert-torch` (about 2 minutes for MMNet 1.0); running it
needs only `ai-edge-litert`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mmnet.files import atomic_write


def export_tflite(model, path: str | Path, size: int = 256) -> Path:
    """Write `model` (a 2-logit torch module in eval mode) as a TFLite file for one S×S photo (NHWC)."""
    try:
        import litert_torch  # noqa: PLC0415  (heavy, optional)
    except ImportError as error:
        raise ImportError(f"TFLite export needs litert-torch ({error}): pip install 'mmnet[tflite]'") from None
    import torch  # noqa: PLC0415

    from mmnet.export.rewrite import alpha_model  # noqa: PLC0415

    channels_last = litert_torch.to_channel_last_io(alpha_model(model), args=[0], outputs=[0]).eval()
    converted = litert_torch.convert(channels_last, (torch.rand(1, size, size, 3),))
    return atomic_write(path, lambda tmp: converted.export(str(tmp)), suffix=".tflite")


def tflite_runner(path: str | Path, threads: int = 1):
    """N×3×S×S float32 images -> N×S×S alpha, one interpreter call per image (XNNPACK on the CPU)."""
    try:
        from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415
    except ImportError as error:
        raise ImportError(f"running a .tflite file needs ai-edge-litert ({error})") from None
    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]

    def run(images: np.ndarray) -> np.ndarray:
        alphas = []
        for image in images:
            interpreter.set_tensor(source, np.ascontiguousarray(image.transpose(1, 2, 0)[None], np.float32))
            interpreter.invoke()
            alphas.append(interpreter.get_tensor(target)[0, ..., 0])
        return np.stack(alphas)
    return run
