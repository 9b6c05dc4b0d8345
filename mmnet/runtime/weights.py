"""Find the ONNX file behind a model name or path, and the side S it takes (an S×S photo).

Three kinds of model: a shipped name from `mmnet/weights/manifest.json` (its checksum checked), a path
to an `.onnx` file, or a training checkpoint `.pt`, exported once to a cached ONNX file. Only the last
imports torch (`pip install mmnet[train]`).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from importlib import resources
from pathlib import Path

from mmnet.files import atomic_write

MANIFEST = "manifest.json"
CHECKPOINT_SUFFIXES = (".pt", ".pth")


class WeightsError(ValueError):
    """A model that cannot be found or used; the message names the file or the name."""


def weights_dir() -> Path:
    """The folder of the shipped models, `mmnet/weights/`."""
    return Path(str(resources.files("mmnet.weights")))


def read_manifest() -> dict:
    """The shipped models' manifest: {"default": NAME, "models": {NAME: {"onnx", "sha256", "size", ...}}}."""
    path = weights_dir() / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise WeightsError(f"{path}: cannot read the weights manifest ({error})") from None
    if not isinstance(manifest.get("models"), dict):
        raise WeightsError(f"{path}: the manifest has no 'models' map")
    return manifest


def resolve(name_or_path: str | Path | None = None, size: int | None = None) -> tuple[Path, int]:
    """(ONNX file, input side S) of a shipped model name (None: the default one), an `.onnx` path or a
    `.pt` checkpoint. `size` is needed only for a dynamic-size ONNX file; it overrides a checkpoint's."""
    if size is not None and (size < 32 or size % 16):
        raise WeightsError(f"size must be a multiple of 16 of at least 32, got {size}")
    manifest = read_manifest()
    if name_or_path is None:
        name_or_path = manifest.get("default")
        if name_or_path not in manifest["models"]:
            raise WeightsError("no shipped weights yet: pass a path to an .onnx or a checkpoint")
    if isinstance(name_or_path, str) and name_or_path in manifest["models"]:
        return _shipped(name_or_path, manifest["models"][name_or_path], size)
    path = Path(name_or_path)
    if not path.is_file():
        if path.suffix.lower() in (".onnx", *CHECKPOINT_SUFFIXES) or path.parent != Path("."):
            raise WeightsError(f"{path}: model file does not exist")
        known = ", ".join(sorted(manifest["models"])) or "none shipped yet"
        raise WeightsError(f"{name_or_path}: neither a shipped model name (known: {known}) nor a file")
    if path.suffix.lower() in CHECKPOINT_SUFFIXES:
        return _from_checkpoint(path, size)
    return path, _onnx_size(path, size)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _shipped(name: str, entry: dict, size: int | None) -> tuple[Path, int]:
    path = weights_dir() / entry["onnx"]
    if not path.is_file():
        raise WeightsError(f"{path}: the file of shipped model {name!r} is missing (reinstall mmnet)")
    if sha256_of(path) != entry["sha256"].lower():
        raise WeightsError(f"{path}: checksum mismatch for shipped model {name!r} (damaged or replaced file)")
    if size is not None and size != entry["size"]:
        raise WeightsError(f"{name}: this model takes {entry['size']}×{entry['size']} photos, not size {size}")
    return path, int(entry["size"])


def _onnx_size(path: Path, size: int | None) -> int:
    """The side S of the model's S×S input, read from its input shape (or `size` when dynamic)."""
    import onnxruntime as ort  # noqa: PLC0415  (heavy; only for .onnx paths)

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # ORT raises its own types for a broken or foreign file
        raise WeightsError(f"{path}: not a readable ONNX model ({str(error).strip().splitlines()[-1]})") from None
    return input_size(session, path, size)


def input_size(session, path: Path, size: int | None) -> int:
    """Check that `session` has the mmnet interface ("image" N×3×H×W -> "alpha"); its side S."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if [i.name for i in inputs] != ["image"] or "alpha" not in [o.name for o in outputs]:
        raise WeightsError(f"{path}: not an mmnet model (expected input 'image' and output 'alpha', found "
                           f"{[i.name for i in inputs]} -> {[o.name for o in outputs]})")
    shape = inputs[0].shape
    height, width = shape[2:4] if len(shape) == 4 else (None, None)
    if isinstance(height, int) and isinstance(width, int):
        if height != width:
            raise WeightsError(f"{path}: input is {height}×{width}; mmnet models take square S×S photos")
        if size is not None and size != height:
            raise WeightsError(f"{path}: this model takes {height}×{height} photos, not size {size}")
        return height
    if size is None:
        raise WeightsError(f"{path}: the model's input size is dynamic; give the size it was trained at "
                           f"(size=256 or 128, --size on the command line)")
    return size


def cache_dir() -> Path:
    """Where exported checkpoints are kept: $MMNET_CACHE, else $XDG_CACHE_HOME/mmnet, else ~/.cache/mmnet."""
    if os.environ.get("MMNET_CACHE"):
        return Path(os.environ["MMNET_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mmnet"


def _from_checkpoint(path: Path, size: int | None) -> tuple[Path, int]:
    """A training checkpoint, exported once (dynamic shapes, so batches work) into the cache. Only the
    export needs torch: later runs find `<stem>-<checksum>-<size>.onnx` there."""
    prefix = f"{path.stem}-{sha256_of(path)[:16]}-"
    cached = {int(p.stem[len(prefix):]): p for p in cache_dir().glob(f"{prefix}*.onnx")
              if p.stem[len(prefix):].isdigit()}
    if size in cached:
        return cached[size], size
    if size is None and len(cached) == 1:
        side, target = next(iter(cached.items()))
        return target, side
    try:
        from mmnet.evaluation.evaluate import model_from_checkpoint  # noqa: PLC0415  (imports torch)
        from mmnet.export.onnx import export_onnx  # noqa: PLC0415
        from mmnet.training.checkpoint import load_checkpoint  # noqa: PLC0415
    except ImportError as error:
        raise WeightsError(f"{path}: running a .pt checkpoint needs torch ({error}); install mmnet[train], "
                           f"or export it once with `mmnet export {path} -o model.onnx` and pass the .onnx") from None
    state = load_checkpoint(path)
    side = int(size or state["size"])
    target = cache_dir() / f"{prefix}{side}.onnx"
    if not target.is_file():
        print(f"{path}: exporting to ONNX once (about 30 s), cached as {target}", file=sys.stderr)
        atomic_write(target, lambda tmp: export_onnx(model_from_checkpoint(state), tmp, side, dynamic=True),
                     suffix=".onnx")
    return target, side
