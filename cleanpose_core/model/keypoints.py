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

"""Instance-adaptive keypoint detector and geometric keypoint aggregation (AG-Pose)."""

from __future__ import annotations

from dataclasses import dataclass
import math

import torch
from torch import nn, Tensor
import torch.nn.functional as F

from cleanpose_core.model.encoders import AttentionBlock, gather_rows, knn_indices, MLP

__all__ = ['Keypoints', 'KeypointDetector', 'GeometricAggregation']


@dataclass(frozen=True)
class Keypoints:
    """Detected keypoints of B instances.

    Attributes:
        xyz: (B, K, 3) positions in the centred, scale-normalised point frame.
        feats: (B, K, D) features.
        heatmap: (B, K, N) softmax weights over the input points (rows sum to 1).
    """

    xyz: Tensor
    feats: Tensor
    heatmap: Tensor


class KeypointDetector(nn.Module):
    """K learnable queries cross-attend to the points; cosine heat maps locate them.

    Each keypoint is the heat-map-weighted average of the points (and of their
    features); the heat map is a softmax over the cosine similarity between the
    instance-adapted query and each point feature, divided by a learned temperature.
    """

    def __init__(self, num_keypoints: int, dim: int, heads: int, layers: int = 1) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.randn(num_keypoints, dim))
        self.blocks = nn.ModuleList(AttentionBlock(dim, heads) for _ in range(layers))
        self.point_proj = nn.Linear(dim, dim)
        self.query_proj = nn.Linear(dim, dim)
        self.log_temperature = nn.Parameter(torch.tensor(math.log(0.2)))

    def forward(self, xyz: Tensor, feats: Tensor) -> Keypoints:
        """Detect keypoints.

        Args:
            xyz: (B, N, 3) normalised points.
            feats: (B, N, D) per-point features.

        Returns:
            Keypoints with xyz (B, K, 3), feats (B, K, D), heatmap (B, K, N).
        """
        q = self.queries[None].expand(xyz.shape[0], -1, -1)
        for block in self.blocks:
            q = block(q, feats)
        sim = torch.einsum('bkd,bnd->bkn', F.normalize(self.query_proj(q), dim=-1),
                           F.normalize(self.point_proj(feats), dim=-1))
        # The floor keeps heat maps from turning one-hot: a saturated softmax passes no
        # gradient, and keypoints that snapped onto one point could not separate.
        temperature = self.log_temperature.exp().clamp(0.1, 10.0)
        heatmap = torch.softmax(sim / temperature, dim=-1)
        return Keypoints(xyz=heatmap @ xyz, feats=heatmap @ feats, heatmap=heatmap)


class GeometricAggregation(nn.Module):
    """Each keypoint pools its k nearest points with relative-position encodings.

    Then the keypoints exchange context through self-attention.
    """

    def __init__(self, dim: int, knn: int, heads: int) -> None:
        super().__init__()
        self.knn = knn
        self.pos = MLP([3, dim // 2, dim])
        self.local = MLP([dim * 2, dim, dim], last_act=True)
        self.out = nn.Linear(dim, dim)
        self.context = AttentionBlock(dim, heads, cross=False)

    def forward(self, kp: Keypoints, xyz: Tensor, feats: Tensor) -> Tensor:
        """Aggregate local geometry into the keypoint features.

        Args:
            kp: detected keypoints.
            xyz: (B, N, 3) normalised points.
            feats: (B, N, D) per-point features.

        Returns:
            (B, K, D) keypoint features.
        """
        k = min(self.knn, xyz.shape[1])
        idx = knn_indices(kp.xyz, xyz, k)                          # (B, K, k)
        rel = gather_rows(xyz, idx) - kp.xyz[:, :, None]           # (B, K, k, 3)
        local = self.local(torch.cat([gather_rows(feats, idx), self.pos(rel)], dim=-1))
        x = kp.feats + self.out(local.amax(dim=2))
        return self.context(x)
