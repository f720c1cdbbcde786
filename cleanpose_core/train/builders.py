# Copyright 2026 The cleanpose_ros Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Set-up of a training run: its data, optimisation, initial network and DDP wrapper.

trainer.py builds these once per run, after seeding the global RNGs, and keeps the
loop, its checkpoints and its metrics.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import logging
from pathlib import Path
from typing import NamedTuple, Optional

import torch
from torch import nn
import torch.distributed as dist
from torch.utils.data import DataLoader

from cleanpose_core.categories import NUM_CATEGORIES
from cleanpose_core.config import CleanPoseConfig, DEFAULT_WEIGHTS, TrainConfig
from cleanpose_core.data.dataset import collate_instances, InstanceDataset
from cleanpose_core.data.nocs import NocsSplit
from cleanpose_core.errors import ConfigError, DataError
from cleanpose_core.model.network import CleanPoseNet
from cleanpose_core.model.weights import load_state_strict, read_weights
from cleanpose_core.train.runtime import (DistInfo, EpochSampler, lr_factor,
                                          prepare_instance_cache)

__all__ = ['TrainData', 'build_train_data', 'Optimisation', 'build_optimisation',
           'seed_dictionary', 'load_init_weights', 'wrap_step_module']

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainData:
    """The training data of a run and the step counts it implies.

    Attributes:
        dataset: the training instances (the cache of data.train_split).
        sampler: this process's share of the epoch order.
        loader: batches of dataset in sampler order.
        loader_gen: the loader's generator, reseeded at every epoch.
        steps_per_epoch: optimiser steps per epoch.
        schedule_steps: steps the learning-rate schedule spans (train.epochs epochs).
        total_steps: steps the run takes (schedule_steps, fewer with train.max_steps).
        val_split: split of the periodic evaluation; None when off or not rank 0.
    """

    dataset: InstanceDataset
    sampler: EpochSampler
    loader: DataLoader
    loader_gen: torch.Generator
    steps_per_epoch: int
    schedule_steps: int
    total_steps: int
    val_split: Optional[NocsSplit]


def build_train_data(cfg: CleanPoseConfig, run_dir: Path, info: DistInfo,
                     device: torch.device) -> TrainData:
    """Prepare the instance cache (rank 0), then the dataset, sampler and loader.

    Args:
        cfg: the resolved configuration.
        run_dir: the run directory (its cache/ is the fallback of a read-only data root).
        info: rank and world size of this process.
        device: the training device (pinned loader memory on CUDA).

    Returns:
        The TrainData.

    Raises:
        DataError: missing split, no usable instance, or crops of another model.crop_size.
    """
    cache = None
    if info.is_main:
        cache = prepare_instance_cache(cfg, cfg.data.train_split, run_dir / 'cache')
    if info.distributed:
        box = [str(cache) if cache else None]
        dist.broadcast_object_list(box, src=0)
        cache = Path(box[0])
    dataset = InstanceDataset(cache, cfg.model.num_points, train=True, seed=cfg.train.seed)
    if dataset.crop_size != cfg.model.crop_size:
        raise DataError(f'{cache}: crops are {dataset.crop_size} px but '
                        f'model.crop_size={cfg.model.crop_size}; delete the cache')
    sampler = EpochSampler(len(dataset), cfg.train.seed, info.rank, info.world_size)
    batch = cfg.train.batch_size
    drop_last = sampler.per_rank >= batch
    if not drop_last:
        log.warning('only %d training instances per process for train.batch_size=%d: '
                    'one smaller batch per epoch', sampler.per_rank, batch)
    steps_per_epoch = (sampler.per_rank // batch if drop_last else 1)
    loader_gen = torch.Generator()
    loader = DataLoader(dataset, batch_size=batch, sampler=sampler, drop_last=drop_last,
                        collate_fn=collate_instances, num_workers=cfg.data.workers,
                        generator=loader_gen, pin_memory=device.type == 'cuda')
    # The schedule always spans train.epochs; train.max_steps only stops the run early
    # (a stopped run resumed with a larger max_steps continues the same schedule).
    schedule_steps = cfg.train.epochs * steps_per_epoch
    total_steps = (min(schedule_steps, cfg.train.max_steps) if cfg.train.max_steps
                   else schedule_steps)
    val_split = None
    if cfg.train.eval_every > 0 and info.is_main:
        try:
            val_split = NocsSplit(cfg.data.root, cfg.data.val_split)
        except DataError as err:
            log.warning('periodic evaluation is off: %s', err)
    return TrainData(dataset=dataset, sampler=sampler, loader=loader, loader_gen=loader_gen,
                     steps_per_epoch=steps_per_epoch, schedule_steps=schedule_steps,
                     total_steps=total_steps, val_split=val_split)


class Optimisation(NamedTuple):
    """What steps the parameters: optimiser, schedule, and mixed precision."""

    optimizer: torch.optim.AdamW
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    amp_dtype: Optional[torch.dtype]


def build_optimisation(net: nn.Module, cfg: TrainConfig, schedule_steps: int,
                       device: torch.device) -> Optimisation:
    """Build AdamW (no decay on biases and norms), the warm-up + cosine schedule and AMP.

    Args:
        net: the network to train.
        cfg: the train section of the config.
        schedule_steps: steps the schedule spans; warm-up is at most a fifth of them.
        device: the training device; AMP runs on CUDA only (bfloat16 where supported,
            else float16 with a gradient scaler).

    Returns:
        The Optimisation; its scaler is disabled unless amp_dtype is float16.
    """
    decay, no_decay = [], []
    for p in net.parameters():
        if p.requires_grad:
            (decay if p.dim() > 1 else no_decay).append(p)
    optimizer = torch.optim.AdamW(
        [{'params': decay, 'weight_decay': cfg.weight_decay},
         {'params': no_decay, 'weight_decay': 0.0}], lr=cfg.lr)
    warmup = min(cfg.warmup_steps, schedule_steps // 5)
    total = schedule_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total, warmup))
    cuda = device.type == 'cuda'
    amp_dtype = None
    if cfg.amp and cuda:
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler('cuda', enabled=amp_dtype == torch.float16)
    return Optimisation(optimizer=optimizer, scheduler=scheduler, scaler=scaler,
                        amp_dtype=amp_dtype)


