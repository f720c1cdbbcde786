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

"""Tiny configs and synthetic batches for the model tests."""

from __future__ import annotations

import dataclasses

import torch

from cleanpose_core.batch import PoseInput, PoseTarget
from cleanpose_core.config import ModelConfig
from cleanpose_core.geometry.transforms import random_rotations
from cleanpose_core.model.teacher import TeacherConfig, TeacherEncoder

TINY = ModelConfig(name='tiny', num_points=64, crop_size=16, num_keypoints=6, dim=32,
                   dict_size=6, dict_sample=3, nocs_bins=8, knn=8, teacher_dim=32,
                   attn_heads=4, recon_points=2)
TINY_TEACHER = TeacherConfig(dim=32, width=16, num_points=64)


def tiny_config(**changes) -> ModelConfig:
    """The tiny config with some fields changed."""
    return dataclasses.replace(TINY, **changes)


def tiny_teacher(seed: int = 0) -> TeacherEncoder:
    """An untrained tiny teacher (seeded)."""
    torch.manual_seed(seed)
    return TeacherEncoder(TINY_TEACHER)


def box_surface(sizes: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """Points on boxes with extents sizes (B, 3) and a knob at one side -> (B, n, 3)."""
    b = sizes.shape[0]
    pts = torch.rand(b, n, 3, generator=generator) - 0.5
    face = torch.randint(0, 3, (b, n), generator=generator)
    side = torch.randint(0, 2, (b, n), generator=generator).float() - 0.5
    pts.scatter_(2, face[..., None], side[..., None])
    pts = pts * sizes[:, None]
    # A knob near one corner breaks the box's symmetries, so the pose is unique.
    knob = torch.randn(b, n // 4, 3, generator=generator)
    knob = 0.06 * knob / knob.norm(dim=-1, keepdim=True) \
        + sizes[:, None] * torch.tensor([0.5, 0.3, -0.2])
    pts[:, :n // 4] = knob
    return pts


def make_batch(batch: int, cfg: ModelConfig = TINY, seed: int = 0,
               category_ids: torch.Tensor | None = None) -> tuple[PoseInput, PoseTarget]:
    """Consistent synthetic instances: box-shaped objects seen in full, posed at random."""
    g = torch.Generator().manual_seed(seed)
    n, s = cfg.num_points, cfg.crop_size
    if category_ids is None:
        category_ids = torch.randint(1, 7, (batch,), generator=g)
    sizes = torch.nn.functional.normalize(torch.rand(batch, 3, generator=g) + 0.3, dim=-1)
    nocs = box_surface(sizes, n, g)
    model_points = box_surface(sizes, 32, g)
    R = random_rotations(batch, generator=g)
    scales = 0.1 + 0.2 * torch.rand(batch, generator=g)
    t = torch.tensor([0.0, 0.0, 0.8]) + 0.1 * torch.randn(batch, 3, generator=g)
    points = scales[:, None, None] * nocs @ R.transpose(1, 2) + t[:, None]
    inp = PoseInput(points=points, rgb=torch.rand(batch, 3, s, s, generator=g),
                    pixel_index=torch.randint(0, s * s, (batch, n), generator=g),
                    category_ids=category_ids.long())
    symmetric = torch.isin(category_ids, torch.tensor([1, 2, 4]))
    target = PoseTarget(R_cam_obj=R, t_cam_obj=t, scales=scales, sizes=sizes, nocs=nocs,
                        model_points=model_points, symmetric=symmetric)
    return inp, target
