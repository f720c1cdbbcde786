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

"""The frozen 3D teacher: a wider point encoder and its pretraining objective.

The paper distils from ULIP-2's PointBERT, whose weights cannot be fetched here.
This package pretrains its own teacher on the synthetic shape library (see
`cleanpose train-teacher`): complete and partial views of many instances, with a
category classification loss and an instance-level contrastive loss (two random
partial views / rotations of one instance are positives). A user with another
checkpoint in this format can point `model.teacher` at it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import json
import logging
import math
from pathlib import Path
from typing import Callable, Iterable, Optional

import torch
from torch import nn, Tensor
import torch.nn.functional as F

from cleanpose_core.categories import NUM_CATEGORIES
from cleanpose_core.config import PACKAGE_ROOT
from cleanpose_core.errors import WeightsError
from cleanpose_core.model.encoders import MLP, normalize_points, SetAbstraction, \
    strided_indices
from cleanpose_core.model.weights import load_state_strict, read_safetensors, \
    write_safetensors

__all__ = ['TeacherConfig', 'TeacherEncoder', 'TeacherLoss', 'teacher_loss', 'train_teacher',
           'evaluate_teacher',
           'save_teacher', 'load_teacher', 'freeze', 'DEFAULT_TEACHER', 'TEACHER_KIND']

log = logging.getLogger(__name__)

DEFAULT_TEACHER = PACKAGE_ROOT / 'weights' / 'teacher.safetensors'
TEACHER_KIND = 'cleanpose_teacher'


@dataclass(frozen=True)
class TeacherConfig:
    """Architecture of the teacher; embedded in its weights file."""

    dim: int = 128          # (int) embedding width (model.teacher_dim must match)
    width: int = 96         # (int) feature width of the set-abstraction levels
    num_points: int = 256   # (int) points the teacher looks at (even-stride subset)

    def __post_init__(self) -> None:
        for key in ('dim', 'width', 'num_points'):
            if getattr(self, key) < 8:
                raise ValueError(f'teacher {key} must be >= 8; got {getattr(self, key)}')


class TeacherEncoder(nn.Module):
    """Three-level set-abstraction encoder -> one embedding per point cloud."""

    def __init__(self, cfg: TeacherConfig = TeacherConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.embed_points = MLP([3, w // 2, w // 2], last_act=True)
        self.sa1 = SetAbstraction(w // 2, w, (8, 16))
        self.sa2 = SetAbstraction(w, w * 2, (8, 16))
        self.head = MLP([w * 2 + 3, w * 2, w * 4], last_act=True)
        self.out = MLP([w * 4, w * 2, cfg.dim])
        self.classifier = nn.Linear(cfg.dim, NUM_CATEGORIES)
        self.projector = MLP([cfg.dim, cfg.dim, cfg.dim])

    def forward(self, points: Tensor) -> Tensor:
        """Embed point clouds.

        Args:
            points: (B, N, 3) points in any frame and unit; they are centred and
                scale-normalised here, and an even-stride subset of at most
                cfg.num_points is used.

        Returns:
            (B, dim) embedding (not normalised).
        """
        if points.dim() != 3 or points.shape[-1] != 3:
            raise ValueError(f'points must have shape (B, N, 3); got {tuple(points.shape)}')
        n = points.shape[1]
        if n < 16:
            raise ValueError(f'the teacher needs at least 16 points per cloud; got {n}')
        xyz, _, _ = normalize_points(points[:, strided_indices(n, self.cfg.num_points,
                                                               points.device)])
        n = xyz.shape[1]
        f0 = self.embed_points(xyz)
        xyz1 = xyz[:, strided_indices(n, max(16, n // 4), xyz.device)]
        f1 = self.sa1(xyz, f0, xyz1)
        xyz2 = xyz1[:, strided_indices(xyz1.shape[1], max(8, n // 16), xyz.device)]
        f2 = self.sa2(xyz1, f1, xyz2)
        g = self.head(torch.cat([f2, xyz2], dim=-1)).amax(dim=1)
        return self.out(g)


@dataclass(frozen=True)
class TeacherLoss:
    """Pretraining loss: total (scalar tensor) and float terms for logging."""

    total: Tensor
    terms: dict


def teacher_loss(teacher: TeacherEncoder, view_a: Tensor, view_b: Tensor,
                 category_ids: Tensor, temperature: float = 0.1) -> TeacherLoss:
    """Category cross-entropy on both views + symmetric InfoNCE between the views.

    Args:
        teacher: the encoder being trained.
        view_a: (B, N, 3) one view per instance (B distinct instances).
        view_b: (B, N, 3) another view of the same instances.
        category_ids: (B,) long 1..6.
        temperature: InfoNCE temperature.
    """
    emb = teacher(torch.cat([view_a, view_b]))
    labels = (category_ids - 1).repeat(2)
    logits_cls = teacher.classifier(emb)
    cls = F.cross_entropy(logits_cls, labels)
    z = F.normalize(teacher.projector(emb), dim=-1)
    b = view_a.shape[0]
    za, zb = z[:b], z[b:]
    sim = za @ zb.T / temperature
    target = torch.arange(b, device=sim.device)
    nce = 0.5 * (F.cross_entropy(sim, target) + F.cross_entropy(sim.T, target))
    acc = (logits_cls.argmax(-1) == labels).float().mean()
    inst_acc = (sim.argmax(-1) == target).float().mean()
    return TeacherLoss(total=cls + nce,
                       terms={'cls': float(cls.detach()), 'nce': float(nce.detach()),
                              'cls_acc': float(acc), 'inst_acc': float(inst_acc)})


@torch.no_grad()
def evaluate_teacher(teacher: TeacherEncoder, view_a: Tensor, view_b: Tensor,
                     category_ids: Tensor) -> dict:
    """Score a teacher on two views of held-out instances (eval mode, no gradients).

    Returns:
        {'cls_acc': category accuracy over both views, 'retrieval_top1': fraction of
        view_a embeddings whose nearest view_b embedding (cosine) is the same instance,
        'instances': B}.
    """
    was_training = teacher.training
    teacher.eval()
    try:
        emb = teacher(torch.cat([view_a, view_b]))
    finally:
        teacher.train(was_training)
    labels = (category_ids - 1).repeat(2)
    b = view_a.shape[0]
    z = F.normalize(emb, dim=-1)
    sim = z[:b] @ z[b:].T
    return {'cls_acc': float((teacher.classifier(emb).argmax(-1) == labels).float().mean()),
            'retrieval_top1': float((sim.argmax(-1) == torch.arange(b, device=sim.device))
                                    .float().mean()),
            'instances': b}


def train_teacher(teacher: TeacherEncoder,
                  batches: Iterable[tuple[Tensor, Tensor, Tensor]],
                  steps: int, lr: float = 1e-3, weight_decay: float = 1e-4,
                  device: str | torch.device = 'cpu',
                  on_step: Optional[Callable[[int, dict], None]] = None) -> list[dict]:
    """Pretrain the teacher (AdamW, linear warm-up then cosine decay) and freeze it.

    Args:
        teacher: encoder to train in place.
        batches: yields (view_a (B, N, 3), view_b (B, N, 3), category_ids (B,) 1..6);
            at least `steps` batches are consumed.
        steps: optimisation steps (>= 1).
        lr: peak learning rate.
        weight_decay: AdamW weight decay.
        device: where to train.
        on_step: called as on_step(step, terms) after every step (logging, progress).

    Returns:
        The loss terms of every step.

    Raises:
        ValueError: steps < 1, or the batches run out early.
    """
    if steps < 1:
        raise ValueError(f'steps must be >= 1; got {steps}')
    teacher.to(device).train()
    opt = torch.optim.AdamW(teacher.parameters(), lr=lr, weight_decay=weight_decay)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * s / steps)))
    history = []
    it = iter(batches)
    for step in range(steps):
        try:
            view_a, view_b, cats = next(it)
        except StopIteration:
            raise ValueError(f'batches ran out after {step} of {steps} steps') from None
        loss = teacher_loss(teacher, view_a.to(device), view_b.to(device), cats.to(device))
        opt.zero_grad(set_to_none=True)
        loss.total.backward()
        nn.utils.clip_grad_norm_(teacher.parameters(), 5.0)
        opt.step()
        sched.step()
        terms = dict(loss.terms, loss=float(loss.total.detach()), lr=sched.get_last_lr()[0])
        history.append(terms)
        if on_step is not None:
            on_step(step, terms)
    freeze(teacher)
    return history


def freeze(teacher: TeacherEncoder) -> TeacherEncoder:
    """Put the teacher in eval mode with gradients off; returns it."""
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def save_teacher(path: str | Path, teacher: TeacherEncoder,
                 extra_meta: Optional[dict] = None) -> Path:
    """Write teacher weights + embedded JSON config as safetensors (atomically)."""
    meta = {'teacher_config': json.dumps(dataclasses.asdict(teacher.cfg))}
    meta.update({k: str(v) for k, v in (extra_meta or {}).items()})
    return write_safetensors(path, teacher.state_dict(), TEACHER_KIND, meta)


def load_teacher(path: str | Path | None = None, device: str | torch.device = 'cpu',
                 expected_dim: Optional[int] = None) -> TeacherEncoder:
    """Load a frozen teacher.

    Args:
        path: safetensors file; None or '' loads the shipped DEFAULT_TEACHER.
        device: where to put it.
        expected_dim: refuse a teacher whose embedding width differs (model.teacher_dim).

    Raises:
        WeightsError: missing/corrupt file, wrong kind, bad config, mismatched width,
            missing/unexpected keys or shapes.
    """
    path = Path(path) if path else DEFAULT_TEACHER
    tensors, meta = read_safetensors(path, TEACHER_KIND)
    try:
        cfg = TeacherConfig(**json.loads(meta['teacher_config']))
    except (KeyError, TypeError, ValueError) as err:
        raise WeightsError(f'{path}: teacher config is missing or invalid ({err}); '
                           'was it written by a newer cleanpose?') from None
    if expected_dim is not None and cfg.dim != expected_dim:
        raise WeightsError(f'{path}: teacher embedding width {cfg.dim} does not match '
                           f'model.teacher_dim={expected_dim}; set model.teacher_dim={cfg.dim} '
                           'or train a matching teacher')
    teacher = TeacherEncoder(cfg)
    load_state_strict(teacher, tensors, path)
    return freeze(teacher.to(device))
