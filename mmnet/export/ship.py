"""Ship a trained model inside the package: its weights (`mmnet/weights/NAME.pt`), every format made from
them, each checked against PyTorch, and a manifest entry with their checksums and checks. Run again on the
shipped `.pt` (or its name) to remake every format from it.

- `NAME.onnx`: the fastest fp32 ONNX form measured (`benchmarks/export_graph.py`): a fixed 1×3×S×S input
  and the rewritten graph of `mmnet.export.rewrite`.
- `NAME.tflite` (fp32) and, with `--dataset`, `NAME.int8.tflite` (full-integer int8 calibrated on
  `--calibration` training photos of `<dataset>/train` outside its hold-out, HOLDOUT_PERCENT), for LiteRT
  (`mmnet.export.tflite`; needs `pip install mmnet[tflite]`).

Each file is checked against PyTorch: the largest alpha difference on seeded random inputs and, with
`--dataset`, GAUSS_GRAD, MAD and IoU on the hold-out. The int8 file is LiteRT's default precision when its
GAUSS_GRAD is within 2 % of PyTorch's and its IoU within 0.003, else fp32 is.

    mmnet ship CHECKPOINT NAME [--default] [--dataset ../shared/data/eg1800]    (or python -m mmnet.export.ship)

What it needs (torch, onnx, onnxscript; litert-torch for the LiteRT files) is checked before anything is
done, and imported only then, so that a missing package is named with the extra that installs it.
"""
from __future__ import annotations

import importlib
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from mmnet import manifest
from mmnet.errors import MmnetError
from mmnet.extras import pip_install
from mmnet.files import sha256_of
from mmnet.manifest import ManifestEntry, ShippedFile

CALIBRATION_IMAGES = 64
INT8_GAUSS_GRAD_BOUND = 0.02  # int8 is the default where GAUSS_GRAD is at most 2 % above PyTorch's
INT8_IOU_BOUND = 0.003  # and IoU at most 0.003 below
NEEDED = ("torch", "onnx", "onnxscript")  # and, for the LiteRT files, TFLITE_NEEDED
TFLITE_NEEDED = ("litert_torch",)


def ship(checkpoint: str | Path, name: str, make_default: bool = False, weights_dir: str | Path | None = None,
         dataset: str | Path | None = None, calibration: int = CALIBRATION_IMAGES,
         tflite: bool = True) -> ManifestEntry:
    """Write NAME.pt (the EMA weights where kept, no optimizer), NAME.onnx and (`tflite`) NAME.tflite and,
    with a `dataset`, NAME.int8.tflite into `weights_dir` (default: the package's), check each against PyTorch
    and record them in its manifest. Returns the manifest entry. The files, NAME.pt included, are made and
    checked in a staging folder first and moved into place together with the manifest: a failure leaves
    `weights_dir` as it was."""
    from mmnet.export.check import validation_split
    from mmnet.export.formats import Trained

    source, folder = Path(checkpoint), Path(weights_dir or manifest.weights_dir())
    trained = Trained.load(source)
    model, size = trained.model, trained.size
    slim = replace(trained.checkpoint, weights={k: v.contiguous() for k, v in model.state_dict().items()},
                   ema=None, optimizer=None)
    pt_path = folder / f"{name}.pt"
    holdout = validation_split(dataset, size) if dataset else None
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".ship-") as staging_dir:
        staging = Path(staging_dir)
        if pt_path.resolve() != source.resolve():
            pt_path = slim.save(staging / pt_path.name)
        onnx_path = trained.export(staging / f"{name}.onnx")
        onnx = ShippedFile(onnx_path.name, sha256_of(onnx_path), checked(model, onnx_path, size, holdout))
        tflite_files, tflite_default = ship_tflite(model, name, size, staging, dataset, calibration, holdout) \
            if tflite else ({}, None)
        entry = ManifestEntry(slim.architecture, slim.model_kwargs, size, slim.step, onnx,
                              ShippedFile(pt_path.name, sha256_of(pt_path)), tflite_files, tflite_default,
                              slim.averaged_from)
        stale = folder / f"{name}.int8.tflite"
        if "int8" not in entry.tflite and stale.exists():
            stale.unlink()  # not remade (no calibration photos): not left beside the new files either
        for made in staging.iterdir():
            os.replace(made, folder / made.name)
    manifest.write_manifest(manifest.read_manifest(folder).with_model(name, entry, make_default))
    return entry


def checked(model, path: Path, size: int, holdout) -> dict:
    """`path` against PyTorch: random inputs, and the hold-out where given; printed and returned."""
    from mmnet.export.check import check_export

    checks = [check_export(model, path, size)] + ([check_export(model, path, size, holdout)] if holdout else [])
    for check in checks:
        print(check, flush=True)
    return {"random": checks[0].summary(), **({"holdout": checks[1].summary()} if holdout else {})}


def ship_tflite(model, name: str, size: int, folder: Path, dataset, calibration: int,
                holdout) -> tuple[dict[str, ShippedFile], str]:
    """NAME.tflite (fp32) and, with a dataset, NAME.int8.tflite calibrated on its training photos outside
    the hold-out: ({precision: file}, the precision LiteRT runs by default)."""
    from mmnet.export.quantize import training_calibration
    from mmnet.export.tflite import export_tflite  # needs litert-torch

    paths = {"fp32": export_tflite(model, folder / f"{name}.tflite", size)}
    if dataset:
        photos = training_calibration(dataset, size, calibration)
        paths["int8"] = export_tflite(model, folder / f"{name}.int8.tflite", size, calibration=photos)
    files = {precision: ShippedFile(path.name, sha256_of(path), checked(model, path, size, holdout),
                                    calibration if precision == "int8" else None)
             for precision, path in paths.items()}
    if "int8" not in files:
        return files, "fp32"
    int8 = files["int8"].check["holdout"]
    if int8["gauss_grad_change"] <= INT8_GAUSS_GRAD_BOUND and int8["iou_change"] >= -INT8_IOU_BOUND:
        return files, "int8"
    print(f"{name}: int8 is outside the bounds (GAUSS_GRAD {100 * int8['gauss_grad_change']:+.2f}%, IoU "
          f"{int8['iou_change']:+.4f}); LiteRT runs fp32 by default", flush=True)
    return files, "fp32"


def check_installed(tflite: bool) -> None:
    """Raise a MmnetError naming every package that shipping needs and that cannot be imported, each with the
    extra that installs it."""
    missing = []
    for module in NEEDED + (TFLITE_NEEDED if tflite else ()):
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(f"{module} ({pip_install(module)})")
    if missing:
        raise MmnetError(f"not installed: {', '.join(missing)}"
                         + ("; or --no-tflite for ONNX only" if any("litert" in m for m in missing) else ""))


if __name__ == "__main__":  # python -m mmnet.export.ship ...: the same as mmnet ship ...
    from mmnet.cli import main
    sys.exit(main(["ship", *sys.argv[1:]]))
