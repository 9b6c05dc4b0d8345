"""The models of the benchmark: the paper's figure (MMNet 0.5–1.4 × 128/256 and its Mobile DeepLabv3
variants) and every shipped model of the manifest; their parameters, MACs and ONNX files."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmnet.errors import ConfigError
from mmnet.manifest import ManifestEntry, read_manifest, weights_dir
from mmnet.models.variants import CATALOGUE, ModelVariant, decimal

QUICK = ("mmnet-0.5-128", "deeplab-os16-0.5-256")  # beside the shipped models in a --quick run


@dataclass
class Variant:
    """One model variant (`mmnet.models.variants`) as measured; `shipped` is its manifest entry when trained
    weights ship; `name` is the manifest's for a shipped model, else the variant's own."""

    name: str
    spec: ModelVariant
    shipped: ManifestEntry | None = None
    params: int = 0
    macs: int = 0
    files: dict[str, Path] = field(default_factory=dict)  # "fp32", "int8" -> ONNX; "tflite-fp32"... -> LiteRT

    @property
    def model(self) -> str:
        return self.spec.architecture

    @property
    def kwargs(self) -> dict:
        return dict(self.spec.kwargs)

    @property
    def size(self) -> int:
        return self.spec.size

    @property
    def family(self) -> str:
        """"MMNet", "MD16" or "MD8" (as the paper's figure names them)."""
        if self.model == "mmnet":
            return "MMNet"
        return f"MD{self.kwargs.get('output_stride', 16)}"

    @property
    def label(self) -> str:
        """The figure's label: the multiplier, with * for a 128-input model."""
        return decimal(self.spec.multiplier) + ("*" if self.size == 128 else "")


def all_variants(names: Sequence[str] | None = None, quick: bool = False) -> list[Variant]:
    """The catalogue (`mmnet.models.variants.CATALOGUE`: the paper's figure) and the shipped models (a shipped
    model outside it is added under its manifest name); `names` keeps those named, `quick` the shipped ones
    and QUICK."""
    variants = {spec.name: Variant(spec.name, spec) for spec in CATALOGUE}
    for name, entry in read_manifest().models.items():
        kwargs = {k: v for k, v in entry.model_kwargs.items() if k != "bn_momentum"}
        variant = variants.setdefault(name, Variant(name, ModelVariant(entry.architecture, kwargs, entry.size)))
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
    from mmnet.models.complexity import count_macs, count_parameters

    if variant.shipped:
        from mmnet.export.formats import Trained

        model = Trained.load(weights_dir() / variant.shipped.checkpoint.file).model
    else:
        model = variant.spec.create().eval()
    variant.params = count_parameters(model)["params"]
    variant.macs = count_macs(model, variant.size)
    return model


def export(variant: Variant, model, folder: Path, calibration: np.ndarray | None) -> dict[str, Path]:
    """ONNX files of `variant` in `folder`, as `mmnet export` makes them: "fp32" (a shipped model's own
    file, else exported) and "int8" (static QDQ calibrated on `calibration`, N×3×S×S, when given), and a
    shipped model's LiteRT files ("tflite-fp32", "tflite-int8"). Stored in `variant.files`."""
    from mmnet.export.formats import export_model

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    if variant.shipped:
        fp32 = weights_dir() / variant.shipped.onnx.file
    else:
        fp32 = export_model(model, folder / f"{variant.name}.onnx", "onnx", variant.size)
    variant.files = {"fp32": fp32}
    for precision, shipped in (variant.shipped.tflite if variant.shipped else {}).items():
        variant.files[f"tflite-{precision}"] = weights_dir() / shipped.file
    if calibration is not None:
        variant.files["int8"] = export_model(model, folder / f"{variant.name}.int8.onnx", "onnx", variant.size,
                                             calibration=calibration)
    return variant.files
