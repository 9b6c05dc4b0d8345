"""The optional extras (pyproject.toml's optional-dependencies): which one installs each module that a verb may
need, so that a missing module is named with the `pip install` that brings it instead of a traceback."""
from __future__ import annotations

EXTRAS = {"torch": "train", "onnx": "train", "onnxscript": "train", "matplotlib": "train", "pymatting": "train",
          "starlette": "serve", "uvicorn": "serve", "multipart": "serve", "python_multipart": "serve",
          "PIL": "serve", "av": "video", "openvino": "openvino", "litert_torch": "tflite",
          "ai_edge_litert": "litert", "httpx": "dev", "playwright": "dev"}


def pip_install(module: str) -> str:
    """'pip install ...' of the extra that installs `module` (a key of EXTRAS)."""
    return f"pip install 'mmnet[{EXTRAS[module]}]'"


def missing_extra(error: ModuleNotFoundError) -> str | None:
    """'pip install ...' for a module that an optional extra installs, or None for any other module."""
    name = (error.name or "").split(".")[0]
    return pip_install(name) if name in EXTRAS else None
