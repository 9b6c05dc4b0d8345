"""The training loop: data-parallel through torchrun, resumable, with atomic checkpoints and a CSV log."""
from __future__ import annotations

import csv
import dataclasses
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from mmnet.data.dataset import MattingDataset
from mmnet.models import create
from mmnet.models.variants import ModelVariant
from mmnet.training.checkpoint import FINISHED, latest_checkpoint, load_checkpoint, load_newest, save_checkpoint
from mmnet.training.losses import LossWeights, MattingLoss, weight_decay_groups
from mmnet.training.sampler import ResumableSampler

LOG_FIELDS = ["step", "epoch", "lr", "loss", "alpha", "comp", "grad", "kd", "aux", "images_per_s", "elapsed_s"]


@dataclass
class TrainConfig:
    """Every knob of `mmnet train`; the defaults are the reference's (section 3)."""

    dataset_path: str
    train_dir: str
    dataset_split_name: str = "train"
    add_datasets: list[str] = dataclasses.field(default_factory=list)  # more people sets, same layout and split
    model: str = "mmnet"
    width_multiplier: float = 1.0
    depth_multiplier: float = 1.0
    output_stride: int = 16
    bn_momentum: float | None = None  # None: the model's own (the reference's slow BN decay)
    size: int = 256
    batch_size: int = 32  # per process
    optimizer: str = "adam"
    learning_rate: float = 1e-4
    momentum: float = 0.9
    lr_schedule: str = "constant"  # or "cosine"
    warmup_steps: int = 0
    weight_decay: float = 4e-7
    lambda_alpha: float = 1.0
    lambda_comp: float = 1.0
    lambda_grad: float = 1.0
    lambda_kd: float = 1.0
    lambda_aux: float = 1.0
    original_comp_scale: bool = False
    ema_decay: float = 0.0  # 0: off (the reference's default); 0.999 is its --ema_decay
    freeze_bn: bool = False  # batch norm normalises with its running statistics, as at inference, and keeps them
    init_from: str | None = None  # start a new run from these weights (e.g. a 128² run before 256²)
    max_steps: int | None = None
    epochs: float | None = None
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    log_every: int = 10
    seed: int = 0
    val_holdout: float = 0.0  # percent of the split held out for validation (never trained on)
    color_jitter: float = 0.0
    composite: float = 0.0  # probability of a sample cut out and composited onto a background
    composite_two: float = 0.25  # probability of a second person in a composite
    composite_jitter: float = 0.15  # photometric jitter strength of a composite (mmnet.data.composite)
    composite_stretch: float = 0.0  # probability of a person in a composite made a half figure (stretch_body)
    composite_occlude: float = 0.0  # probability of an object in front of the people of a composite (occlude)
    composite_scene: float = 0.0  # probability of a composite being a scene: a group, down to 5 % of the height
    backgrounds: str | None = None  # folder of background photos for --composite
    num_workers: int | None = None  # None: 2 on the CPU; on CUDA the cores per process less one (default_workers)
    prefetch_factor: int = 2  # batches each worker prepares ahead
    threads: int | None = None
    channels_last: bool = True
    device: str = "auto"
    amp: bool | None = None  # bf16 autocast; None: on for CUDA only (fp32 on the CPU)

    def model_kwargs(self) -> dict:
        """The network's keyword arguments (`mmnet.models.variants`); refuses a size that is not a multiple of 16."""
        return dict(ModelVariant.from_options(self.model, self.size, vars(self)).kwargs)

    def total_steps(self, n_images: int, world_size: int) -> int:
        if self.max_steps is not None:
            return self.max_steps
        if self.epochs is not None:
            return math.ceil(self.epochs * n_images / (self.batch_size * world_size))
        raise ValueError("give --max-steps or --epochs")


