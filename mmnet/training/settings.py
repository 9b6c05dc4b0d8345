"""The settings of a training run, torch-free: `TrainSettings`, one field per knob of `mmnet train`. Each field's
metadata is its flag's (help text, choices, ...; `mmnet.training.flags` builds the flags from them), and the
loss weights are one nested `LossWeights`, spelled `lambda_<term>` in the flat form that the flags, the
presets of old and the checkpoints' "config" use."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field
from typing import Any, TypeVar

from mmnet.errors import ConfigError
from mmnet.models.variants import ARCHITECTURES
from mmnet.training.presets import PRESETS

LOSS_PREFIX = "lambda_"  # the flat name of a loss weight: lambda_alpha, ..., lambda_aux


def knob(default: Any = MISSING, help: str | None = None, *, factory: Any = MISSING, kw_only: bool = False,
         **flag: Any) -> Any:
    """A settings field: its default (or `factory`), its flag's `help` and any other argparse options of its
    flag (`choices`, `action`, `metavar`; `flag`: the flag's name, or its names, when it is not --<name>;
    `group`: a mutually exclusive group)."""
    return field(default=default, default_factory=factory, kw_only=kw_only, metadata={"help": help, **flag})


@dataclass(frozen=True)
class LossWeights:
    """λ of each term; the reference's scripts set all of them to 1."""

    alpha: float = 1.0
    comp: float = 1.0
    grad: float = 1.0
    kd: float = 1.0
    aux: float = 1.0
    teacher: float = 1.0  # counts only with a --teacher


def flat(settings: Mapping[str, Any]) -> dict[str, Any]:
    """`settings` with its `loss` (a LossWeights) spelled out as lambda_<term> keys."""
    out = {key: value for key, value in settings.items() if key != "loss"}
    if "loss" in settings:
        out.update({LOSS_PREFIX + name: value for name, value in dataclasses.asdict(settings["loss"]).items()})
    return out


def nested(settings: Mapping[str, Any]) -> dict[str, Any]:
    """`settings` with its lambda_<term> keys gathered into `loss`, a LossWeights (the others at their
    defaults, or at the values of a `loss` given too)."""
    out = {key: value for key, value in settings.items() if not key.startswith(LOSS_PREFIX)}
    weights = {key[len(LOSS_PREFIX):]: value for key, value in settings.items() if key.startswith(LOSS_PREFIX)}
    if weights:
        out["loss"] = dataclasses.replace(out.get("loss", LossWeights()), **weights)
    return out


Settings = TypeVar("Settings", bound="TrainSettings")


