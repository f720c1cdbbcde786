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

"""Per-category output heads: keypoint NOCS, shape reconstruction and pose/size."""

from __future__ import annotations

from dataclasses import dataclass
import math

import torch
from torch import nn, Tensor
import torch.nn.functional as F

from cleanpose_core.categories import NUM_CATEGORIES
from cleanpose_core.geometry.transforms import rotation_6d_to_matrix
from cleanpose_core.model.encoders import AttentionBlock, MLP

__all__ = ['NocsHead', 'PointNocsHead', 'ShapeHead', 'PoseHead', 'PoseParams', 'bin_centres']

# Offset of the raw scale output: the bounding-box diagonal of an object is
# about this many times the RMS radius of its observed points.
_LOG_SCALE_PRIOR = math.log(2.5)


def bin_centres(bins: int, device=None, dtype=None) -> Tensor:
    """Centres of `bins` equal bins over the NOCS range [-0.5, 0.5], shape (bins,)."""
    return (torch.arange(bins, device=device, dtype=dtype) + 0.5) / bins - 0.5


def _select_category(out: Tensor, category_index: Tensor) -> Tensor:
    """Pick each instance's category slice: out (B, ..., C, F) -> (B, ..., F)."""
    shape = out.shape
    idx = category_index.view(-1, *([1] * (out.dim() - 1))).expand(*shape[:-2], 1, shape[-1])
    return out.gather(-2, idx).squeeze(-2)


class NocsHead(nn.Module):
    """Keypoint NOCS coordinates as a classification over bins per axis and category."""

    def __init__(self, dim: int, bins: int) -> None:
        super().__init__()
        self.bins = bins
        self.mlp = MLP([dim, dim, NUM_CATEGORIES * 3 * bins])

    def forward(self, feats: Tensor, category_index: Tensor) -> tuple[Tensor, Tensor]:
        """Predict keypoint NOCS.

        Args:
            feats: (B, K, D) keypoint features.
            category_index: (B,) long, 0-based.

        Returns:
            (logits (B, K, 3, bins), coords (B, K, 3) expectation in [-0.5, 0.5]).
        """
        b, k, _ = feats.shape
        out = self.mlp(feats).view(b, k, NUM_CATEGORIES, 3 * self.bins)
        logits = _select_category(out, category_index).view(b, k, 3, self.bins)
        centres = bin_centres(self.bins, feats.device, feats.dtype)
        return logits, torch.softmax(logits, dim=-1) @ centres


class PointNocsHead(nn.Module):
    """Dense NOCS coordinates of every observed point, per category.

    Each point's feature queries the keypoint features (cross-attention, both with
    their positions encoded), so a point knows which part of the object it lies on;
    an MLP then regresses its canonical coordinate. With the points in the camera
    frame, a similarity fit (Umeyama) of these correspondences gives R, t and the
    scale, the way the NOCS method estimates poses.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.pos = MLP([3, dim, dim])
        self.attend = AttentionBlock(dim, heads, cross=True)
        self.mlp = MLP([2 * dim, dim, NUM_CATEGORIES * 3])

    def forward(self, point_feats: Tensor, xyz: Tensor, kp_feats: Tensor, kp_xyz: Tensor,
                category_index: Tensor) -> Tensor:
        """Predict point NOCS.

        Args:
            point_feats: (B, N, D) per-point features.
            xyz: (B, N, 3) points, normalised point frame.
            kp_feats: (B, K, D) keypoint features.
            kp_xyz: (B, K, 3) keypoints, normalised point frame.
            category_index: (B,) long, 0-based.

        Returns:
            (B, N, 3) canonical coordinates in [-0.5, 0.5] (tanh-bounded).
        """
        b, n, _ = point_feats.shape
        query = point_feats + self.pos(xyz)
        context = self.attend(query, kp_feats + self.pos(kp_xyz))
        out = self.mlp(torch.cat([point_feats, context], dim=-1))
        out = _select_category(out.view(b, n, NUM_CATEGORIES, 3), category_index)
        return 0.5 * torch.tanh(out)


class ShapeHead(nn.Module):
    """Reconstruct the complete canonical shape as a few points around each keypoint."""

    def __init__(self, dim: int, points_per_keypoint: int) -> None:
        super().__init__()
        self.points = points_per_keypoint
        self.mlp = MLP([dim + 3, dim, NUM_CATEGORIES * points_per_keypoint * 3])

    def forward(self, feats: Tensor, kp_nocs: Tensor, category_index: Tensor) -> Tensor:
        """Predict shape points.

        Args:
            feats: (B, K, D) keypoint features.
            kp_nocs: (B, K, 3) predicted keypoint NOCS.
            category_index: (B,) long, 0-based.

        Returns:
            (B, K * P, 3) canonical (NOCS) points.
        """
        b, k, _ = feats.shape
        out = self.mlp(torch.cat([feats, kp_nocs], dim=-1))
        out = _select_category(out.view(b, k, NUM_CATEGORIES, -1), category_index)
        pts = kp_nocs[:, :, None] + 0.1 * out.view(b, k, self.points, 3)
        return pts.reshape(b, k * self.points, 3)


@dataclass(frozen=True)
class PoseParams:
    """Pose/size head output in the normalised point frame.

    Attributes:
        R_cam_obj: (B, 3, 3) rotation object -> camera.
        t_offset: (B, 3) object centre minus point centroid, in units of the radius.
        log_scale: (B,) log of (metric diagonal / radius).
        sizes: (B, 3) positive normalised extents, unit diagonal.
    """

    R_cam_obj: Tensor
    t_offset: Tensor
    log_scale: Tensor
    sizes: Tensor


class PoseHead(nn.Module):
    """Rotation (6D, Zhou et al. 2019), translation, scale and size from keypoints."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.per_kp = MLP([dim + 6, dim, dim], last_act=True)
        self.out = MLP([dim * 2, dim, NUM_CATEGORIES * 13])
        with torch.no_grad():
            last = self.out[-1]
            last.weight.mul_(0.1)
            bias = last.bias.view(NUM_CATEGORIES, 13)
            bias.zero_()
            bias[:, :6] = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])

    def forward(self, feats: Tensor, kp_xyz: Tensor, kp_nocs: Tensor,
                category_index: Tensor) -> PoseParams:
        """Predict the pose.

        Args:
            feats: (B, K, D) keypoint features.
            kp_xyz: (B, K, 3) keypoints, normalised point frame.
            kp_nocs: (B, K, 3) predicted keypoint NOCS.
            category_index: (B,) long, 0-based.
        """
        x = self.per_kp(torch.cat([feats, kp_xyz, kp_nocs], dim=-1))
        x = torch.cat([x.amax(dim=1), x.mean(dim=1)], dim=-1)
        out = _select_category(self.out(x).view(-1, NUM_CATEGORIES, 13), category_index)
        sizes = F.softplus(out[:, 9:12]) + 1e-3
        return PoseParams(R_cam_obj=rotation_6d_to_matrix(out[:, :6]),
                          t_offset=out[:, 6:9],
                          log_scale=out[:, 12] + _LOG_SCALE_PRIOR,
                          sizes=sizes / sizes.norm(dim=-1, keepdim=True))
