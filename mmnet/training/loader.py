"""The training data: the people sets of a run's settings (composited onto backgrounds or not) and the loader
that batches them, in worker processes."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Union

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader

from mmnet.data.dataset import ConcatMatting, MattingDataset
from mmnet.data.mosaic import MosaicDataset
from mmnet.errors import ConfigError
from mmnet.training.settings import TrainSettings

if TYPE_CHECKING:
    from mmnet.data.composite import CompositeDataset


TrainingSet = Union[MattingDataset, ConcatMatting, "CompositeDataset", MosaicDataset]  # what the trainer samples


def training_set(config: TrainSettings, progress: bool, workers: int = 2) -> TrainingSet:
    """The training part of `dataset_path` (and of each of `add_datasets`): the real photos as they are, or,
    when `composite` > 0, composited onto the training part of the backgrounds with that probability (foreground
    colours not yet cached are computed by `workers` processes); made mosaics with probability `mosaic`."""
    roots = [config.dataset_path, *config.add_datasets]
    bases = [MattingDataset(root, config.dataset_split_name, config.size, augment=True,
                            holdout_percent=config.val_holdout, holdout=False, color_jitter=config.color_jitter,
                            progress=progress) for root in roots]
    if config.composite <= 0:
        people = bases[0] if len(bases) == 1 else ConcatMatting(bases)
    else:
        people = _composited(config, bases, progress, workers)
    return MosaicDataset(people, config.mosaic) if config.mosaic > 0 else people


def _composited(config: TrainSettings, bases: list[MattingDataset], progress: bool, workers: int) -> CompositeDataset:
    from mmnet.data.backgrounds import load_backgrounds
    from mmnet.data.composite import CompositeDataset
    from mmnet.data.foregrounds import ForegroundCache
    if not config.backgrounds:
        raise ConfigError("--composite needs --backgrounds FOLDER")
    foregrounds = [ForegroundCache(base, workers=workers, progress=progress).foregrounds for base in bases]
    backgrounds = load_backgrounds(config.backgrounds, config.size, holdout=False)
    return CompositeDataset(bases, backgrounds, foregrounds, p_composite=config.composite, p_two=config.composite_two,
                            jitter=config.composite_jitter, p_stretch=config.composite_stretch,
                            p_occlude=config.composite_occlude, p_scene=config.composite_scene,
                            p_ground=config.composite_ground, p_harmonise=config.composite_harmonise,
                            p_jpeg=config.composite_jpeg)


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
