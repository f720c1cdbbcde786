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

"""What the data hands the model: one batch of object instances.

Shapes: B instances, N points per instance, S crop side in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from torch import Tensor

from cleanpose_core.geometry.checks import check_shapes

__all__ = ['PoseInput', 'PoseTarget']


@dataclass(frozen=True)
class PoseInput:
    """Network input for B object instances.

    Attributes:
        points: (B, N, 3) masked depth points in the camera optical frame, metres.
        rgb: (B, 3, S, S) colour crop around the instance, float in [0, 1].
        pixel_index: (B, N) long, index of each point's pixel in the flattened S*S crop.
        category_ids: (B,) long, NOCS class ids 1..6.
    """

    points: Tensor
    rgb: Tensor
    pixel_index: Tensor
    category_ids: Tensor

    def __post_init__(self) -> None:
        check_shapes(points=(self.points, ('B', 'N', 3)),
                     rgb=(self.rgb, ('B', 3, 'S', 'S')),
                     pixel_index=(self.pixel_index, ('B', 'N')),
                     category_ids=(self.category_ids, ('B',)))

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def to(self, device) -> 'PoseInput':
        """Return a copy with every tensor on device."""
        return replace(self, **{f.name: getattr(self, f.name).to(device) for f in fields(self)})


@dataclass(frozen=True)
class PoseTarget:
    """Ground truth for the instances of a PoseInput.

    Attributes:
        R_cam_obj: (B, 3, 3) rotation, object -> camera.
        t_cam_obj: (B, 3) translation, metres, camera frame.
        scales: (B,) metric bounding-box diagonal, metres.
        sizes: (B, 3) normalised extents (diagonal 1).
        nocs: (B, N, 3) canonical (NOCS) coordinate of each input point, in [-0.5, 0.5].
        model_points: (B, P, 3) points on the complete canonical shape (NOCS units);
            where no complete model is known, the observed nocs points.
        symmetric: (B,) bool, rotation defined only up to a turn about +Y.
    """

    R_cam_obj: Tensor
    t_cam_obj: Tensor
    scales: Tensor
    sizes: Tensor
    nocs: Tensor
    model_points: Tensor
    symmetric: Tensor

    def __post_init__(self) -> None:
        check_shapes(R_cam_obj=(self.R_cam_obj, ('B', 3, 3)),
                     t_cam_obj=(self.t_cam_obj, ('B', 3)),
                     scales=(self.scales, ('B',)),
                     sizes=(self.sizes, ('B', 3)),
                     nocs=(self.nocs, ('B', 'N', 3)),
                     model_points=(self.model_points, ('B', 'P', 3)),
                     symmetric=(self.symmetric, ('B',)))

    def __len__(self) -> int:
        return int(self.R_cam_obj.shape[0])

    def to(self, device) -> 'PoseTarget':
        """Return a copy with every tensor on device."""
        return replace(self, **{f.name: getattr(self, f.name).to(device) for f in fields(self)})
