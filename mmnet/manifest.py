"""The shipped weights and their manifest (`mmnet/weights/manifest.json`), torch-free: the runtime reads it to
find a model's files, `mmnet ship` writes it. One typed entry per shipped model (`ManifestEntry`), one reader
(`read_manifest`) and one writer (`write_manifest`).

On disk an entry keeps the keys it has always had, so that an older mmnet reads a manifest that a newer one
wrote: "model" is the architecture there, "onnx", "sha256" and "onnx_check" the ONNX file, "checkpoint" and
"checkpoint_sha256" the `.pt`, and "tflite" the LiteRT files by precision beside {"default": precision}."""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from mmnet.errors import WeightsError
from mmnet.files import atomic_write

MANIFEST = "manifest.json"
PRECISIONS = ("fp32", "int8")  # of the LiteRT files
CHECKPOINT_SUFFIXES = (".pt", ".pth")  # a PyTorch checkpoint's file


def weights_dir() -> Path:
    """The folder of the shipped models, `mmnet/weights/`."""
    return Path(str(resources.files("mmnet.weights")))


@dataclass(frozen=True)
class ShippedFile:
    """One file of a shipped model: its name in the weights folder, its sha256, how it compared with PyTorch
    (`mmnet.export.check`'s summaries: {"random": ..., "holdout": ...}) and, for int8, its calibration photos."""

    file: str
    sha256: str
    check: dict[str, Any] | None = None
    calibration_images: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShippedFile:
        return cls(data["file"], data["sha256"], data.get("check"), data.get("calibration_images"))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.file, "sha256": self.sha256, "check": self.check}
        return out if self.calibration_images is None else {**out, "calibration_images": self.calibration_images}


@dataclass(frozen=True)
class ManifestEntry:
    """A shipped model: the variant it is (architecture, keyword arguments, input side S), the training step
    its weights are from, its files (ONNX, the `.pt`, LiteRT by precision and the precision LiteRT runs by
    default) and, for a model soup, what it was averaged from."""

    architecture: str
    model_kwargs: dict[str, Any]
    size: int
    step: int
    onnx: ShippedFile
    checkpoint: ShippedFile
    tflite: dict[str, ShippedFile] = field(default_factory=dict)
    tflite_default: str | None = None
    averaged_from: list[dict[str, Any]] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ManifestEntry:
        tflite = data.get("tflite") or {}
        return cls(architecture=data["model"], model_kwargs=dict(data["model_kwargs"]), size=int(data["size"]),
                   step=int(data["step"]), onnx=ShippedFile(data["onnx"], data["sha256"], data.get("onnx_check")),
                   checkpoint=ShippedFile(data["checkpoint"], data["checkpoint_sha256"]),
                   tflite={precision: ShippedFile.from_json(file) for precision, file in tflite.items()
                           if precision in PRECISIONS},
                   tflite_default=tflite.get("default"), averaged_from=data.get("averaged_from"))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"onnx": self.onnx.file, "sha256": self.onnx.sha256, "checkpoint": self.checkpoint.file,
                               "checkpoint_sha256": self.checkpoint.sha256, "size": self.size,
                               "model": self.architecture, "model_kwargs": self.model_kwargs, "step": self.step}
        if self.averaged_from is not None:
            out["averaged_from"] = self.averaged_from
        out["onnx_check"] = self.onnx.check
        if self.tflite:
            out["tflite"] = {"default": self.tflite_default,
                             **{precision: file.to_json() for precision, file in self.tflite.items()}}
        return out

    def tflite_file(self, precision: str | None = None) -> ShippedFile | None:
        """The LiteRT file in `precision` (None: the one shipped as the default, else fp32); None if not shipped."""
        if precision is not None and precision not in PRECISIONS:
            raise WeightsError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
        return self.tflite.get(precision or self.tflite_default or "fp32")


@dataclass(frozen=True)
class Manifest:
    """The models of a weights folder by name, and the one that `mmnet.load()` gives (None: none yet)."""

    folder: Path
    models: dict[str, ManifestEntry] = field(default_factory=dict)
    default: str | None = None

    def with_model(self, name: str, entry: ManifestEntry, make_default: bool = False) -> Manifest:
        """This manifest with `entry` as `name`; the default too when `make_default` or when there is none."""
        default = name if make_default or self.default is None else self.default
        return replace(self, models={**self.models, name: entry}, default=default)


def read_manifest(folder: Path | None = None) -> Manifest:
    """The manifest of `folder` (default: the shipped weights); an empty one where a given `folder` has none."""
    folder = weights_dir() if folder is None else Path(folder)
    path = folder / MANIFEST
    if not path.exists() and folder != weights_dir():
        return Manifest(folder)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise WeightsError(f"{path}: cannot read the weights manifest ({error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise WeightsError(f"{path}: the manifest has no 'models' map")
    try:
        models = {name: ManifestEntry.from_json(entry) for name, entry in data["models"].items()}
    except (KeyError, TypeError, ValueError) as error:
        raise WeightsError(f"{path}: an entry of the weights manifest is not one ({error!r})") from None
    return Manifest(folder, models, data.get("default"))


def write_manifest(manifest: Manifest) -> Path:
    """Write `manifest` into its folder, atomically."""
    data = {"default": manifest.default, "models": {name: entry.to_json() for name, entry in manifest.models.items()}}
    return atomic_write(manifest.folder / MANIFEST, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))
