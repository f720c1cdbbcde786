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

"""Rotational symmetry about the canonical +Y axis (bottle, bowl, can; mugs without handle).

For these objects the rotation is defined only up to a turn about the object's
Y axis, so errors compare Y axes and labels can be turned to match a reference.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from cleanpose_core.categories import CATEGORIES, SYMMETRIC_CATEGORIES
from cleanpose_core.geometry.checks import check_shapes
from cleanpose_core.geometry.transforms import rotation_about_y, rotation_angle_deg

__all__ = [
    'MUG_ID', 'SYMMETRIC_IDS', 'best_y_turn', 'canonicalize_symmetric_rotation', 'is_symmetric',
    'symmetric_rotation_error_deg', 'view_canonical_rotation',
]

SYMMETRIC_IDS = tuple(sorted(CATEGORIES.index(c) + 1 for c in SYMMETRIC_CATEGORIES))
MUG_ID = CATEGORIES.index('mug') + 1


def is_symmetric(category_ids: Tensor, handle_visible: Optional[Tensor] = None) -> Tensor:
    """Tell which instances are symmetric about their Y axis.

    Args:
        category_ids: (...,) int NOCS class ids 1..6 (other ids are not symmetric).
        handle_visible: optional (...,) bool or int (nonzero = visible) for mugs;
            None treats every mug handle as visible (mugs not symmetric).

    Returns:
        (...,) bool: bottle, bowl and can, and mugs whose handle is not visible.

    Raises:
        ValueError: if the shapes differ.
    """
    sym = torch.zeros(category_ids.shape, dtype=torch.bool, device=category_ids.device)
    for cid in SYMMETRIC_IDS:
        sym |= category_ids == cid
    if handle_visible is not None:
        if tuple(handle_visible.shape) != tuple(category_ids.shape):
            raise ValueError(f'handle_visible must have shape {tuple(category_ids.shape)} '
                             f'(like category_ids); got {tuple(handle_visible.shape)}')
        hidden = handle_visible.to(category_ids.device) == 0
        sym |= (category_ids == MUG_ID) & hidden
    return sym


def _y_axis_angle_deg(R_a: Tensor, R_b: Tensor) -> Tensor:
    y_a, y_b = R_a[..., :, 1], R_b[..., :, 1]
    cos = (y_a * y_b).sum(-1)
    sin = torch.linalg.cross(y_a, y_b, dim=-1).norm(dim=-1)
    return torch.rad2deg(torch.atan2(sin, cos))


def symmetric_rotation_error_deg(R_pred: Tensor, R_gt: Tensor, symmetric: Tensor) -> Tensor:
    """Return rotation errors in degrees that ignore turns about Y where symmetric.

    As in the NOCS benchmark: for symmetric instances the angle between the
    object Y axes (R[:, 1]), else the geodesic angle between the rotations.

    Args:
        R_pred: (..., 3, 3) predicted rotations, object->camera.
        R_gt: (..., 3, 3) ground-truth rotations, object->camera.
        symmetric: (...,) bool.

    Returns:
        (...,) degrees in [0, 180].

    Raises:
        ValueError: if the shapes disagree.
    """
    check_shapes(R_pred=(R_pred, ('...', 3, 3)), R_gt=(R_gt, ('...', 3, 3)))
    full = rotation_angle_deg(R_pred, R_gt)
    return torch.where(symmetric.to(full.device), _y_axis_angle_deg(R_pred, R_gt), full)


def best_y_turn(R: Tensor, R_ref: Tensor) -> Tensor:
    """Return the angle theta (radians) for which R @ Ry(theta) is closest to R_ref.

    Closest in the geodesic (equivalently Frobenius) sense: theta maximises
    trace(R_ref^T R Ry(theta)) = c (M00 + M22) + s (M20 - M02) + M11 with M = R_ref^T R.

    Args:
        R: (..., 3, 3) rotations.
        R_ref: (..., 3, 3) reference rotations.

    Returns:
        (...,) angles in (-pi, pi].
    """
    check_shapes(R=(R, ('...', 3, 3)), R_ref=(R_ref, ('...', 3, 3)))
    M = R_ref.transpose(-1, -2) @ R
    return torch.atan2(M[..., 2, 0] - M[..., 0, 2], M[..., 0, 0] + M[..., 2, 2])


def canonicalize_symmetric_rotation(R_gt: Tensor, R_ref: Tensor,
                                    symmetric: Optional[Tensor] = None) -> Tensor:
    """Turn symmetric ground-truth rotations about their Y axis to best match a reference.

    Used for training labels: of all rotations equivalent to R_gt under the
    symmetry, return the one nearest to R_ref (e.g. the prediction). The Y axis
    R_gt[:, 1] is unchanged.

    Args:
        R_gt: (..., 3, 3) ground-truth rotations, object->camera.
        R_ref: (..., 3, 3) reference rotations.
        symmetric: optional (...,) bool; where False R_gt is returned unchanged.
            None means all are symmetric.

    Returns:
        (..., 3, 3) rotations R_gt @ Ry(theta*).

    Raises:
        ValueError: if the shapes disagree.
    """
    theta = best_y_turn(R_gt, R_ref)
    turned = R_gt @ rotation_about_y(theta)
    if symmetric is None:
        return turned
    return torch.where(symmetric.to(R_gt.device)[..., None, None], turned, R_gt)


def view_canonical_rotation(R_cam_obj: Tensor, t_cam_obj: Tensor, symmetric: Tensor) -> Tensor:
    """Turn symmetric objects about Y so the camera lies in their YZ plane, on the +Z side.

    A symmetric object's rotation about Y is arbitrary; regressing NOCS needs one
    choice that can be read off the observation. This one depends only on where
    the camera is: in the turned frame the camera centre has x = 0 and z >= 0.
    (canonicalize_symmetric_rotation instead turns toward a reference rotation.)

    Args:
        R_cam_obj: (B, 3, 3) ground-truth rotations, object -> camera.
        t_cam_obj: (B, 3) object centres, camera frame.
        symmetric: (B,) bool; other rows are returned unchanged.

    Returns:
        (B, 3, 3) rotations R' = R Ry(phi) with R' n' = R n for n' = Ry(phi)^T n.
    """
    cam_in_obj = -(R_cam_obj.transpose(1, 2) @ t_cam_obj[..., None])[..., 0]
    phi = torch.atan2(cam_in_obj[:, 0], cam_in_obj[:, 2])
    turned = R_cam_obj @ rotation_about_y(phi)
    return torch.where(symmetric[:, None, None].bool(), turned, R_cam_obj)
