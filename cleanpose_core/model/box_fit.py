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

"""Grow regressed boxes toward the observed points that stick out of them.

Every observed point lies on the object's surface, so inside its true box. When a
regressed box leaves some of them outside, the box is too small or off-centre on that
side. ``grow_boxes`` moves each face of the box, in the box's own axes, a fraction of
the way out to the points beyond it (robust extremes: the 2nd and 98th percentiles of
the points along each axis, so stray edge pixels do not drag it); faces with no
points beyond them stay where they are. The far side of an object is never seen, so
the box is only grown, never shrunk, and the centre moves with the faces.

Measured on the validation split with ground-truth masks (model.box_grow, see the
README): 0.5 lifts mAP IoU75 by about 6 points and leaves the rotation and
translation metrics unchanged; 1.0 overshoots (depth noise and mask edges).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ['grow_boxes', 'EXTREME_QUANTILE']

EXTREME_QUANTILE = 0.02


def grow_boxes(R: Tensor, t: Tensor, extents: Tensor, points: Tensor,
               fraction: float) -> tuple[Tensor, Tensor]:
    """Move box faces a fraction of the way out to the observed points beyond them.

    Args:
        R: (B, 3, 3) rotations, object -> camera.
        t: (B, 3) box centres, camera frame, metres.
        extents: (B, 3) metric box extents along the object axes.
        points: (B, N, 3) observed points, camera frame, metres.
        fraction: 0 leaves the boxes as they are, 1 moves each face all the way out.

    Returns:
        (t, extents) of the grown boxes, same shapes and dtypes.

    Raises:
        ValueError: fraction outside [0, 1] or inconsistent batch sizes.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f'fraction must be in [0, 1]; got {fraction}')
    if not len(R) == len(t) == len(extents) == len(points):
        raise ValueError(f'batch sizes differ: R {len(R)}, t {len(t)}, '
                         f'extents {len(extents)}, points {len(points)}')
    if fraction == 0.0 or len(R) == 0 or points.shape[1] == 0:
        return t, extents
    local = (points - t[:, None]) @ R                     # (B, N, 3) in the box axes
    q = torch.tensor([EXTREME_QUANTILE, 1.0 - EXTREME_QUANTILE], dtype=local.dtype,
                     device=local.device)
    low, high = torch.quantile(local, q, dim=1)           # (B, 3) each
    half = extents / 2
    new_low = -half + fraction * torch.clamp(low + half, max=0.0)
    new_high = half + fraction * torch.clamp(high - half, min=0.0)
    centre = (new_low + new_high) / 2
    return t + (R @ centre[..., None])[..., 0], new_high - new_low
