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

"""Training state on disk: atomic checkpoints, RNG states, resume checks, run directories.

A checkpoint is written with ``torch.save`` to a temp file next to the target and
moved into place with ``os.replace``, so a run killed while saving keeps the previous
checkpoint. It is read back with ``torch.load(weights_only=True)``: it may only hold
tensors and plain Python values (RNG states are stored as tensors), so loading a
checkpoint never runs code.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
import random
from typing import Any, TYPE_CHECKING

import numpy as np
import torch
import torch.distributed as dist

from cleanpose_core.config import CleanPoseConfig, config_to_dict
from cleanpose_core.errors import ConfigError, DataError
from cleanpose_core.fileio import atomic_path

if TYPE_CHECKING:
    from cleanpose_core.train.runtime import DistInfo

__all__ = ['save_checkpoint', 'load_checkpoint', 'capture_rng_state', 'restore_rng_state',
           'gather_rng_states', 'restore_rng_states', 'check_resumable', 'increment_path',
           'CHECKPOINT_FORMAT']

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Write a training state atomically (temp file next to the target, then os.replace).

    Args:
        path: target file, e.g. runs/train/exp/checkpoints/last.pt.
        state: tensors and plain Python values only (what weights_only loading accepts).

    Returns:
        The path written.

    Raises:
        TypeError: state holds something weights_only loading refuses (named by key path).
    """
    bad = _first_unplain(state, 'state')
    if bad:
        raise TypeError(f'checkpoint state must hold only tensors and plain values; {bad} '
                        'is not (weights_only loading would refuse it)')
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        torch.save({'format': CHECKPOINT_FORMAT, **state}, f)
        f.flush()
        os.fsync(f.fileno())
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = 'cpu') -> dict:
    """Read a checkpoint written by save_checkpoint without unpickling code.

    Raises:
        DataError: missing, truncated, not a checkpoint, or of another format version.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f'{path}: checkpoint does not exist')
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or foreign files
        raise DataError(f'{path}: cannot read the checkpoint ({type(err).__name__}: '
                        f'{str(err).splitlines()[0] if str(err) else ""}); it is truncated, '
                        'corrupt or holds more than tensors and plain values') from None
    if not isinstance(state, dict) or state.get('format') != CHECKPOINT_FORMAT:
        found = state.get('format') if isinstance(state, dict) else type(state).__name__
        raise DataError(f'{path}: not a cleanpose training checkpoint of format '
                        f'{CHECKPOINT_FORMAT}; found {found!r}')
    return state


def capture_rng_state() -> dict:
    """Return the Python, numpy and torch (CPU and CUDA) RNG states as tensors.

    Returns:
        {'python': (625,) int64 + 'python_gauss', 'numpy': (624,) int64 + scalars,
        'torch': uint8 tensor, 'cuda': list of uint8 tensors (empty without CUDA)}.
    """
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        'python_version': int(version),
        'python': torch.tensor(mt, dtype=torch.int64),
        'python_gauss': None if gauss is None else float(gauss),
        'numpy_kind': str(kind),
        'numpy': torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        'numpy_pos': int(pos),
        'numpy_has_gauss': int(has_gauss),
        'numpy_gauss': float(cached),
        'torch': torch.get_rng_state(),
        'cuda': torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: dict) -> None:
    """Set the Python, numpy and torch RNGs to a state from capture_rng_state.

    Raises:
        DataError: the state misses a key (a checkpoint of another version).
    """
    try:
        mt = tuple(int(v) for v in state['python'].tolist())
        random.setstate((state['python_version'], mt, state['python_gauss']))
        keys = state['numpy'].numpy().astype(np.uint32)
        np.random.set_state((state['numpy_kind'], keys, state['numpy_pos'],
                             state['numpy_has_gauss'], state['numpy_gauss']))
        torch.set_rng_state(state['torch'].cpu())
    except KeyError as err:
        raise DataError(f'checkpoint RNG state misses {err}; it was written by another '
                        'version') from None
    cuda = state.get('cuda') or []
    if cuda and torch.cuda.is_available():
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
        else:
            log.warning('checkpoint has %d CUDA RNG states but %d devices are visible; CUDA '
                        'random streams restart', len(cuda), torch.cuda.device_count())


def gather_rng_states(generator: torch.Generator, info: DistInfo) -> list:
    """Capture the RNG states of every process; every rank must call it.

    Args:
        generator: the run's own generator, stored under 'generator' next to the global ones.
        info: rank and world size of this process.

    Returns:
        One capture_rng_state dict per rank, in rank order (one without DDP).
    """
    rng = capture_rng_state()
    rng['generator'] = generator.get_state()
    rngs = [rng]
    if info.distributed:
        rngs = [None] * info.world_size
        dist.all_gather_object(rngs, rng)
    return rngs


def restore_rng_states(rngs: list, generator: torch.Generator, info: DistInfo) -> None:
    """Restore this rank's states from gather_rng_states (rank 0's if the world size changed).

    Raises:
        DataError: a state misses a key (a checkpoint of another version).
    """
    rng = rngs[info.rank] if len(rngs) == info.world_size else rngs[0]
    restore_rng_state(rng)
    generator.set_state(rng['generator'])


def check_resumable(state: dict, cfg: CleanPoseConfig, steps_per_epoch: int,
                    path: Path) -> None:
    """Refuse to resume from a checkpoint of another model or another epoch length.

    Args:
        state: the training state from load_checkpoint.
        cfg: the configuration of the resumed run.
        steps_per_epoch: optimiser steps per epoch of the resumed run.
        path: the checkpoint file (named in the error).

    Raises:
        ConfigError: the model config or the steps per epoch differ.
    """
    saved_model = state['config'].get('model')
    if saved_model != config_to_dict(cfg)['model']:
        raise ConfigError(f'{path}: the model config differs from the one of '
                          'the checkpoint; resume with the config.yaml of the run (model '
                          'keys cannot change)')
    if state['steps_per_epoch'] != steps_per_epoch:
        raise ConfigError(f'{path}: {state["steps_per_epoch"]} steps per epoch '
                          f'in the checkpoint, {steps_per_epoch} now; the data, '
                          'batch size or process count changed')


def increment_path(path: str | Path, exist_ok: bool = False) -> Path:
    """Return path, or path-2, path-3, ... when it exists (ultralytics' increment_path).

    Args:
        path: desired directory, e.g. runs/train/exp.
        exist_ok: return path itself even when it exists.
    """
    path = Path(path)
    if exist_ok or not path.exists():
        return path
    n = 2
    while True:
        candidate = path.with_name(f'{path.name}-{n}')
        if not candidate.exists():
            return candidate
        n += 1


def _first_unplain(value: Any, where: str) -> str | None:
    """Return the key path of the first value weights_only loading would refuse, or None."""
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return None
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            bad = _first_unplain(v, f'{where}[{i}]')
            if bad:
                return bad
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, (str, int)):
                return f'{where}[{k!r}] (key of type {type(k).__name__})'
            bad = _first_unplain(v, f'{where}[{k!r}]')
            if bad:
                return bad
        return None
    return f'{where} ({type(value).__name__})'
