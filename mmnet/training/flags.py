"""The `mmnet train` flags, built from the fields of TrainSettings (torch-free), and the presets as their
defaults: a flag given on the command line wins over its preset."""
from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from mmnet.training.presets import PRESETS
from mmnet.training.settings import LOSS_PREFIX, LossWeights, TrainSettings, nested


def add_settings_flags(parser: argparse.ArgumentParser,
                       value_types: Mapping[str, Callable[[str], Any]] | None = None) -> None:
    """One flag per field of TrainSettings, in their order, from the field's default, type and metadata;
    `value_types` overrides the argparse type of some fields (e.g. a checked input size)."""
    hints = typing.get_type_hints(TrainSettings)
    groups: dict[str, Any] = {}
    for item in dataclasses.fields(TrainSettings):
        if hints[item.name] is LossWeights:
            _add_loss_flags(parser)
            continue
        options = dict(item.metadata)
        names = options.pop("flag", "--" + item.name.replace("_", "-"))
        group = options.pop("group", None)
        if group is not None and group not in groups:
            groups[group] = parser.add_mutually_exclusive_group()
        target = parser if group is None else groups[group]
        options.update(_value_options(item, hints[item.name], value_types or {}))
        target.add_argument(*([names] if isinstance(names, str) else names), dest=item.name, **options)


def _add_loss_flags(parser: argparse.ArgumentParser) -> None:
    for term in dataclasses.fields(LossWeights):
        parser.add_argument(f"--{LOSS_PREFIX.replace('_', '-')}{term.name}", type=float, default=term.default,
                            help=f"weight of the {term.name} loss")


def _value_options(item: dataclasses.Field, hint: Any, value_types: Mapping[str, Callable]) -> dict[str, Any]:
    """required, or the default with the type or the action that parses the field's flag."""
    if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
        return {"required": True}
    default = item.default if item.default_factory is dataclasses.MISSING else item.default_factory()
    options: dict[str, Any] = {"default": default}
    optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
    kind = next(arg for arg in typing.get_args(hint) if arg is not type(None)) if optional else hint
    if item.name in value_types:
        options["type"] = value_types[item.name]
    elif kind is bool and "action" not in item.metadata:
        options["action"] = argparse.BooleanOptionalAction if optional else "store_true"
    elif kind in (int, float):
        options["type"] = kind
    return options


def preset_defaults(name: str) -> dict[str, Any]:
    """Preset `name` as flag defaults (its loss weights as lambda_<term>, as the presets spell them)."""
    return dict(PRESETS[name])


def gather_loss(args: argparse.Namespace) -> argparse.Namespace:
    """`args` with `loss`, the LossWeights of its --lambda-<term> flags, where it has them (mmnet train)."""
    loss = nested(vars(args)).get("loss")
    if loss is not None:
        args.loss = loss
    return args
