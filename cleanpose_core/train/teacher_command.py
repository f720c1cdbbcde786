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

"""Pretrain the frozen 3D teacher on the synthetic shape library.

Complete and partial views of many training instances (train seed range) of all
six categories; objectives: category classification + instance-level InfoNCE
(two random views of one instance are positives). Writes the teacher as
safetensors with its config embedded, and metrics.jsonl next to it.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
import time

import numpy as np
import torch

from cleanpose_core.categories import CATEGORIES
from cleanpose_core.config import resolve_device
from cleanpose_core.data.synth.shapes import instance_seed_range, make_shape
from cleanpose_core.fileio import atomic_path
from cleanpose_core.log import progress
from cleanpose_core.model.teacher import evaluate_teacher, save_teacher, TeacherConfig, \
    TeacherEncoder, train_teacher
from cleanpose_core.model.teacher_data import MeshSample, sample_surface, TeacherViews

__all__ = ['add_arguments', 'run', 'build_library']

log = logging.getLogger(__name__)

EPILOG = """examples:
  cleanpose train-teacher --out runs/train-teacher/teacher.safetensors
  cleanpose train-teacher --instances 80 --steps 2000 --device cuda
  cleanpose train -c config/model/small.yaml model.teacher=runs/train-teacher/teacher.safetensors
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `cleanpose train-teacher`."""
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument('--out', default='runs/train-teacher/teacher.safetensors',
                        help='teacher weights file to write (default: %(default)s)')
    parser.add_argument('--instances', type=int, default=40,
                        help='training instances per category (default: %(default)s)')
    parser.add_argument('--steps', type=int, default=600,
                        help='optimisation steps (default: %(default)s)')
    parser.add_argument('--batch', type=int, default=32,
                        help='instances per step (default: %(default)s)')
    parser.add_argument('--points', type=int, default=256,
                        help='points per view (default: %(default)s)')
    parser.add_argument('--dim', type=int, default=128,
                        help='embedding width, must equal model.teacher_dim '
                             '(default: %(default)s)')
    parser.add_argument('--width', type=int, default=96,
                        help='encoder feature width (default: %(default)s)')
    parser.add_argument('--lr', type=float, default=1e-3,
                        help='peak learning rate (default: %(default)s)')
    parser.add_argument('--eval-instances', type=int, default=10,
                        help='held-out test instances per category scored at the end '
                             '(default: %(default)s; 0 = skip)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of weights and views (default: %(default)s)')
    parser.add_argument('--device', default='auto',
                        help="'auto', 'cpu', 'cuda' or 'cuda:N' (default: %(default)s)")


def build_library(instances: int, seed: int = 0, surface_points: int = 4096,
                  split: str = 'train') -> list[MeshSample]:
    """Surface samples of `instances` random instances of every category of a split.

    Training uses the train seed range only, so test instances stay unseen; the
    final score uses the test range.
    """
    rng = np.random.default_rng(seed)
    seeds = instance_seed_range(split)
    picks = rng.choice(min(len(seeds), 100 * max(instances, 1)), size=instances, replace=False)
    library = []
    for name in CATEGORIES:
        for pick in picks:
            shape = make_shape(name, int(seeds[int(pick)]))
            pts = sample_surface(shape.mesh.vertices, shape.mesh.faces, surface_points, rng)
            library.append(MeshSample(points=pts, class_id=shape.class_id,
                                      instance=shape.model_id))
    return library


def run(args: argparse.Namespace) -> int:
    """Build the view library, pretrain, save; print where the weights went."""
    from cleanpose_core.errors import ConfigError

    if args.eval_instances < 0:
        raise ConfigError(f'--eval-instances must be >= 0; got {args.eval_instances}')
    for key in ('instances', 'steps', 'batch', 'points'):
        if getattr(args, key) < 1:
            raise ConfigError(f'--{key} must be >= 1; got {getattr(args, key)}')
    if args.instances * len(CATEGORIES) < 2:
        raise ConfigError('--instances must give at least 2 instances in all')
    out = Path(args.out)
    torch.manual_seed(args.seed)
    device = resolve_device(args.device, '--device')
    t0 = time.time()
    library = build_library(args.instances, args.seed)
    log.info('shape library: %d instances (%d per category) in %.1f s', len(library),
             args.instances, time.time() - t0)
    cfg = TeacherConfig(dim=args.dim, width=args.width, num_points=args.points)
    teacher = TeacherEncoder(cfg)
    views = TeacherViews(library, args.batch, args.points, seed=args.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    metrics_path = out.with_name(out.stem + '_metrics.jsonl')
    bar = progress(total=args.steps, desc='teacher')
    with atomic_path(metrics_path) as tmp, tmp.open('w') as metrics:
        def on_step(step: int, terms: dict) -> None:
            metrics.write(json.dumps(dict(step=step, **terms)) + '\n')
            bar.update(1)
            bar.set_postfix(loss=f'{terms["loss"]:.3f}', cls=f'{terms["cls_acc"]:.2f}',
                            inst=f'{terms["inst_acc"]:.2f}')
            if step % 50 == 0 or step == args.steps - 1:
                log.info('step %d/%d loss %.3f cls %.3f nce %.3f cls_acc %.2f inst_acc %.2f',
                         step + 1, args.steps, terms['loss'], terms['cls'], terms['nce'],
                         terms['cls_acc'], terms['inst_acc'])
        history = train_teacher(teacher, views, args.steps, lr=args.lr, device=device,
                                on_step=on_step)
    bar.close()
    last = history[-1]
    scores = {}
    if args.eval_instances > 0:
        held_out = build_library(args.eval_instances, args.seed + 1, split='test')
        view_a, view_b, cats = next(iter(TeacherViews(held_out, len(held_out), args.points,
                                                      seed=args.seed + 1)))
        scores = evaluate_teacher(teacher, view_a.to(device), view_b.to(device),
                                  cats.to(device))
        log.info('held-out test instances (%d): category accuracy %.2f, instance retrieval '
                 'top-1 %.2f', scores['instances'], scores['cls_acc'], scores['retrieval_top1'])
    save_teacher(out, teacher.cpu(), {
        'held_out_scores': json.dumps(scores),
        'train_args': json.dumps({k: v for k, v in vars(args).items()
                                  if isinstance(v, (int, float, str))}),
        'final_terms': json.dumps(last), 'train_seconds': f'{time.time() - t0:.0f}'})
    log.info('teacher trained in %.0f s; last step: cls_acc %.2f inst_acc %.2f',
             time.time() - t0, last['cls_acc'], last['inst_acc'])
    print(f'teacher weights: {out}')
    return 0
