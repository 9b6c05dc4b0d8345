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
import json
import os
import sys
import tempfile
from pathlib import Path

from mmnet.errors import MmnetError
from mmnet.extras import pip_install
from mmnet.files import atomic_write
from mmnet.runtime.weights import sha256_of

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
SHIPPED_KEYS = ("model_name", "model_kwargs", "size", "step")
CALIBRATION_IMAGES = 64
INT8_GAUSS_GRAD_BOUND = 0.02  # int8 is the default where GAUSS_GRAD is at most 2 % above PyTorch's
INT8_IOU_BOUND = 0.003  # and IoU at most 0.003 below
NEEDED = ("torch", "onnx", "onnxscript")  # and, for the LiteRT files, TFLITE_NEEDED
TFLITE_NEEDED = ("litert_torch",)


def ship(checkpoint: str | Path, name: str, make_default: bool = False, weights_dir: Path = WEIGHTS,
         dataset: str | Path | None = None, calibration: int = CALIBRATION_IMAGES, tflite: bool = True) -> dict:
    """Write NAME.pt (the EMA weights where kept, no optimizer), NAME.onnx and (`tflite`) NAME.tflite and,
    with a `dataset`, NAME.int8.tflite into `weights_dir`, check each against PyTorch and record them in its
    manifest.json. Returns the manifest entry. The files, NAME.pt included, are made and checked in a staging
    folder first and moved into place together with the manifest: a failure leaves `weights_dir` as it was."""
    import torch

    from mmnet.export.check import validation_split
    from mmnet.export.formats import Trained

    source, weights_dir = Path(checkpoint), Path(weights_dir)
    trained = Trained.load(source)
    model, state = trained.model, trained.state
    slim = {**{key: state[key] for key in SHIPPED_KEYS}, "ema": None,
            "model": {k: v.contiguous() for k, v in model.state_dict().items()},
            "config": state.get("config"), **provenance(state)}
    pt_path = weights_dir / f"{name}.pt"
    holdout = validation_split(dataset, state["size"]) if dataset else None
    weights_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=weights_dir, prefix=".ship-") as folder:
        staging = Path(folder)
        if pt_path.resolve() != source.resolve():
            pt_path = staging / pt_path.name
            torch.save(slim, pt_path)
        onnx_path = trained.export(staging / f"{name}.onnx")
        entry = {"onnx": onnx_path.name, "sha256": sha256_of(onnx_path), "checkpoint": pt_path.name,
                 "checkpoint_sha256": sha256_of(pt_path), "size": state["size"], "model": state["model_name"],
                 "model_kwargs": state["model_kwargs"], "step": state["step"],
                 **provenance(state),
                 "onnx_check": checked(model, onnx_path, state["size"], holdout)}
        if tflite:
            entry["tflite"] = ship_tflite(model, name, state["size"], staging, dataset, calibration, holdout)
        stale = weights_dir / f"{name}.int8.tflite"
        if "int8" not in entry.get("tflite", {}) and stale.exists():
            stale.unlink()  # not remade (no calibration photos): not left beside the new files either
        for made in staging.iterdir():
            os.replace(made, weights_dir / made.name)
    manifest_path = weights_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"models": {}}
    manifest["models"][name] = entry
    if make_default or "default" not in manifest:
        manifest["default"] = name
    atomic_write(manifest_path, lambda tmp: tmp.write_text(json.dumps(manifest, indent=2) + "\n"))
    return entry


def provenance(state: dict) -> dict:
    """What a checkpoint says of where it came from beyond training: the sources of an averaged one."""
    return {"averaged_from": state["averaged_from"]} if "averaged_from" in state else {}


def checked(model, path: Path, size: int, holdout) -> dict:
    """`path` against PyTorch: random inputs, and the hold-out where given; printed and returned."""
    from mmnet.export.check import check_export

    checks = [check_export(model, path, size)] + ([check_export(model, path, size, holdout)] if holdout else [])
    for check in checks:
        print(check, flush=True)
    return {"random": checks[0].summary(), **({"holdout": checks[1].summary()} if holdout else {})}


def ship_tflite(model, name: str, size: int, folder: Path, dataset, calibration: int, holdout) -> dict:
    """NAME.tflite (fp32) and, with a dataset, NAME.int8.tflite calibrated on its training photos outside
    the hold-out; {"default": precision, "fp32": {...}, "int8": {...}} for the manifest."""
    from mmnet.bench.quality import calibration_batch
    from mmnet.export.tflite import export_tflite  # needs litert-torch

    files = {"fp32": export_tflite(model, folder / f"{name}.tflite", size)}
    if dataset:
        photos = calibration_batch(Path(dataset), size, calibration)
        files["int8"] = export_tflite(model, folder / f"{name}.int8.tflite", size, calibration=photos)
    entry: dict = {"default": "fp32"}
    for precision, path in files.items():
        entry[precision] = {"file": path.name, "sha256": sha256_of(path), "check": checked(model, path, size, holdout)}
    if "int8" in files:
        entry["int8"]["calibration_images"] = calibration
        int8 = entry["int8"]["check"]["holdout"]
        if int8["gauss_grad_change"] <= INT8_GAUSS_GRAD_BOUND and int8["iou_change"] >= -INT8_IOU_BOUND:
            entry["default"] = "int8"
        else:
            print(f"{name}: int8 is outside the bounds (GAUSS_GRAD {100 * int8['gauss_grad_change']:+.2f}%, IoU "
                  f"{int8['iou_change']:+.4f}); LiteRT runs fp32 by default", flush=True)
    return entry


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
