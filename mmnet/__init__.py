"""mmnet: real-time automatic portrait matting."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "load"]

if TYPE_CHECKING:
    from mmnet.runtime.model import load


def __getattr__(name: str) -> Any:
    """`mmnet.load` on first use, so that `import mmnet` loads neither onnxruntime nor torch."""
    if name == "load":
        from mmnet.runtime.model import load
        return load
    raise AttributeError(f"module 'mmnet' has no attribute {name!r}")
