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

"""Training losses of CleanPoseNet; pure tensor functions plus one combiner.

Distances on observed points are measured in the network's normalised point frame
(centred, divided by the RMS radius r of the observed points), so that the losses
do not depend on object size; translation and scale errors are likewise divided by r.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, TYPE_CHECKING

import torch
from torch import Tensor
import torch.nn.functional as F

from cleanpose_core.batch import PoseTarget
from cleanpose_core.config import LossWeights
from cleanpose_core.geometry.symmetry import view_canonical_rotation
from cleanpose_core.model.distill import distillation_loss

if TYPE_CHECKING:  # pragma: no cover
    from cleanpose_core.model.outputs import ForwardOutput

__all__ = ['LossOutput', 'LossWeights', 'chamfer_distance', 'nearest_distance',
           'keypoint_diversity', 'rotation_loss', 'soft_bin_targets', 'compute_losses']


@dataclass(frozen=True)
class LossOutput:
    """Training loss: total (scalar tensor with grad) and float terms for logging."""

    total: Tensor
    terms: dict


def nearest_distance(a: Tensor, b: Tensor) -> Tensor:
    """Mean distance from each point of a (B, P, 3) to its nearest point of b (B, Q, 3) -> (B,)."""
    return torch.cdist(a, b).amin(dim=-1).mean(dim=-1)


def chamfer_distance(a: Tensor, b: Tensor) -> Tensor:
    """Symmetric Chamfer distance (mean of both one-sided mean distances), (B,)."""
    dist = torch.cdist(a, b)
    return 0.5 * (dist.amin(dim=-1).mean(dim=-1) + dist.amin(dim=-2).mean(dim=-1))


def keypoint_diversity(kp: Tensor, margin: float) -> Tensor:
    """Penalty for keypoints closer than margin to others, (B,).

    Per keypoint the sum over the other keypoints of relu(margin - distance), then
    the mean over keypoints (a sum, not a mean over pairs, so that one collapsed
    pair is not diluted by K^2).
    """
    k = kp.shape[1]
    if k < 2:
        return kp.new_zeros(kp.shape[0])
    diff = kp[:, :, None] - kp[:, None]
    dist = (diff.square().sum(-1) + 1e-12).sqrt()
    off = ~torch.eye(k, dtype=torch.bool, device=kp.device)
    return (F.relu(margin - dist) * off).sum(-1).mean(-1)


def rotation_loss(R_pred: Tensor, R_gt: Tensor, symmetric: Tensor) -> Tensor:
    """L1 rotation error; symmetric instances compare only the Y (symmetry) axis, (B,).

    Args:
        R_pred: (B, 3, 3) predicted object -> camera rotation.
        R_gt: (B, 3, 3) ground truth.
        symmetric: (B,) bool.
    """
    full = (R_pred - R_gt).abs().mean(dim=(-1, -2))
    y_axis = (R_pred[..., 1] - R_gt[..., 1]).abs().mean(dim=-1)
    return torch.where(symmetric, y_axis, full)


def soft_bin_targets(coords: Tensor, bins: int) -> Tensor:
    """Two-hot bin targets (linear interpolation between the two nearest bin centres).

    Args:
        coords: (...,) values in [-0.5, 0.5] (clamped).
        bins: number of bins.

    Returns:
        (..., bins) probabilities.
    """
    u = ((coords.clamp(-0.5, 0.5) + 0.5) * bins - 0.5).clamp(0, bins - 1)
    lo = u.floor().long().clamp(max=bins - 1)
    hi = (lo + 1).clamp(max=bins - 1)
    w_hi = u - lo.to(u.dtype)
    out = torch.zeros(*coords.shape, bins, dtype=coords.dtype, device=coords.device)
    out.scatter_add_(-1, lo[..., None], (1 - w_hi)[..., None])
    out.scatter_add_(-1, hi[..., None], w_hi[..., None])
    return out


def compute_losses(out: 'ForwardOutput', target: PoseTarget,
                   teacher_embedding: Optional[Tensor] = None,
                   weights: LossWeights = LossWeights()) -> LossOutput:
    """Combine every loss term of one training batch.

    Symmetric instances get their ground-truth rotation turned about Y into the
    view-canonical frame first (the camera in the object's YZ plane, see
    view_canonical_rotation), and the NOCS and model points targets follow that
    turn, so all targets agree with each other and can be read off the view.

    Args:
        out: the network's forward output for the (augmented) batch.
        target: ground truth consistent with that batch.
        teacher_embedding: (B, T) frozen teacher embedding, needed when out.distill is set.
        weights: term weights.
    """
    R_gt = target.R_cam_obj.to(out.R_cam_obj.dtype)
    sym = target.symmetric.bool()
    R_gt = view_canonical_rotation(R_gt, target.t_cam_obj.to(R_gt.dtype), sym)
    # delta maps the dataset's canonical frame to the turned one (identity if not symmetric).
    delta = R_gt.transpose(1, 2) @ target.R_cam_obj.to(R_gt.dtype)
    radius = out.radius
    terms: dict[str, Tensor] = {}
    terms['rot'] = rotation_loss(out.R_cam_obj, R_gt, sym).mean()
    terms['trans'] = ((out.t_cam_obj - target.t_cam_obj).abs().sum(-1) / radius).mean()
    terms['scale'] = ((out.scales - target.scales).abs() / radius).mean()
    terms['size'] = (out.sizes - target.sizes).abs().sum(-1).mean()

    kp_cam = out.keypoints_cam.detach()
    kp_nocs_gt = ((kp_cam - target.t_cam_obj[:, None]) @ R_gt) / target.scales[:, None, None]
    terms['kp_nocs'] = (out.keypoint_nocs - kp_nocs_gt).abs().sum(-1).mean()
    log_prob = torch.log_softmax(out.nocs_logits, dim=-1)
    soft = soft_bin_targets(kp_nocs_gt, out.nocs_logits.shape[-1])
    terms['kp_nocs_ce'] = -(soft * log_prob).sum(-1).mean()
    terms['kp_surface'] = nearest_distance(out.keypoints_norm, out.points_norm).mean()
    terms['kp_diversity'] = keypoint_diversity(out.keypoints_norm,
                                               weights.diversity_margin).mean()
    if out.point_nocs is not None:
        points_cam = out.points_norm * radius[:, None, None] + out.centroid[:, None]
        nocs_gt = ((points_cam - target.t_cam_obj[:, None]) @ R_gt) / target.scales[:, None, None]
        terms['point_nocs'] = F.smooth_l1_loss(out.point_nocs, nocs_gt.clamp(-0.5, 0.5),
                                               beta=0.02, reduction='none').sum(-1).mean()
    model_points = target.model_points.to(R_gt.dtype) @ delta.transpose(1, 2)
    terms['recon'] = chamfer_distance(out.reconstruction_nocs, model_points).mean()
    if out.distill is not None:
        if teacher_embedding is None:
            raise ValueError('teacher_embedding is required when the forward output has '
                             'a distillation embedding')
        terms['residual'] = out.distill.residual.square().sum(-1).mean()
        terms['distill'] = distillation_loss(out.distill.embedding, teacher_embedding).mean()
    total = sum(getattr(weights, name) * value for name, value in terms.items())
    logged = {name: float(value.detach()) for name, value in terms.items()}
    logged['total'] = float(total.detach())
    return LossOutput(total=total, terms=logged)
