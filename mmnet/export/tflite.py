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

The file takes what mobile image buffers hold: `1×S×S×3` RGB (NHWC), and returns `1×S×S×1` alpha (float32).
fp32: RGB float in [0, 1]. int8 (`calibration` given): full-integer, static per-channel quantization by
litert-torch's PT2E quantizer (int8 weights and activations, activation ranges from the calibration photos),
its input fixed at scale 1/255 and zero point -128, so that it takes the uint8 pixel minus 128 as it is
(`mmnet.runtime.litert`). Converting needs `pip install mmnet[tflite]` (about 1 minute for MMNet 1.0 in
fp32, 2 in int8); running it needs only `ai-edge-litert`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mmnet.files import atomic_write


def export_tflite(model, path: str | Path, size: int = 256, calibration: np.ndarray | None = None,
                  split_merges: bool | None = None) -> Path:
    """Write `model` (a 2-logit torch module in eval mode) as a TFLite file for one S×S photo (NHWC): fp32,
    or full-integer int8 with `calibration` (N×3×S×S float32 in [0, 1], the photos the activation ranges are
    taken from). `split_merges` (see `mmnet.export.rewrite`; None: fp32 only): the quantizer leaves the
    summed merges' Adds in float, with 35 DEQUANTIZE and 12 QUANTIZE around them, so int8 keeps the concat."""
    split_merges = calibration is None if split_merges is None else split_merges
    try:
        import litert_torch  # heavy, optional
    except ImportError as error:
        raise ImportError(f"TFLite export needs litert-torch ({error}): pip install 'mmnet[tflite]'") from None
    import torch

    from mmnet.export.rewrite import alpha_model

    net = litert_torch.to_channel_last_io(alpha_model(model, split_merges=split_merges), args=[0], outputs=[0])
    example = (torch.rand(1, size, size, 3),)
    if calibration is None:
        converted = litert_torch.convert(net.eval(), example)
    else:
        converted = _convert_int8(litert_torch, net.eval(), example, calibration)
    return atomic_write(path, lambda tmp: converted.export(str(tmp)), suffix=".tflite")


def _convert_int8(litert_torch, net, example: tuple, calibration: np.ndarray):
    """PT2E static quantization (per-channel int8 weights, int8 activations) calibrated on `calibration`,
    the input's range fixed at [0, 1] (scale 1/255, zero point -128: the uint8 pixel minus 128)."""
    import torch
    from litert_torch.quantize import pt2e_quantizer
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    if len(calibration) == 0:
        raise ValueError("int8 TFLite export needs at least one calibration image")
    quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
        pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True))
    prepared = prepare_pt2e(torch.export.export(net, example).module(), quantizer)
    with torch.no_grad():
        for image in calibration:
            prepared(torch.from_numpy(np.ascontiguousarray(image.transpose(1, 2, 0)[None], np.float32)))
    _fix_input_range(prepared)
    quantized = convert_pt2e(prepared, fold_quantize=False)
    return litert_torch.convert(quantized, example, quant_config=QuantConfig(pt2e_quantizer=quantizer))


def _fix_input_range(prepared) -> None:
    """Give the observer of the graph's input the range [0, 1] exactly, whatever the photos held."""
    import torch
    from torchao.quantization.pt2e import MinMaxObserver

    def observer_or_op(node) -> bool:
        return node.op == "call_function" or str(node.target).startswith("activation_post_process")

    node = next(node for node in prepared.graph.nodes if node.op == "placeholder")
    while not (node.op == "call_module" and observer_or_op(node)):  # the layout change, then the observer
        (node,) = [user for user in node.users if observer_or_op(user)]  # (not export's guard function)
    observer = MinMaxObserver(dtype=torch.int8, quant_min=-128, quant_max=127, qscheme=torch.per_tensor_affine)
    observer(torch.tensor([0.0, 1.0]))
    setattr(prepared, node.target, observer)
