"""The runtime world (`mmnet.runtime.*`, `mmnet.serve.*` and the shared `mmnet.data` modules) imports neither
torch nor a module of the training world, so that `pip install mmnet` runs models without PyTorch. Checked in
a fresh interpreter, where this test process's own imports cannot hide an import."""
from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import mmnet.runtime
import mmnet.serve

# mmnet.data's modules the runtime shares with training: decoding, encoding, image headers, and the inference
# preprocessing of `mmnet.data.preprocess` (numpy and OpenCV only). Any other mmnet.data module is training's.
SHARED_DATA = ("mmnet.data.io", "mmnet.data.encode", "mmnet.data.header", "mmnet.data.preprocess")
# The model-variant vocabulary (names, sizes, the size rule; no torch), and the package that holds it, whose
# __init__ imports torch only when a network is built.
SHARED_MODELS = ("mmnet.models", "mmnet.models.variants")
TRAINING = ("mmnet.training", "mmnet.models", "mmnet.evaluation", "mmnet.export", "mmnet.bench", "mmnet.peers")
FORBIDDEN_OUTSIDE = ("torch", "torchvision", "litert_torch", "pymatting", "matplotlib")


def runtime_modules() -> list[str]:
    """Every module of the runtime world, found in the package (a new module is checked without a word here)."""
    found = [f"{package.__name__}.{info.name}" for package in (mmnet.runtime, mmnet.serve)
             for info in pkgutil.iter_modules(package.__path__)]
    return sorted(found) + [*SHARED_DATA, "mmnet.manifest", "mmnet.models.variants"]


def forbidden(name: str) -> bool:
    """A module the runtime world must not import: torch and training's packages, or training's data modules."""
    top = name.split(".")[0]
    if top in FORBIDDEN_OUTSIDE:
        return True
    if name.startswith("mmnet.data."):
        return name not in SHARED_DATA
    if name in SHARED_MODELS:
        return False
    return any(name == package or name.startswith(package + ".") for package in TRAINING)


def test_runtime_modules_are_listed():
    modules = runtime_modules()
    assert {"mmnet.runtime.model", "mmnet.runtime.matte", "mmnet.runtime.render", "mmnet.serve.app"} <= set(modules)
    assert forbidden("torch.nn") and forbidden("mmnet.data.dataset") and forbidden("mmnet.training.trainer")
    assert not forbidden("mmnet.data.io") and not forbidden("mmnet.runtime.video") and not forbidden("numpy")
    assert not forbidden("mmnet.models.variants") and forbidden("mmnet.models.mmnet")


def test_the_runtime_world_imports_no_training_module():
    """Each module is imported in turn; what it brought in that is forbidden is named with it."""
    code = ("import importlib, json, sys\n"
            "seen, found = set(sys.modules), {}\n"
            f"for name in {runtime_modules()!r}:\n"
            "    importlib.import_module(name)\n"
            "    found[name] = sorted(set(sys.modules) - seen)\n"
            "    seen = set(sys.modules)\n"
            "print(json.dumps(found))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    brought = json.loads(result.stdout.strip().splitlines()[-1])
    offences = {name: bad for name, new in brought.items() if (bad := [m for m in new if forbidden(m)])}
    assert offences == {}, f"the runtime world imported: {offences}"
