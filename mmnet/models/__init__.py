"""Models: `create(name, **kwargs)` returns a plain `nn.Module` whose forward gives 2-channel logits.

`mmnet.models.variants` (no torch) describes every variant: architecture, keyword arguments, input side. This
package imports torch only when `create`, `list_models` or `register` is first used, so that importing the
variants does not."""
from __future__ import annotations

__all__ = ["create", "list_models", "register"]


def __getattr__(name: str):
    if name in __all__:
        from mmnet.models import deeplab, lite, mmnet, registry  # noqa: F401  (registers the models)

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
