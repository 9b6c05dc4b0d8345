"""Model variants, one typed home (as timm's configs): an architecture, its keyword arguments and an input side.

No torch here, so that the command line's checks, the runtime and the bench's list of models use it cheaply;
`ModelVariant.create` imports torch when called. Where to add things:

- a variant of an existing architecture (another width or input side): a line in `CATALOGUE`, and `mmnet
  bench` measures it (`--variants NAME`);
- a new architecture: its constructor, registered with `mmnet.models.registry.register`, and an entry in
  `ARCHITECTURES` saying which keyword arguments the flags and `TrainConfig` give it and how it is named.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mmnet.errors import ConfigError

STRIDE = 16  # every model's output stride: an input side must be a multiple of it
ONNX_MIN_SIZE = 2 * STRIDE  # the least side a dynamic ONNX file takes (`mmnet.export.onnx`): exports and the runtime


def size_error(size: int, minimum: int = STRIDE) -> str | None:
    """Why `size` cannot be a network input side (None: it can): a multiple of 16, at least `minimum`."""
    if size <= 0:
        return f"{size} is not a positive size (a multiple of {STRIDE}, e.g. 256)"
    if size % STRIDE:
        below = max(minimum, size // STRIDE * STRIDE)
        return f"{size} is not a multiple of {STRIDE} (the models' stride); try {below} or {below + STRIDE}"
    if size < minimum:
        return f"{size} is too small: give a multiple of {STRIDE} of at least {minimum}"
    return None


def check_size(size: int, minimum: int = STRIDE) -> int:
    """`size` where it is a network input side (see `size_error`), else a ConfigError that names it."""
    error = size_error(size, minimum)
    if error:
        raise ConfigError(error)
    return size


@dataclass(frozen=True)
class Architecture:
    """A registered network: the keyword argument that scales its width and those its name shows."""

    name: str  # as registered: `mmnet.models.create(name)`
    multiplier: str  # the width keyword
    tags: tuple[tuple[str, str], ...] = ()  # (keyword, prefix in the variant's name), e.g. ("output_stride", "os")

    @property
    def options(self) -> tuple[str, ...]:
        """The keyword arguments the flags and `TrainConfig` give it (beside `bn_momentum`)."""
        return (self.multiplier, *(key for key, _ in self.tags))


ARCHITECTURES = {arch.name: arch for arch in (
    Architecture("mmnet", "width_multiplier"),
    Architecture("deeplab", "depth_multiplier", (("output_stride", "os"),)),
    Architecture("efficientnet-lite0", "width_multiplier"),
)}


def architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(sorted(ARCHITECTURES))}") from None


@dataclass(frozen=True)
class ModelVariant:
    """One network at one input side: `create()` builds it; `name` is what the manifest and the bench call it."""

    architecture: str
    kwargs: Mapping[str, Any]
    size: int

    def __post_init__(self) -> None:
        architecture(self.architecture)
        check_size(self.size)

    @classmethod
    def from_options(cls, arch: str, size: int, options: Mapping[str, Any]) -> ModelVariant:
        """The variant that flags or `TrainConfig` fields describe: the architecture's own keyword arguments,
        and `bn_momentum` where it is set."""
        kwargs = {key: options[key] for key in architecture(arch).options}
        if options.get("bn_momentum") is not None:
            kwargs["bn_momentum"] = options["bn_momentum"]
        return cls(arch, kwargs, size)

    @property
    def multiplier(self) -> float:
        return float(self.kwargs.get(architecture(self.architecture).multiplier, 1.0))

    @property
    def name(self) -> str:
        """`mmnet-1.0-256`, `deeplab-os16-0.5-256`."""
        tags = [f"{prefix}{self.kwargs[key]}" for key, prefix in architecture(self.architecture).tags]
        return "-".join([self.architecture, *tags, decimal(self.multiplier), str(self.size)])

    def create(self):
        """The torch module (random weights, train mode), as `mmnet.models.create` builds it."""
        from mmnet.models import create  # imports torch

        return create(self.architecture, **self.kwargs)


def decimal(value: float) -> str:
    """0.5 -> "0.5", 0.75 -> "0.75", 1 -> "1.0"."""
    text = f"{value:g}"
    return text if "." in text else f"{text}.0"


# The paper's figure: MMNet 0.5-1.4 × 128/256 and its Mobile DeepLabv3 variants (mmnet-reference.md §6).
CATALOGUE = (
    *(ModelVariant("mmnet", {"width_multiplier": m}, s) for m in (0.5, 0.75, 1.0, 1.4) for s in (128, 256)),
    *(ModelVariant("deeplab", {"depth_multiplier": dm, "output_stride": os}, s)
      for os, dm, s in ((16, 0.75, 128), (16, 1.0, 128), (16, 0.5, 256), (16, 0.75, 256),
                        (8, 0.35, 128), (8, 0.5, 128), (8, 0.75, 128))),
)
