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

"""Training-time point augmentation with exactly consistent pose targets.

A random similarity about the points' centroid c is applied to the observed
points, p' = s R_aug (p - c) + c + shift, and the ground truth is transformed the
same way (R' = R_aug R, t' = s R_aug (t - c) + c + shift, scale' = s scale), so
p' = scale' R' nocs + t' holds whenever p = scale R nocs + t did. NOCS
coordinates, sizes and model points are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
import math
from typing import Optional

import torch
from torch import Tensor

from cleanpose_core.batch import PoseTarget
from cleanpose_core.geometry.transforms import axis_angle_to_matrix

__all__ = ['Augmentation', 'sample_augmentation', 'augment_points', 'augment_target']


@dataclass(frozen=True)
class Augmentation:
    """One random similarity per instance.

    Attributes:
        R: (B, 3, 3) rotation about the centroid, camera frame.
        scale: (B,) isotropic scale.
        shift: (B, 3) metres.
        centre: (B, 3) centroid of the original points, metres.
    """

    R: Tensor
    scale: Tensor
    shift: Tensor
    centre: Tensor


def sample_augmentation(points: Tensor, max_angle_deg: float = 20.0, max_shift: float = 0.02,
                        scale_range: tuple[float, float] = (0.8, 1.2),
                        generator: Optional[torch.Generator] = None) -> Augmentation:
    """Draw a random rotation, shift and scale for each instance.

    Rotation: uniform axis, angle uniform in ±max_angle_deg; shift uniform in
    ±max_shift per axis; scale uniform in scale_range.

    Args:
        points: (B, N, 3) camera-frame points, metres.
        max_angle_deg: largest rotation angle, degrees.
        max_shift: largest shift per axis, metres.
        scale_range: (low, high) scale factors.
        generator: CPU generator (random numbers are drawn on the CPU, then moved).
    """
    b = points.shape[0]
    axis = torch.randn(b, 3, generator=generator, dtype=torch.float64)
    axis = axis / axis.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    angle = (torch.rand(b, 1, generator=generator, dtype=torch.float64) * 2 - 1) \
        * math.radians(max_angle_deg)
    shift = (torch.rand(b, 3, generator=generator, dtype=torch.float64) * 2 - 1) * max_shift
    low, high = scale_range
    scale = low + (high - low) * torch.rand(b, generator=generator, dtype=torch.float64)
    like = dict(device=points.device, dtype=points.dtype)
    return Augmentation(R=axis_angle_to_matrix(axis * angle).to(**like),
                        scale=scale.to(**like), shift=shift.to(**like),
                        centre=points.mean(dim=1))


def augment_points(points: Tensor, aug: Augmentation) -> Tensor:
    """Apply p' = s R (p - c) + c + shift to (B, N, 3) points."""
    rel = (points - aug.centre[:, None]) @ aug.R.transpose(1, 2)
    return aug.scale[:, None, None] * rel + aug.centre[:, None] + aug.shift[:, None]


def augment_target(target: PoseTarget, aug: Augmentation) -> PoseTarget:
    """Transform the pose targets consistently with augment_points."""
    t = aug.scale[:, None] * ((target.t_cam_obj - aug.centre)[:, None] @ aug.R.transpose(1, 2)
                              )[:, 0] + aug.centre + aug.shift
    return replace(target, R_cam_obj=aug.R @ target.R_cam_obj, t_cam_obj=t,
                   scales=target.scales * aug.scale)
