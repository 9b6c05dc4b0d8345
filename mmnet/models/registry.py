"""A name -> constructor registry, in the style of timm's `create_model`."""
from __future__ import annotations

from typing import Callable

from torch import nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator that makes a model constructor available to `create(name)`."""

    def add(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        _MODELS[name] = fn
        return fn

    return add


def create(name: str, **kwargs) -> nn.Module:
    """Build the registered model `name` with its keyword arguments."""
    try:
        constructor = _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(list_models())}") from None
    return constructor(**kwargs)


def list_models() -> list[str]:
    return sorted(_MODELS)
