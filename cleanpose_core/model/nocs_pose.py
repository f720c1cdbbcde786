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

"""Pose from dense NOCS correspondences.

The dense NOCS head predicts, for every observed point p_i (camera frame), its
canonical coordinate n_i; a similarity fit p_i ≈ s R n_i + t then gives the
rotation, the box centre t (the NOCS origin) and the scale s (the box diagonal,
because NOCS coordinates have unit diagonal). This is the NOCS method's pose
estimator (Wang et al., CVPR 2019), batched and with a trimmed refit instead of
RANSAC: a first fit on all points, then refits on the points whose residual is at
most `trim` times the median residual.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cleanpose_core.geometry.align import Similarity, umeyama

__all__ = ['fit_nocs_pose']


def fit_nocs_pose(nocs: Tensor, points: Tensor, trim: float = 2.0,
                  refits: int = 2) -> Similarity:
    """Robust batched similarity fit points ≈ s R nocs + t.

    Args:
        nocs: (B, N, 3) predicted canonical coordinates.
        points: (B, N, 3) the observed points, camera frame, metres.
        trim: points with a residual above trim x the median residual are dropped
            before each refit.
        refits: number of trimmed refits after the first fit.

    Returns:
        Similarity with s (B,), R (B, 3, 3), t (B, 3). Where a fit degenerates
        (non-finite output, s <= 0) s is 0, which callers treat as "no fit".
    """
    weights = torch.ones(points.shape[:-1], dtype=points.dtype, device=points.device)
    sim = umeyama(nocs, points, weights)
    for _ in range(refits):
        pred = sim.s[:, None, None] * (nocs @ sim.R.transpose(1, 2)) + sim.t[:, None]
        resid = (pred - points).norm(dim=-1)
        median = resid.median(dim=-1, keepdim=True).values
        weights = (resid <= trim * median + 1e-9).to(points.dtype)
        sim = umeyama(nocs, points, weights)
    ok = torch.isfinite(sim.s) & (sim.s > 0) & torch.isfinite(sim.R).all(dim=(1, 2)) \
        & torch.isfinite(sim.t).all(dim=1)
    return Similarity(torch.where(ok, sim.s, torch.zeros_like(sim.s)),
                      torch.where(ok[:, None, None], sim.R, torch.eye(3).to(sim.R)),
                      torch.where(ok[:, None], sim.t, torch.zeros_like(sim.t)))
