"""The models of the benchmark: the paper's figure (MMNet 0.5–1.4 × 128/256 and its Mobile DeepLabv3
variants) and every shipped model of the manifest; their parameters, MACs and ONNX files."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmnet.errors import ConfigError
from mmnet.runtime.weights import read_manifest, weights_dir

MMNET_MULTIPLIERS = (0.5, 0.75, 1.0, 1.4)
SIZES = (128, 256)
# Mobile DeepLabv3 of the paper's figure (mmnet-reference.md §6): (output stride, depth multiplier, input)
DEEPLAB = ((16, 0.75, 128), (16, 1.0, 128), (16, 0.5, 256), (16, 0.75, 256),
           (8, 0.35, 128), (8, 0.5, 128), (8, 0.75, 128))
QUICK = ("mmnet-0.5-128", "deeplab-os16-0.5-256")  # beside the shipped models in a --quick run


@dataclass
class Variant:
    """One model at one input size; `shipped` is its manifest entry when trained weights ship."""

    name: str
    model: str
    kwargs: dict
    size: int
    shipped: dict | None = None
    params: int = 0
    macs: int = 0
    files: dict[str, Path] = field(default_factory=dict)  # "fp32", "int8" -> ONNX; "tflite-fp32"... -> LiteRT

    @property
    def family(self) -> str:
        """"MMNet", "MD16" or "MD8" (as the paper's figure names them)."""
        if self.model == "mmnet":
            return "MMNet"
        return f"MD{self.kwargs.get('output_stride', 16)}"

    @property
    def multiplier(self) -> float:
        return float(self.kwargs.get("width_multiplier", self.kwargs.get("depth_multiplier", 1.0)))

    @property
    def label(self) -> str:
        """The figure's label: the multiplier, with * for a 128-input model."""
        return _decimal(self.multiplier) + ("*" if self.size == 128 else "")


def variant_name(model: str, kwargs: dict, size: int) -> str:
    """`mmnet-1.0-256`, `deeplab-os16-0.5-256`: the names the manifest uses."""
    if model == "mmnet":
        return f"mmnet-{_decimal(kwargs['width_multiplier'])}-{size}"
    return f"deeplab-os{kwargs['output_stride']}-{_decimal(kwargs['depth_multiplier'])}-{size}"


def _decimal(value: float) -> str:
    """0.5 -> "0.5", 0.75 -> "0.75", 1 -> "1.0"."""
    text = f"{value:g}"
    return text if "." in text else f"{text}.0"


def _grid() -> list[Variant]:
    grid = [Variant("", "mmnet", {"width_multiplier": m}, s) for m in MMNET_MULTIPLIERS for s in SIZES]
    grid += [Variant("", "deeplab", {"depth_multiplier": dm, "output_stride": os}, s) for os, dm, s in DEEPLAB]
    for variant in grid:
        variant.name = variant_name(variant.model, variant.kwargs, variant.size)
    return grid


def all_variants(names: Sequence[str] | None = None, quick: bool = False) -> list[Variant]:
    """The figure's grid and the shipped models (a shipped model outside the grid is added); `names`
    keeps those named, `quick` the shipped ones and QUICK."""
    variants = {v.name: v for v in _grid()}
    for name, entry in read_manifest()["models"].items():
        kwargs = {k: v for k, v in entry.get("model_kwargs", {}).items() if k != "bn_momentum"}
        variant = variants.setdefault(name, Variant(name, entry["model"], kwargs, int(entry["size"])))
        variant.shipped = entry
    if names:
        unknown = sorted(set(names) - set(variants))
        if unknown:
            raise ConfigError(f"unknown variants {', '.join(unknown)}; known: {', '.join(variants)}")
        return [variants[name] for name in names]
    if quick:
        return [v for v in variants.values() if v.shipped or v.name in QUICK]
    return list(variants.values())


def build(variant: Variant):
    """The torch module of `variant` in eval mode: a shipped model's trained weights, else random ones
    (speed does not depend on them); its parameters and MACs filled in."""
    from mmnet.models import create  # noqa: PLC0415
    from mmnet.models.complexity import count_macs, count_parameters  # noqa: PLC0415

    if variant.shipped:
        from mmnet.evaluation.evaluate import model_from_checkpoint  # noqa: PLC0415
        from mmnet.training.checkpoint import load_checkpoint  # noqa: PLC0415

        model = model_from_checkpoint(load_checkpoint(weights_dir() / variant.shipped["checkpoint"]))
    else:
        model = create(variant.model, **variant.kwargs).eval()
    variant.params = count_parameters(model)["params"]
    variant.macs = count_macs(model, variant.size)
    return model


def export(variant: Variant, model, folder: Path, calibration: np.ndarray | None) -> dict[str, Path]:
    """ONNX files of `variant` in `folder`, as `mmnet export` makes them: "fp32" (a shipped model's own
    file, else exported) and "int8" (static QDQ calibrated on `calibration`, N×3×S×S, when given), and a
    shipped model's LiteRT files ("tflite-fp32", "tflite-int8"). Stored in `variant.files`."""
    from mmnet.export.formats import export_model  # noqa: PLC0415

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    if variant.shipped:
        fp32 = weights_dir() / variant.shipped["onnx"]
    else:
        fp32 = export_model(model, folder / f"{variant.name}.onnx", "onnx", variant.size)
    variant.files = {"fp32": fp32}
    for precision, shipped in ((variant.shipped or {}).get("tflite") or {}).items():
        if precision != "default":
            variant.files[f"tflite-{precision}"] = weights_dir() / shipped["file"]
    if calibration is not None:
        variant.files["int8"] = export_model(model, folder / f"{variant.name}.int8.onnx", "onnx", variant.size,
                                             calibration=calibration)
    return variant.files
