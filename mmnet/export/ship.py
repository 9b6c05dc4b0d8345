"""Ship a trained model inside the package: its weights (`mmnet/weights/NAME.pt`), the ONNX form made from
them, and a manifest entry with both checksums. Run again on the shipped `.pt` to remake the ONNX file.

The shipped ONNX file is the fastest fp32 form measured (`benchmarks/export_graph.py`): a fixed 1×3×S×S
input and the rewritten graph of `mmnet.export.rewrite`.

    python -m mmnet.export.ship CHECKPOINT NAME [--default]
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import torch

from mmnet.evaluation.evaluate import model_from_checkpoint
from mmnet.export.onnx import export_onnx
from mmnet.files import atomic_write
from mmnet.runtime.weights import CHECKPOINT_SUFFIXES, read_manifest, weights_dir
from mmnet.training.checkpoint import latest_checkpoint, load_checkpoint

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
SHIPPED_KEYS = ("model_name", "model_kwargs", "size", "step")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ship(checkpoint: str | Path, name: str, make_default: bool = False, weights_dir: Path = WEIGHTS) -> dict:
    """Write NAME.pt (the EMA weights where kept, no optimizer) and NAME.onnx into `weights_dir` and
    record them in its manifest.json. Returns the manifest entry."""
    source = Path(checkpoint)
    state = load_checkpoint(latest_checkpoint(source) if source.is_dir() else source)
    model = model_from_checkpoint(state)
    slim = {**{key: state[key] for key in SHIPPED_KEYS}, "ema": None,
            "model": {k: v.contiguous() for k, v in model.state_dict().items()},
            "config": state.get("config")}
    pt_path, onnx_path = weights_dir / f"{name}.pt", weights_dir / f"{name}.onnx"
    if pt_path.resolve() != source.resolve():
        atomic_write(pt_path, lambda tmp: torch.save(slim, tmp))
    atomic_write(onnx_path, lambda tmp: export_onnx(model, tmp, size=state["size"]), suffix=".onnx")
    entry = {"onnx": onnx_path.name, "sha256": sha256(onnx_path), "checkpoint": pt_path.name,
             "checkpoint_sha256": sha256(pt_path), "size": state["size"], "model": state["model_name"],
             "model_kwargs": state["model_kwargs"], "step": state["step"]}
    manifest_path = weights_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"models": {}}
    manifest["models"][name] = entry
    if make_default or "default" not in manifest:
        manifest["default"] = name
    atomic_write(manifest_path, lambda tmp: tmp.write_text(json.dumps(manifest, indent=2) + "\n"))
    return entry


def resolve_checkpoint(model: str | Path) -> Path:
    """The checkpoint behind a shipped model name, a checkpoint file, or a train dir (its newest)."""
    shipped = read_manifest()["models"]
    if isinstance(model, str) and model in shipped:
        return weights_dir() / shipped[model]["checkpoint"]
    path = Path(model)
    if path.is_dir():
        newest = latest_checkpoint(path)
        if newest is None:
            raise FileNotFoundError(f"{path}: no checkpoint-*.pt in this train dir")
        return newest
    if path.is_file():
        if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
            raise ValueError(f"{path}: not a PyTorch checkpoint (.pt); export starts from the trained weights")
        return path
    known = ", ".join(sorted(shipped)) or "none shipped"
    raise FileNotFoundError(f"{model}: neither a shipped model name (known: {known}) nor a checkpoint or train dir")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a checkpoint file or a train dir (its newest)")
    parser.add_argument("name", help="the shipped name, e.g. mmnet-1.0-256")
    parser.add_argument("--default", action="store_true", help="make it the model that mmnet.load() gives")
    args = parser.parse_args()
    print(json.dumps(ship(args.checkpoint, args.name, args.default), indent=2))


if __name__ == "__main__":
    main()