@dataclass
class TrainSettings:
    """Every knob of `mmnet train`; the defaults are the reference's (section 3). `mmnet.training.trainer`'s
    TrainConfig adds what the trainer derives from them."""

    # The fields in the order of the flags; the two before --train-dir are keyword-only, so that the first two
    # positional arguments stay dataset_path and train_dir.
    dataset_path: str = knob()
    dataset_split_name: str = knob("train", kw_only=True)
    add_datasets: list[str] = knob(factory=list, kw_only=True, flag="--add-dataset", action="append",
                                   metavar="PATH", help="another people set in the same layout, trained on together "
                                                        "(repeatable; as they are, or composited too; a set named "
                                                        "twice is drawn twice as often)")
    train_dir: str = knob(help="checkpoints and log.csv go here; resumes from it")
    model: str = knob("mmnet", "the architecture (--model: its old name)", choices=sorted(ARCHITECTURES),
                      flag=("--arch", "--model"))
    width_multiplier: float = knob(1.0, "MMNet width (0.5, 0.75, 1.0, 1.4)")
    depth_multiplier: float = knob(1.0, "DeepLab MobileNetV2 width")
    output_stride: int = knob(16, "DeepLab output stride", choices=[8, 16])
    bn_momentum: float | None = knob(None, "BatchNorm momentum (default: the model's)")
    size: int = knob(256, "input side, a multiple of 16")
    batch_size: int = knob(32, "per process")
    optimizer: str = knob("adam", choices=["adam", "sgd", "rmsprop"])
    learning_rate: float = knob(1e-4)
    momentum: float = knob(0.9, "for sgd and rmsprop")
    lr_schedule: str = knob("constant", choices=["constant", "cosine"])
    warmup_steps: int = knob(0)
    weight_decay: float = knob(4e-7, "L2 on regular conv kernels only")
    loss: LossWeights = knob(factory=LossWeights)  # the flags --lambda-<term>
    original_comp_scale: bool = knob(False, "reproduce the reference's double /255 in the compositional loss")
    ema_decay: float = knob(0.0, "EMA of the weights (0: off)")  # 0.999 is the reference's --ema_decay
    init_from: str | None = knob(None, "start a new run from this checkpoint's weights (not its optimizer)")
    pretrained: bool = knob(False, "start a new run's encoder from its ImageNet weights (efficientnet-lite0)")
    teacher: str | None = knob(None, "a trained model (shipped name, checkpoint or train dir) whose soft alpha the "
                                     "network also learns, weighted by --lambda-teacher (knowledge distillation)")
    freeze_bn: bool = knob(False, "batch norm uses and keeps its running statistics, as at inference (a last "
                                  "fine-tune)")
    max_steps: int | None = knob(None, group="length")
    epochs: float | None = knob(None, group="length")
    checkpoint_every: int = knob(500)
    keep_checkpoints: int = knob(3)
    log_every: int = knob(10)
    seed: int = knob(0)
    val_holdout: float = knob(0.0, "percent of the split held out (by file name hash) and never trained on")
    color_jitter: float = knob(0.0)
    composite: float = knob(0.0, "probability of compositing the person onto one of --backgrounds (0: off)")
    composite_two: float = knob(0.25, "probability of a second person")
    composite_jitter: float = knob(0.15, "photometric jitter of composites: brightness, contrast, saturation "
                                         "×[1−j, 1+j]")
    composite_stretch: float = knob(0.0, "probability of a person in a composite made a half figure (lower body "
                                         "stretched)")
    composite_occlude: float = knob(0.0, "probability of an object (a polygon of another background) in front of "
                                         "the people")
    composite_scene: float = knob(0.0, "probability of a composite being a scene: up to 4 people, each 5-100%% of "
                                       "the height")
    composite_ground: float = knob(0.0, "probability of a person not cut by the bottom edge standing on the "
                                        "ground (feet in the lower 40%% of the frame), not floating")
    composite_harmonise: float = knob(0.0, "probability of a person's colours moved toward the background's "
                                           "(Lab mean and spread, 20-80%% of the way)")
    composite_jpeg: float = knob(0.0, "probability of a JPEG round-trip (quality 30-95) of the finished composite")
    mosaic: float = knob(0.0, "probability of a training sample being a mosaic of 2×2 training samples, each "
                              "a whole photo with its own surroundings (small people, several to a frame)")
    backgrounds: str | None = knob(None, "folder of background photos (15%% held out for validation)")
    num_workers: int | None = knob(None, "data loading processes (default: 2 on the CPU; on CUDA the cores less "
                                         "one)")
    prefetch_factor: int = knob(2, "batches each data loading process prepares")
    threads: int | None = knob(None, "torch intra-op threads")
    channels_last: bool = knob(True, flag="--no-channels-last", action="store_false")
    device: str = knob("auto", "auto, cpu or cuda")
    amp: bool | None = knob(None, "bf16 autocast (default: on with CUDA, off on the CPU)")

    def __post_init__(self) -> None:
        for name, least in (("batch_size", 1), ("prefetch_factor", 1), ("num_workers", 0)):
            value = getattr(self, name)
            if value is not None and value < least:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least {least}, got {value}")

    @classmethod
    def from_preset(cls: type[Settings], name: str, **overrides: Any) -> Settings:
        """The settings of preset `name` (`mmnet.training.presets`), with `overrides` (fields) on top."""
        if name not in PRESETS:
            raise ConfigError(f"no preset {name!r}; known: {', '.join(sorted(PRESETS))}")
        return cls(**nested({**PRESETS[name], **flat(overrides)}))

    @classmethod
    def from_flat(cls: type[Settings], settings: Mapping[str, Any]) -> Settings:
        """The settings of a flat mapping (`flat`), e.g. a checkpoint's "config", old ones included: a field
        it lacks (added since) takes its default; a key that is no field is an error."""
        unknown = set(nested(settings)) - {item.name for item in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown training settings: {', '.join(sorted(unknown))}")
        return cls(**nested(settings))

    def as_flat(self) -> dict[str, Any]:
        """The settings as a flat dict (the checkpoints' "config"): the loss weights as lambda_<term>."""
        return flat({item.name: getattr(self, item.name) for item in dataclasses.fields(self)})
