"""Find the file behind a model name or path, and the side S it takes (an S×S photo).

Four kinds of model: a shipped name from the manifest (`mmnet.manifest`; its checksum checked; its ONNX
file, and its LiteRT files by precision where it ships them: `shipped_tflite`), a path to an `.onnx` or a
`.tflite` file, or a training checkpoint `.pt`, exported once to a cached ONNX file. Only the last imports
torch (`pip install mmnet[train]`), in `_from_checkpoint`: the runtime's one door into the training world,
`mmnet.export.formats.Trained`.
"""
from __future__ import annotations

import sys
from pathlib import Path

from mmnet.cache import cache_dir
from mmnet.errors import WeightsError
from mmnet.files import sha256_of
from mmnet.manifest import CHECKPOINT_SUFFIXES, ShippedFile, read_manifest
from mmnet.models.variants import ONNX_MIN_SIZE, size_error


def resolve(name_or_path: str | Path | None = None, size: int | None = None) -> tuple[Path, int]:
    """(ONNX file, input side S) of a shipped model name (None: the default one), an `.onnx` path or a
    `.pt` checkpoint; a `.tflite` path is returned as it is. `size` is needed only for a dynamic-size ONNX
    file; it overrides a checkpoint's."""
    error = size_error(size, ONNX_MIN_SIZE) if size is not None else None
    if error:
        raise WeightsError(error)
    manifest = read_manifest()
    if name_or_path is None:
        name_or_path = manifest.default
        if name_or_path not in manifest.models:
            raise WeightsError("no shipped weights yet: pass a path to an .onnx or a checkpoint")
    if isinstance(name_or_path, str) and name_or_path in manifest.models:
        entry = manifest.models[name_or_path]
        if size is not None and size != entry.size:
            raise WeightsError(f"{name_or_path}: this model takes {entry.size}×{entry.size} photos, not size {size}")
        return shipped_file(name_or_path, entry.onnx, manifest.folder), entry.size
    path = Path(name_or_path)
    if not path.is_file():
        if path.suffix.lower() in (".onnx", ".tflite", *CHECKPOINT_SUFFIXES) or path.parent != Path("."):
            raise WeightsError(f"{path}: model file does not exist")
        known = ", ".join(sorted(manifest.models)) or "none shipped yet"
        raise WeightsError(f"{name_or_path}: neither a shipped model name (known: {known}) nor a file")
    if path.suffix.lower() in CHECKPOINT_SUFFIXES:
        return _from_checkpoint(path, size)
    if path.suffix.lower() == ".tflite":
        return path, _tflite_size(path, size)
    return path, _onnx_size(path, size)


def shipped_name(name_or_path: str | Path | None) -> str | None:
    """The shipped model's name that `name_or_path` means (None: the default), None for a path."""
    manifest = read_manifest()
    name = manifest.default if name_or_path is None else name_or_path
    return name if isinstance(name, str) and name in manifest.models else None


def shipped_tflite(name: str, precision: str | None = None) -> Path | None:
    """The `.tflite` file of shipped model `name` in `precision` ("fp32", "int8"; None: the one it ships as
    its default), its checksum checked; None where it ships none in that precision."""
    manifest = read_manifest()
    chosen = manifest.models[name].tflite_file(precision)
    return shipped_file(name, chosen, manifest.folder) if chosen else None


def shipped_file(name: str, shipped: ShippedFile, folder: Path) -> Path:
    """The path of a file of shipped model `name` in the weights `folder`, checked: it is there, and its
    checksum is the manifest's."""
    path = folder / shipped.file
    if not path.is_file():
        raise WeightsError(f"{path}: the file of shipped model {name!r} is missing (reinstall mmnet)")
    if sha256_of(path) != shipped.sha256.lower():
        raise WeightsError(f"{path}: checksum mismatch for shipped model {name!r} (damaged or replaced file)")
    return path


def _onnx_size(path: Path, size: int | None) -> int:
    """The side S of the model's S×S input, read from its input shape (or `size` when dynamic)."""
    import onnxruntime as ort  # heavy; only for .onnx paths

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # ORT raises its own types for a broken or foreign file
        raise WeightsError(f"{path}: not a readable ONNX model ({str(error).strip().splitlines()[-1]})") from None
    return input_size(session, path, size)


def _tflite_size(path: Path, size: int | None) -> int:
    """The side S of a `.tflite` model's 1×S×S×3 input (checked against `size` when given)."""
    try:
        from ai_edge_litert.interpreter import Interpreter  # optional: mmnet[litert]
    except ImportError as error:
        raise WeightsError(f"{path}: running a .tflite file needs ai-edge-litert ({error}; "
                           f"pip install mmnet[litert])") from None
    try:
        shape = [int(n) for n in Interpreter(model_path=str(path)).get_input_details()[0]["shape"]]
    except (ValueError, RuntimeError, IndexError) as error:
        raise WeightsError(f"{path}: not a readable TFLite model ({str(error).strip().splitlines()[-1]})") from None
    if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3:
        raise WeightsError(f"{path}: input is {shape}; mmnet's .tflite models take one 1×S×S×3 photo")
    if size is not None and size != shape[1]:
        raise WeightsError(f"{path}: this model takes {shape[1]}×{shape[1]} photos, not size {size}")
    return shape[1]


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
    try:  # the runtime's one import of the training world (torch): checkpoint -> model -> ONNX
        from mmnet.export.formats import Trained
    except ImportError as error:
        raise WeightsError(f"{path}: running a .pt checkpoint needs torch ({error}); install mmnet[train], "
                           f"or export it once with `mmnet export {path} -o model.onnx` and pass the .onnx") from None
    trained = Trained.load(path, size)
    target = cache_dir() / f"{prefix}{trained.size}.onnx"
    if not target.is_file():
        print(f"{path}: exporting to ONNX once (about 30 s), cached as {target}", file=sys.stderr)
        trained.export(target, dynamic=True)
    return target, trained.size
