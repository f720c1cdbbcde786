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


"""What CleanPoseNet returns: the reported poses and everything one forward pass computes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from torch import Tensor

from cleanpose_core.model.distill import DistillOutput

__all__ = ['PoseOutput', 'ForwardOutput']


@dataclass(frozen=True)
class PoseOutput:
    """Poses of B instances (camera optical frame, metres).

    Attributes:
        R_cam_obj: (B, 3, 3) rotation object -> camera.
        t_cam_obj: (B, 3) object centre, metres.
        scales: (B,) metric bounding-box diagonal, metres.
        sizes: (B, 3) normalised extents, unit diagonal.
        keypoints_cam: (B, K, 3) keypoints, camera frame, metres.
        keypoint_nocs: (B, K, 3) predicted canonical coordinates of the keypoints.
        reconstruction_nocs: (B, K*P, 3) reconstructed complete shape, NOCS units.
        fit_residual: (B,) how well the observed points fit the predicted canonical
            shape: the median distance between each point and its dense-NOCS fit,
            divided by scales (inf where the fit degenerated); None without the dense
            NOCS head. Low for a confident pose; the pipeline folds it into the score.
    """

    R_cam_obj: Tensor
    t_cam_obj: Tensor
    scales: Tensor
    sizes: Tensor
    keypoints_cam: Tensor
    keypoint_nocs: Tensor
    reconstruction_nocs: Tensor
    fit_residual: Optional[Tensor] = None

    def __len__(self) -> int:
        return int(self.R_cam_obj.shape[0])


@dataclass(frozen=True)
class ForwardOutput:
    """Everything one forward pass computes (training uses all of it).

    Attributes:
        points_norm: (B, N, 3) centred points divided by radius.
        centroid: (B, 3) mean of the input points, metres.
        radius: (B,) RMS radius of the input points, metres.
        keypoints_norm: (B, K, 3) keypoints in the normalised frame.
        keypoints_cam: (B, K, 3) keypoints in the camera frame, metres.
        heatmap: (B, K, N) keypoint heat maps.
        nocs_logits: (B, K, 3, bins) keypoint NOCS bin logits.
        keypoint_nocs: (B, K, 3) expected keypoint NOCS.
        reconstruction_nocs: (B, K*P, 3) reconstructed shape.
        R_cam_obj, t_cam_obj, scales, sizes: the pose, as in PoseOutput.
        pooled_keypoint: (B, D) mean keypoint feature before the front door
            (what the confounder dictionary stores).
        point_nocs: (B, N, 3) predicted NOCS of every input point (model.dense_nocs).
        distill: student embedding in teacher space (training with distillation only).
    """

    points_norm: Tensor
    centroid: Tensor
    radius: Tensor
    keypoints_norm: Tensor
    keypoints_cam: Tensor
    heatmap: Tensor
    nocs_logits: Tensor
    keypoint_nocs: Tensor
    reconstruction_nocs: Tensor
    R_cam_obj: Tensor
    t_cam_obj: Tensor
    scales: Tensor
    sizes: Tensor
    pooled_keypoint: Tensor
    point_nocs: Optional[Tensor]
    distill: Optional[DistillOutput]
