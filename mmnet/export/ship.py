"""Ship a trained model inside the package: its weights (`mmnet/weights/NAME.pt`), the ONNX form made from
them, and a manifest entry with both checksums. Run again on the shipped `.pt` to remake the ONNX file.

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
    export_onnx(model, onnx_path, size=state["size"], dynamic=True)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a checkpoint file or a train dir (its newest)")
    parser.add_argument("name", help="the shipped name, e.g. mmnet-1.0-256")
    parser.add_argument("--default", action="store_true", help="make it the model that mmnet.load() gives")
    args = parser.parse_args()
    print(json.dumps(ship(args.checkpoint, args.name, args.default), indent=2))


if __name__ == "__main__":
    main()
