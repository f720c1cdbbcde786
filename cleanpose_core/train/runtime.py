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

"""Parts of the training loop: processes, devices, data order, schedule, run files.

The data order of an epoch is a function of (seed, epoch) (EpochSampler), sharded over
DDP ranks the way DistributedSampler does it, and skippable, so that a resumed run
consumes exactly the batches the interrupted one had left.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import logging
import math
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler

from cleanpose_core.config import CleanPoseConfig
from cleanpose_core.data.dataset import build_instance_cache
from cleanpose_core.data.nocs import NocsSplit
from cleanpose_core.errors import ConfigError
from cleanpose_core.eval.evaluate import METRIC_KEYS
from cleanpose_core.fileio import atomic_write_text

__all__ = ['DistInfo', 'dist_info', 'lr_factor', 'score_of', 'EpochSampler',
           'prepare_instance_cache', 'append_jsonl', 'truncate_metrics', 'FINAL_LR_FRACTION']

log = logging.getLogger(__name__)

# The cosine schedule decays the learning rate to this fraction of train.lr.
FINAL_LR_FRACTION = 0.01


@dataclass(frozen=True)
class DistInfo:
    """Process group facts: rank, world size and local rank (torchrun's env vars)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only process that writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when more than one process trains."""
        return self.world_size > 1


def dist_info() -> DistInfo:
    """Read RANK, WORLD_SIZE and LOCAL_RANK (set by torchrun); defaults: one process."""
    try:
        return DistInfo(rank=int(os.environ.get('RANK', '0')),
                        world_size=int(os.environ.get('WORLD_SIZE', '1')),
                        local_rank=int(os.environ.get('LOCAL_RANK', '0')))
    except ValueError:
        raise ConfigError('RANK, WORLD_SIZE and LOCAL_RANK must be integers (torchrun sets '
                          'them)') from None


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Learning-rate multiplier: linear warm-up, then cosine decay to FINAL_LR_FRACTION."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    span = max(total - warmup, 1)
    progress_ = min(max(step - warmup, 0) / span, 1.0)
    return FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * progress_))


def score_of(metrics: dict) -> float:
    """One number to pick the best checkpoint: the mean of the seven mAPs (percent)."""
    return float(np.mean([metrics.get(k, 0.0) for k in METRIC_KEYS]))


class EpochSampler(Sampler):
    """Instance order of an epoch as a function of (seed, epoch), shardable, skippable.

    Every rank takes every world_size-th index of one permutation (padded by wrapping so
    all ranks get the same count, as DistributedSampler does). set_epoch(epoch, skip)
    chooses the epoch and drops the first skip indices of this rank's share (the
    instances consumed before a checkpoint).

    Args:
        num_samples: dataset length.
        seed: run seed.
        rank: this process's rank.
        world_size: number of processes.
    """

    def __init__(self, num_samples: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        if num_samples < 1:
            raise ValueError(f'num_samples must be >= 1; got {num_samples}')
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.per_rank = math.ceil(self.num_samples / self.world_size)
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Choose the epoch and how many of this rank's first indices to skip."""
        self.epoch = int(epoch)
        self.skip = int(min(max(skip, 0), self.per_rank))

    def order(self, epoch: int) -> list[int]:
        """This rank's full index order for an epoch."""
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        perm = torch.randperm(self.num_samples, generator=gen).tolist()
        total = self.per_rank * self.world_size
        perm = (perm * math.ceil(total / self.num_samples))[:total]
        return perm[self.rank::self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self.order(self.epoch)[self.skip:])

    def __len__(self) -> int:
        return self.per_rank - self.skip


def _newest_label_mtime(split_dir: Path) -> float:
    newest = 0.0
    for scene in split_dir.iterdir():
        if scene.is_dir():
            for path in scene.glob('*_label.pkl'):
                newest = max(newest, path.stat().st_mtime)
    return newest


def prepare_instance_cache(cfg: CleanPoseConfig, split_name: str,
                           fallback_dir: Path) -> Path:
    """Return an up-to-date instance cache of a split, building it when needed.

    The cache lives in train.cache_dir (default <data.root>/cache, or fallback_dir when
    the data root is read-only) as <split>_p<max_points>_s<crop_size>.npz (with
    _mn<mask_noise> appended when data.mask_noise perturbs masks); it is reused while it is
    newer than every _label.pkl of the split.

    Raises:
        DataError: the split is missing or has no usable instance.
    """
    root = Path(cfg.data.root)
    split = NocsSplit(root, split_name)
    max_points = 2 * cfg.model.num_points
    cache_dir = Path(cfg.train.cache_dir) if cfg.train.cache_dir else root / 'cache'
    if not cfg.train.cache_dir and not os.access(root, os.W_OK):
        cache_dir = fallback_dir
    noise = cfg.data.mask_noise
    suffix = f'_mn{noise:g}' if noise else ''
    path = cache_dir / f'{split_name}_p{max_points}_s{cfg.model.crop_size}{suffix}.npz'
    if path.is_file() and path.stat().st_mtime >= _newest_label_mtime(split.split_dir):
        log.info('reusing instance cache %s', path)
        return path
    log.info('building the instance cache of %s (%d frames) in %s', split.split_dir,
             len(split), path)
    build_instance_cache(split, path, cfg.model.num_points, cfg.model.crop_size,
                         max_points=max_points, seed=0, mask_noise=noise)
    return path


def append_jsonl(path: Path, record: dict) -> None:
    """Append one JSON line and flush it to disk."""
    with open(path, 'a') as f:
        f.write(json.dumps(record) + '\n')
        f.flush()
        os.fsync(f.fileno())


def truncate_metrics(path: Path, epochs_done: int) -> None:
    """Drop metrics lines written after the checkpoint a run resumes from.

    Lines are written only at epoch ends, and a checkpoint records the epochs it
    completed, so the lines of later epochs (1-based 'epoch' > epochs_done) are newer.
    """
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get('epoch', 0) <= epochs_done:
                kept.append(line)
        except json.JSONDecodeError:
            continue  # a line cut by the kill
    atomic_write_text(path, ''.join(f'{line}\n' for line in kept))
