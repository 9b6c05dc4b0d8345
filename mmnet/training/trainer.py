"""The training loop: data-parallel through torchrun, resumable, with atomic checkpoints and a CSV log."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from mmnet.errors import ConfigError
from mmnet.models import create
from mmnet.models.variants import ModelVariant
from mmnet.training.checkpoint import (
    FINISHED,
    Checkpoint,
    load_checkpoint,
    load_model,
    load_newest,
    resolve_checkpoint,
    save_checkpoint,
    trained_weights,
)
from mmnet.training.loader import TrainingSet, default_workers, make_loader, to_device, training_set
from mmnet.training.log import TrainLog
from mmnet.training.losses import MattingLoss, weight_decay_groups
from mmnet.training.sampler import ResumableSampler
from mmnet.training.settings import TrainSettings


class TrainConfig(TrainSettings):
    """Every knob of `mmnet train` (`TrainSettings`), with what the trainer derives from them."""

    def model_kwargs(self) -> dict:
        """The network's keyword arguments (`mmnet.models.variants`); refuses a size that is not a multiple of 16."""
        return dict(ModelVariant.from_options(self.model, self.size, vars(self)).kwargs)

    def total_steps(self, n_images: int, world_size: int) -> int:
        if self.max_steps is not None:
            return self.max_steps
        if self.epochs is not None:
            return math.ceil(self.epochs * n_images / (self.batch_size * world_size))
        raise ConfigError("give --max-steps or --epochs")


def learning_rate(config: TrainConfig, step: int, total: int) -> float:
    """Linear warm-up, then constant (the reference) or cosine decay to zero."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    if config.lr_schedule == "constant":
        return config.learning_rate
    if config.lr_schedule == "cosine":
        progress = (step - config.warmup_steps) / max(1, total - config.warmup_steps)
        return config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    raise ConfigError(f"unknown lr schedule {config.lr_schedule!r}")


def ema_update(ema: torch.optim.swa_utils.AveragedModel, model: nn.Module, decay: float) -> None:
    """Move `ema` towards `model` with a decay that grows as min(decay, (1 + n) / (10 + n)) with the number of
    updates n (timm's warm-up), so that a short run's average is not dominated by its first weights. The count
    is read from the CPU: `ema.update_parameters` copies it to the GPU and back, a host sync at every step."""
    n = int(ema.n_averaged)  # a CPU tensor: no sync
    averaged = [*ema.module.parameters(), *ema.module.buffers()]
    current = [*model.parameters(), *model.buffers()]
    weight = 1.0 - min(decay, (1.0 + n) / (10.0 + n))
    with torch.no_grad():
        for a, c in zip(averaged, current, strict=True):
            if n > 0 and a.is_floating_point():
                a.lerp_(c, weight)
            else:  # the first update copies; counters such as BatchNorm's num_batches_tracked are copied
                a.copy_(c)
    ema.n_averaged += 1


def train_mode(model: nn.Module, freeze_bn: bool = False) -> None:
    """Training mode; with `freeze_bn` every batch norm stays in eval mode: it normalises with its running
    statistics, exactly as at inference, and no longer updates them (its scale and shift still learn)."""
    model.train()
    if freeze_bn:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


def make_optimizer(config: TrainConfig, model: nn.Module, fused: bool = False) -> torch.optim.Optimizer:
    """The optimizer; `fused`: Adam's fused CUDA kernel (one launch for every parameter)."""
    groups = weight_decay_groups(model, config.weight_decay)
    lr = config.learning_rate
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=lr, fused=True) if fused else torch.optim.Adam(groups, lr=lr)
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=config.momentum)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, momentum=config.momentum)
    raise ConfigError(f"unknown optimizer {config.optimizer!r}; choose adam, sgd or rmsprop")