def seed_dictionary(net: CleanPoseNet, dataset: InstanceDataset, cfg: CleanPoseConfig,
                    device: torch.device) -> None:
    """Seed the confounder dictionary of a fresh run (no-op without the front door).

    The first NUM_CATEGORIES * model.dict_size instances of a train.seed permutation are
    encoded by the teacher (model.distill; net.teacher() must be loadable) or by the
    network itself.

    Args:
        net: the network; its dictionary is filled in place.
        dataset: the training instances.
        cfg: the resolved configuration.
        device: the training device.
    """
    model_cfg = cfg.model
    if not model_cfg.front_door:
        return
    gen = torch.Generator().manual_seed(cfg.train.seed)
    order = torch.randperm(len(dataset), generator=gen).tolist()
    order = order[:NUM_CATEGORIES * model_cfg.dict_size]
    batch = cfg.train.batch_size
    source = 'teacher' if model_cfg.distill else 'network'
    for start in range(0, len(order), batch):
        items = [dataset[i] for i in order[start:start + batch]]
        inp, _ = collate_instances(items)
        inp = inp.to(device)
        feats = (net.teacher_dictionary_features(inp) if model_cfg.distill
                 else net.dictionary_features(inp))
        net.seed_dictionary(inp.category_ids, feats)
    log.info('seeded the confounder dictionary with %s features of %d instances', source,
             len(order))


def load_init_weights(net: CleanPoseNet, cfg: CleanPoseConfig) -> None:
    """Start from the weights of train.init (fine-tuning): parameters and dictionary.

    Args:
        net: the network, loaded in place.
        cfg: the resolved configuration; train.init is a path or 'shipped'.

    Raises:
        ConfigError: the weights were trained with another model config.
        WeightsError: the file is missing or unusable.
    """
    path = DEFAULT_WEIGHTS if cfg.train.init == 'shipped' else Path(cfg.train.init)
    tensors, theirs = read_weights(path)
    own = cfg.model
    if theirs != own:
        diff = [f.name for f in dataclasses.fields(own)
                if getattr(own, f.name) != getattr(theirs, f.name)]
        raise ConfigError(f'train.init={path}: its model config differs from the run '
                          f'config in {diff}; fine-tuning keeps the architecture')
    load_state_strict(net, tensors, path)
    log.info('initialised from %s (parameters and confounder dictionary)', path)


class _StepModule(nn.Module):
    """Calls net.training_step from forward(), so DDP sees (and syncs) the step."""

    def __init__(self, net: CleanPoseNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, inp, target, generator):
        return self.net.training_step(inp, target, generator)


def wrap_step_module(net: CleanPoseNet, info: DistInfo, device: torch.device) -> nn.Module:
    """Return a module whose forward(inp, target, generator) is net.training_step.

    Args:
        net: the network.
        info: rank and world size; with more than one process the module is DDP-wrapped.
        device: the training device.

    Returns:
        The step module (DistributedDataParallel when distributed).
    """
    step_module = _StepModule(net)
    if info.distributed:
        ids = [device.index] if device.type == 'cuda' else None
        step_module = nn.parallel.DistributedDataParallel(
            step_module, device_ids=ids, find_unused_parameters=True)
    return step_module
