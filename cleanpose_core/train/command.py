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

"""Train CleanPoseNet on a NOCS-layout dataset.

Outputs go to OUT/NAME (OUT/NAME-2, -3, ... when it exists): config.yaml,
metrics.jsonl (one line per epoch and per evaluation), checkpoints/last.pt and
weights/{best,last}.safetensors. A killed run continues with --resume.
Several GPUs: torchrun --nproc_per_node=N -m cleanpose_core.cli train ...

Examples:
  cleanpose train -c config/model/small.yaml --data data/synth train.epochs=2
  cleanpose train -c config/model/small.yaml --data data/synth --name small model.distill=false
  cleanpose train --data data/synth --name small --resume
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path
import sys
from typing import Optional

import torch
import torch.distributed as dist

from cleanpose_core.config import CleanPoseConfig, load_config
from cleanpose_core.errors import DataError
from cleanpose_core.train.checkpoint import increment_path
from cleanpose_core.train.runtime import dist_info
from cleanpose_core.train.trainer import CHECKPOINT_NAME, train

__all__ = ['add_arguments', 'run', 'resolve_run_dir']

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `cleanpose train`."""
    parser.add_argument('-c', '--config', help='YAML config (e.g. config/model/small.yaml)')
    parser.add_argument('--data', help='dataset root with the train/test splits '
                        '(overrides data.root)')
    parser.add_argument('--out', default='runs/train', help='parent of run folders '
                        '(default runs/train)')
    parser.add_argument('--name', default=None, help='run folder name (default exp; with '
                        '--resume, the most recent run under --out)')
    parser.add_argument('--resume', action='store_true',
                        help='continue the run OUT/NAME from its last checkpoint')
    parser.add_argument('overrides', nargs='*', help='key=value config overrides')


def _latest_run(out: Path) -> Path:
    runs = sorted(out.glob(f'*/checkpoints/{CHECKPOINT_NAME}'), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise DataError(f'{out}: no run with checkpoints/{CHECKPOINT_NAME} to resume; name '
                        'one with --name')
    return runs[-1].parent.parent


def resolve_run_dir(out: Path, name: Optional[str], resume: bool) -> Path:
    """The run directory: OUT/NAME (incremented on clash) or, resuming, the existing one."""
    if resume:
        return out / name if name else _latest_run(out)
    return increment_path(out / (name or 'exp'))


def _broadcast_path(path: Optional[Path]) -> Path:
    box = [str(path) if path is not None else None]
    dist.broadcast_object_list(box, src=0)
    return Path(box[0])


def _config(args: argparse.Namespace, run_dir: Path) -> CleanPoseConfig:
    if args.resume:
        saved = run_dir / 'config.yaml'
        if not saved.is_file():
            raise DataError(f'{run_dir}: no config.yaml; is this a cleanpose train run?')
        if args.config:
            log.warning('--resume uses %s; ignoring --config %s', saved, args.config)
        cfg = load_config(saved, args.overrides)
    else:
        cfg = load_config(args.config, args.overrides)
    if args.data:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, root=str(args.data)))
    return cfg


def run(args: argparse.Namespace) -> int:
    """Run `cleanpose train`."""
    info = dist_info()
    if info.distributed and not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend='nccl' if torch.cuda.is_available() else 'gloo')
        if not info.is_main:
            logging.getLogger('cleanpose_core').setLevel(logging.WARNING)
    try:
        out = Path(args.out)
        run_dir = None
        if info.is_main:
            run_dir = resolve_run_dir(out, args.name, args.resume)
        if info.distributed:
            run_dir = _broadcast_path(run_dir)
        cfg = _config(args, run_dir)
        result = train(cfg, run_dir, resume=args.resume, show_progress=True)
    finally:
        if info.distributed and dist.is_initialized():
            dist.destroy_process_group()
    if info.is_main:
        if result.best_score is not None:
            log.info('best score (mean of the 7 mAPs) %.2f', result.best_score)
        sys.stdout.write(f'results saved to {result.run_dir}\n'
                         f'weights: {result.best_weights}\n')
    return 0