def _setup_distributed(config: TrainConfig) -> tuple[int, int, torch.device]:
    """Rank, world size and device; torchrun's environment turns on DistributedDataParallel."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    name = config.device if config.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if name == "cuda" else "gloo")
    rank = dist.get_rank() if world_size > 1 else 0
    if name == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return rank, world_size, torch.device("cuda", local)
    return rank, world_size, torch.device(name)


@dataclass
class _Run:
    """One training run in one process: where it runs, what it trains on, and how far it is."""

    config: TrainConfig
    rank: int
    world_size: int
    device: torch.device
    amp: bool
    workers: int
    dataset: TrainingSet
    total: int
    model: nn.Module
    optimizer: torch.optim.Optimizer
    ema: torch.optim.swa_utils.AveragedModel | None
    memory_format: torch.memory_format
    teacher: nn.Module | None = None  # in eval mode, never trained
    step: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _start(config: TrainConfig) -> _Run:
    """Threads, processes, seed and device; the training set; the model, its optimizer and its EMA, fresh."""
    if config.threads:
        torch.set_num_threads(config.threads)
    rank, world_size, device = _setup_distributed(config)
    torch.manual_seed(config.seed)
    cuda = device.type == "cuda"
    workers = config.num_workers if config.num_workers is not None else default_workers(device)
    if cuda:
        torch.backends.cudnn.benchmark = True  # fixed input shapes: pick the fastest kernels once
    dataset = training_set(config, progress=rank == 0, workers=max(2, workers) if cuda else 2)
    total = config.total_steps(len(dataset), world_size)
    model = create(config.model, **config.model_kwargs()).to(device)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    optimizer = make_optimizer(config, model, fused=cuda)
    ema = torch.optim.swa_utils.AveragedModel(model, use_buffers=True) if config.ema_decay > 0 else None
    amp = config.amp if config.amp is not None else cuda
    teacher = None
    if config.teacher:
        teacher = load_model(config.teacher)[0].to(device, memory_format=memory_format).requires_grad_(False)
    return _Run(config, rank, world_size, device, amp, workers, dataset, total, model, optimizer, ema, memory_format,
                teacher)


def _restore(run: _Run, train_dir: Path) -> None:
    """Resume from the newest checkpoint of `train_dir`, or else start from the weights of `init_from`, or
    else from the encoder's ImageNet weights where `pretrained`."""
    config, model = run.config, run.model
    resumed = load_newest(train_dir)  # (path, state), a damaged newest checkpoint named and passed over
    if resumed is None and config.pretrained and not config.init_from:
        if not hasattr(model, "load_imagenet_weights"):
            raise ConfigError(f"--pretrained: {config.model} has no ImageNet weights (efficientnet-lite0 has)")
        model.load_imagenet_weights()
        if run.ema is not None:
            run.ema.module.load_state_dict(model.state_dict())
        if run.is_main:
            print(f"starting {config.model}'s encoder from its ImageNet weights")
    if resumed is None and config.init_from:
        initial = load_checkpoint(resolve_checkpoint(config.init_from))  # a shipped name, a .pt or a train dir
        model.load_state_dict(trained_weights(initial))
        if run.ema is not None:
            run.ema.module.load_state_dict(model.state_dict())
        if run.is_main:
            print(f"starting from the weights of {config.init_from} (step {initial.step})")
    if resumed is not None:
        resume_from, checkpoint = resumed
        model.load_state_dict(checkpoint.weights)
        run.optimizer.load_state_dict(checkpoint.optimizer)
        if run.ema is not None and checkpoint.ema is not None:
            run.ema.module.load_state_dict(checkpoint.ema)
        run.step = checkpoint.step
        if run.is_main:
            print(f"resuming from {resume_from} (step {run.step})")


def _save(run: _Run, train_dir: Path) -> None:
    """A checkpoint of the run where it is (the main process writes it)."""
    if not run.is_main:
        return
    config = run.config
    save_checkpoint(Checkpoint(step=run.step, architecture=config.model, model_kwargs=config.model_kwargs(),
                               size=config.size, weights=run.model.state_dict(),
                               ema=run.ema.module.state_dict() if run.ema is not None else None,
                               optimizer=run.optimizer.state_dict(), config=config.as_flat()),
                    train_dir, config.keep_checkpoints)


def _step(run: _Run, model: nn.Module, criterion: MattingLoss,
          batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[float, torch.Tensor, dict[str, torch.Tensor], int]:
    """One optimizer step on `batch` through `model` (the run's, or its DistributedDataParallel wrapper):
    the learning rate, the loss, its terms and the images of the step (all processes together)."""
    images, alphas = to_device(batch, run.device, run.memory_format)
    lr = learning_rate(run.config, run.step, run.total)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=run.amp):
        logits, aux_logits = model(images, with_aux=True)
        teacher_alphas = None
        if run.teacher is not None:
            with torch.no_grad():
                teacher_alphas = torch.softmax(run.teacher(images).float(), dim=1)[:, 1:]
    loss, terms = criterion(logits, aux_logits, alphas, images, teacher_alphas)  # fp32: the losses cast the logits
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    if run.ema is not None:
        ema_update(run.ema, run.model, run.config.ema_decay)
    run.step += 1
    return lr, loss, terms, images.shape[0] * run.world_size


def train(config: TrainConfig) -> Path:
    """Train until `total_steps`, resuming from the newest checkpoint in `train_dir`. Returns that dir."""
    run = _start(config)
    train_dir = Path(config.train_dir)
    _restore(run, train_dir)
    if run.is_main:
        train_dir.mkdir(parents=True, exist_ok=True)
        (train_dir / FINISHED).unlink(missing_ok=True)
    model = nn.parallel.DistributedDataParallel(run.model) if run.world_size > 1 else run.model
    criterion = MattingLoss(config.loss, config.original_comp_scale)
    sampler = ResumableSampler(len(run.dataset), config.seed, run.step * config.batch_size * run.world_size,
                               run.rank, run.world_size)
    loader = make_loader(run.dataset, config.batch_size, sampler, run.workers, run.device.type == "cuda",
                         config.prefetch_factor)
    log = TrainLog(train_dir, run.step, run.total, config.log_every, len(run.dataset), run.is_main)
    train_mode(run.model, config.freeze_bn)
    first_step, batches = run.step, iter(loader)
    while run.step < run.total:
        lr, loss, terms, images = _step(run, model, criterion, next(batches))
        log.step(run.step, lr, loss, terms, images)
        if run.step % config.checkpoint_every == 0 or run.step == run.total:
            _save(run, train_dir)
    seconds = log.close()
    if run.is_main:
        print(f"trained steps {first_step}-{run.step} in {seconds:.1f} s: {log.images / max(seconds, 1e-9):.1f} "
              f"images/s on {run.device}{' (bf16 autocast)' if run.amp else ''}, {run.workers} data workers")
        (train_dir / FINISHED).write_text(f"{run.step}\n")
    if run.world_size > 1:
        dist.barrier()
        dist.destroy_process_group()
    return train_dir