def learning_rate(config: TrainConfig, step: int, total: int) -> float:
    """Linear warm-up, then constant (the reference) or cosine decay to zero."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    if config.lr_schedule == "constant":
        return config.learning_rate
    if config.lr_schedule == "cosine":
        progress = (step - config.warmup_steps) / max(1, total - config.warmup_steps)
        return config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    raise ValueError(f"unknown lr schedule {config.lr_schedule!r}")


def ema_with_warmup(decay: float):
    """EMA update for `AveragedModel` whose decay grows as min(decay, (1 + n) / (10 + n)) with the number of
    updates n (timm's warm-up), so that a short run's average is not dominated by its first weights."""

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged) -> None:
        n = float(num_averaged)
        weight = 1.0 - min(decay, (1.0 + n) / (10.0 + n))
        for a, c in zip(averaged, current):
            if a.is_floating_point():
                a.lerp_(c, weight)
            else:  # counters such as BatchNorm's num_batches_tracked
                a.copy_(c)

    return update


def ema_update(ema: torch.optim.swa_utils.AveragedModel, model: nn.Module, decay: float) -> None:
    """`ema.update_parameters(model)` with `ema_with_warmup(decay)`, the same arithmetic, but with the count read
    from the CPU: AveragedModel copies its count to the GPU and back, a host sync at every step."""
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


def default_workers(device: torch.device) -> int:
    """DataLoader workers: 2 on the CPU (the training uses the cores); on CUDA this process's share of the
    cores (torchrun's LOCAL_WORLD_SIZE processes per machine) less one for the main process."""
    if device.type != "cuda":
        return 2
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 2)
    return max(2, cores // int(os.environ.get("LOCAL_WORLD_SIZE", "1")) - 1)


def collate_uint8(batch: list[tuple]) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of (float32 image, float32 alpha) in [0, 1] as uint8 tensors (rounded to 1/255): a quarter of
    the bytes through shared memory, pinning and the bus; the GPU turns them back into floats (`to_device`)."""
    images = np.stack([item[0] for item in batch])
    alphas = np.stack([item[1] for item in batch])
    return (torch.from_numpy(np.rint(images * 255).astype(np.uint8)),
            torch.from_numpy(np.rint(alphas * 255).astype(np.uint8)))


def to_device(batch: tuple[torch.Tensor, torch.Tensor], device: torch.device,
              memory_format: torch.memory_format) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and alphas on `device` as float32 in [0, 1] (uint8 batches divided by 255 there), without waiting."""
    images, alphas = batch
    images = images.to(device, memory_format=memory_format, non_blocking=True)
    alphas = alphas.to(device, non_blocking=True)
    if images.dtype == torch.uint8:
        images, alphas = images.float().div_(255), alphas.float().div_(255)
    return images, alphas


LOADER_TIMEOUT_S = 600  # seconds without a batch from the data workers before the training stops with an error


def make_loader(dataset, batch_size: int, sampler, workers: int, cuda: bool, prefetch_factor: int) -> DataLoader:
    """The training batches: `workers` forked processes (uint8 batches into pinned memory on CUDA).
    Forked workers run OpenCV on one thread each (their own threads would only compete); they inherit that
    from this process, since cv2.setNumThreads inside a forked worker can hang on this process's OpenCV thread
    pool (it did, on a GPU machine). This process keeps one OpenCV thread from here on. A worker that sends
    nothing for `LOADER_TIMEOUT_S` is an error, not a silent wait."""
    if workers > 0:
        cv2.setNumThreads(1)
    return DataLoader(dataset, batch_size, sampler=sampler, num_workers=workers, drop_last=True,
                      persistent_workers=workers > 0, pin_memory=cuda,
                      prefetch_factor=prefetch_factor if workers > 0 else None,
                      collate_fn=collate_uint8 if cuda else None, timeout=LOADER_TIMEOUT_S if workers > 0 else 0)


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
    raise ValueError(f"unknown optimizer {config.optimizer!r}; choose adam, sgd or rmsprop")


def _training_set(config: TrainConfig, progress: bool, workers: int = 2):
    """The training part of `dataset_path` (and of each of `add_datasets`), composited onto the training part
    of the backgrounds when `composite` > 0; foreground colours not yet cached are computed by `workers`
    processes."""
    roots = [config.dataset_path, *config.add_datasets]
    bases = [MattingDataset(root, config.dataset_split_name, config.size, augment=True,
                            holdout_percent=config.val_holdout, holdout=False, color_jitter=config.color_jitter,
                            progress=progress) for root in roots]
    if config.composite <= 0:
        if len(bases) > 1:
            raise ValueError("--add-dataset needs --composite > 0 (the people sets are mixed by compositing)")
        return bases[0]
    from mmnet.data.composite import CompositeDataset, ForegroundCache, load_backgrounds
    if not config.backgrounds:
        raise ValueError("--composite needs --backgrounds FOLDER")
    foregrounds = [ForegroundCache(base, workers=workers, progress=progress).foregrounds for base in bases]
    backgrounds = load_backgrounds(config.backgrounds, config.size, holdout=False)
    return CompositeDataset(bases, backgrounds, foregrounds, p_composite=config.composite,
                            p_two=config.composite_two, jitter=config.composite_jitter,
                            p_stretch=config.composite_stretch, p_occlude=config.composite_occlude,
                            p_scene=config.composite_scene)


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


class _CsvLog:
    """log.csv in the train dir; on resume, rows past the resumed step (from a killed run) are dropped."""

    def __init__(self, path: Path, start_step: int) -> None:
        rows = []
        if path.exists() and start_step > 0:
            with path.open(newline="") as f:
                rows = [row for row in csv.DictReader(f) if int(row["step"]) <= start_step]
        self.file = path.open("w", newline="")
        self.writer = csv.DictWriter(self.file, LOG_FIELDS, extrasaction="ignore")
        self.writer.writeheader()
        self.writer.writerows(rows)
        self.file.flush()

    def write(self, row: dict) -> None:
        self.writer.writerow(row)
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def train(config: TrainConfig) -> Path:
    """Train until `total_steps`, resuming from the newest checkpoint in `train_dir`. Returns that dir."""
    if config.threads:
        torch.set_num_threads(config.threads)
    rank, world_size, device = _setup_distributed(config)
    is_main = rank == 0
    train_dir = Path(config.train_dir)
    torch.manual_seed(config.seed)
    cuda = device.type == "cuda"
    amp = config.amp if config.amp is not None else cuda
    workers = config.num_workers if config.num_workers is not None else default_workers(device)
    if cuda:
        torch.backends.cudnn.benchmark = True  # fixed input shapes: pick the fastest kernels once

    dataset = _training_set(config, progress=is_main, workers=max(2, workers) if cuda else 2)
    total = config.total_steps(len(dataset), world_size)

    model = create(config.model, **config.model_kwargs()).to(device)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    optimizer = make_optimizer(config, model, fused=cuda)
    ema = (torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=ema_with_warmup(config.ema_decay),
                                               use_buffers=True) if config.ema_decay > 0 else None)

    step = 0
    resumed = load_newest(train_dir)  # (path, state), a damaged newest checkpoint named and passed over
    if resumed is None and config.init_from:
        source = Path(config.init_from)
        initial = load_checkpoint(latest_checkpoint(source) or source if source.is_dir() else source)
        model.load_state_dict(initial["ema"] if initial.get("ema") is not None else initial["model"])
        if ema is not None:
            ema.module.load_state_dict(model.state_dict())
        if is_main:
            print(f"starting from the weights of {config.init_from} (step {initial['step']})")
    if resumed is not None:
        resume_from, state = resumed
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if ema is not None and state.get("ema") is not None:
            ema.module.load_state_dict(state["ema"])
        step = state["step"]
        if is_main:
            print(f"resuming from {resume_from} (step {step})")
    if is_main:
        train_dir.mkdir(parents=True, exist_ok=True)
        (train_dir / FINISHED).unlink(missing_ok=True)

    ddp_model = nn.parallel.DistributedDataParallel(model) if world_size > 1 else model
    criterion = MattingLoss(LossWeights(config.lambda_alpha, config.lambda_comp, config.lambda_grad,
                                        config.lambda_kd, config.lambda_aux), config.original_comp_scale)
    sampler = ResumableSampler(len(dataset), config.seed, step * config.batch_size * world_size, rank, world_size)
    loader = make_loader(dataset, config.batch_size, sampler, workers, cuda, config.prefetch_factor)

    def save() -> None:
        if is_main:
            save_checkpoint({"step": step, "model_name": config.model, "model_kwargs": config.model_kwargs(),
                             "size": config.size, "model": model.state_dict(),
                             "ema": ema.module.state_dict() if ema is not None else None,
                             "optimizer": optimizer.state_dict(), "config": dataclasses.asdict(config)},
                            train_dir, config.keep_checkpoints)

    log = _CsvLog(train_dir / "log.csv", step) if is_main else None
    progress = tqdm(total=total, initial=step, disable=not is_main, desc="train", unit="step", dynamic_ncols=True)
    train_mode(model, config.freeze_bn)
    started, window_start, window_images = time.time(), time.time(), 0
    first_step, trained_images = step, 0
    batches = iter(loader)
    while step < total:
        images, alphas = to_device(next(batches), device, memory_format)
        lr = learning_rate(config, step, total)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits, aux_logits = ddp_model(images, with_aux=True)
        loss, terms = criterion(logits, aux_logits, alphas, images)  # in fp32: the losses cast the logits
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if ema is not None:
            ema_update(ema, model, config.ema_decay)
        step += 1
        trained_images += images.shape[0] * world_size
        window_images += images.shape[0] * world_size
        if is_main and (step % config.log_every == 0 or step == total):
            speed = window_images / max(1e-9, time.time() - window_start)
            window_start, window_images = time.time(), 0
            row = {"step": step, "epoch": f"{step * config.batch_size * world_size / len(dataset):.3f}",
                   "lr": f"{lr:.3g}", "loss": f"{loss.item():.5f}", "images_per_s": f"{speed:.1f}",
                   "elapsed_s": f"{time.time() - started:.1f}",
                   **{name: f"{value.item():.5f}" for name, value in terms.items()}}
            log.write(row)
            progress.set_postfix(loss=row["loss"], img_s=row["images_per_s"])
        progress.update(1)
        if step % config.checkpoint_every == 0 or step == total:
            save()
    progress.close()
    if is_main:
        log.close()
        seconds = time.time() - started
        print(f"trained steps {first_step}-{step} in {seconds:.1f} s: {trained_images / max(seconds, 1e-9):.1f} "
              f"images/s on {device}{' (bf16 autocast)' if amp else ''}, {workers} data workers")
        (train_dir / FINISHED).write_text(f"{step}\n")
    if world_size > 1:
        dist.barrier()
        dist.destroy_process_group()
    return train_dir
