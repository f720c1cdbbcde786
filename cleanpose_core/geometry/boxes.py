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

"""Oriented 3D boxes: corners and the exact intersection-over-union of two boxes.

A box is a pose (R object->camera, t metres), a scale s (metric diagonal of the
box, metres) and a normalised size (extents with diagonal 1); its metric
extents are s * size. Corners follow the NOCS ``get_3d_bbox`` order.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull, QhullError
import torch
from torch import Tensor

from cleanpose_core.geometry.box_layout import BOX_CORNER_SIGNS, BOX_EDGES
from cleanpose_core.geometry.checks import check_shapes

__all__ = ['BOX_CORNER_SIGNS', 'BOX_EDGES', 'box_corners', 'box_iou_3d', 'oriented_box_iou']

_SIGNS = np.array(BOX_CORNER_SIGNS, dtype=np.float64)
_EDGES = np.array(BOX_EDGES, dtype=np.int64)


def box_corners(R: Tensor, t: Tensor, scale: Tensor, size: Tensor) -> Tensor:
    """Return the 8 corners of oriented boxes in the camera frame.

    Args:
        R: (..., 3, 3) rotation object->camera.
        t: (..., 3) box centre, camera frame, metres.
        scale: (...,) metric diagonal, metres.
        size: (..., 3) normalised extents (diagonal 1).

    Returns:
        (..., 8, 3) corners, camera frame, metres, in BOX_CORNER_SIGNS order.

    Raises:
        ValueError: if the shapes disagree.
    """
    check_shapes(R=(R, ('...', 3, 3)), t=(t, ('...', 3)), size=(size, ('...', 3)))
    signs = torch.tensor(BOX_CORNER_SIGNS, dtype=R.dtype, device=R.device)
    half = (scale[..., None] * size)[..., None, :] / 2
    pts_obj = signs * half
    return pts_obj @ R.transpose(-1, -2) + t[..., None, :]


def _clip_edges(corners_a: np.ndarray, R_b: np.ndarray, t_b: np.ndarray,
                half_b: np.ndarray, eps: float) -> np.ndarray:
    """Clip the 12 edges of box a to box b (Liang-Barsky); return the clipped end points.

    eps (metres) only decides whether an edge touching b's boundary is kept; the
    clipped points themselves lie exactly on b's faces.
    """
    local = (corners_a - t_b) @ R_b  # corners of a in b's frame (row vectors)
    p0, p1 = local[_EDGES[:, 0]], local[_EDGES[:, 1]]
    d = p1 - p0
    lo = np.zeros(len(d))
    hi = np.ones(len(d))
    keep = np.ones(len(d), dtype=bool)
    for k in range(3):
        dk, pk, h = d[:, k], p0[:, k], half_b[k]
        par = np.abs(dk) < 1e-15
        keep &= ~(par & (np.abs(pk) > h + eps))
        with np.errstate(divide='ignore', invalid='ignore'):
            ta = (-h - pk) / dk
            tb = (h - pk) / dk
        t_in = np.where(par, 0.0, np.minimum(ta, tb))
        t_out = np.where(par, 1.0, np.maximum(ta, tb))
        lo = np.maximum(lo, t_in)
        hi = np.minimum(hi, t_out)
    keep &= lo <= hi + eps
    if not keep.any():
        return np.zeros((0, 3))
    a0, a1 = corners_a[_EDGES[keep, 0]], corners_a[_EDGES[keep, 1]]
    da = a1 - a0
    return np.concatenate((a0 + lo[keep, None] * da, a0 + hi[keep, None] * da))


def _nearest_rotation(R: np.ndarray) -> np.ndarray:
    """Project a (3, 3) near-rotation onto SO(3) (SVD, det +1)."""
    U, _, Vt = np.linalg.svd(R)
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
    return U @ D @ Vt


def oriented_box_iou(R_a: np.ndarray, t_a: np.ndarray, extents_a: np.ndarray,
                     R_b: np.ndarray, t_b: np.ndarray, extents_b: np.ndarray) -> float:
    """Return the exact IoU of two oriented boxes (numpy, one pair).

    The intersection of two boxes is a convex polytope whose vertices are the
    end points of each box's edges clipped to the other box; its volume is that
    of their convex hull. Boxes whose bounding spheres do not touch return 0
    without clipping.

    Args:
        R_a: (3, 3) rotation of box a (object->camera).
        t_a: (3,) centre of box a, metres.
        extents_a: (3,) metric side lengths of box a, metres, > 0.
        R_b: (3, 3) rotation of box b.
        t_b: (3,) centre of box b, metres.
        extents_b: (3,) metric side lengths of box b, metres, > 0.

    Returns:
        IoU in [0, 1].
    """
    R_a, t_a, e_a = (np.asarray(x, dtype=np.float64) for x in (R_a, t_a, extents_a))
    R_b, t_b, e_b = (np.asarray(x, dtype=np.float64) for x in (R_b, t_b, extents_b))
    vol_a, vol_b = float(np.prod(e_a)), float(np.prod(e_b))
    if vol_a <= 0 or vol_b <= 0:
        return 0.0
    half_a, half_b = e_a / 2, e_b / 2
    if np.linalg.norm(t_a - t_b) >= np.linalg.norm(half_a) + np.linalg.norm(half_b):
        return 0.0
    # Rotations read from float32 labels or network outputs are orthonormal only to
    # ~1e-7; clipping assumes exact rotations, so project them and keep a tolerance
    # above float32 precision (issue 2: identical float32 boxes must score 1).
    R_a, R_b = _nearest_rotation(R_a), _nearest_rotation(R_b)
    eps = 1e-6 * max(float(e_a.max()), float(e_b.max()))
    corners_a = (_SIGNS * half_a) @ R_a.T + t_a
    corners_b = (_SIGNS * half_b) @ R_b.T + t_b
    pts = np.concatenate((_clip_edges(corners_a, R_b, t_b, half_b, eps),
                          _clip_edges(corners_b, R_a, t_a, half_a, eps)))
    if len(pts) < 4:
        return 0.0
    try:
        inter = ConvexHull(pts).volume
    except QhullError:  # flat or degenerate intersection: zero volume
        return 0.0
    inter = min(inter, vol_a, vol_b)
    return float(inter / (vol_a + vol_b - inter))


def box_iou_3d(R_a: Tensor, t_a: Tensor, scale_a: Tensor, size_a: Tensor,
               R_b: Tensor, t_b: Tensor, scale_b: Tensor, size_b: Tensor) -> Tensor:
    """Return the exact IoU of oriented 3D boxes, elementwise over the leading dims.

    Not differentiable (the volume comes from scipy's convex hull); leading dims
    of the two boxes broadcast.

    Args:
        R_a: (..., 3, 3) rotation object->camera of boxes a.
        t_a: (..., 3) centres of boxes a, metres.
        scale_a: (...,) metric diagonals of boxes a, metres.
        size_a: (..., 3) normalised extents of boxes a.
        R_b: (..., 3, 3) rotation of boxes b.
        t_b: (..., 3) centres of boxes b, metres.
        scale_b: (...,) metric diagonals of boxes b, metres.
        size_b: (..., 3) normalised extents of boxes b.

    Returns:
        (...,) IoU in [0, 1], dtype and device of R_a.

    Raises:
        ValueError: if the shapes are wrong or do not broadcast.
    """
    for name, (x, pat) in dict(R_a=(R_a, (3, 3)), t_a=(t_a, (3,)), size_a=(size_a, (3,)),
                               R_b=(R_b, (3, 3)), t_b=(t_b, (3,)),
                               size_b=(size_b, (3,))).items():
        check_shapes(**{name: (x, ('...',) + pat)})
    try:
        lead = torch.broadcast_shapes(R_a.shape[:-2], t_a.shape[:-1], scale_a.shape,
                                      size_a.shape[:-1], R_b.shape[:-2], t_b.shape[:-1],
                                      scale_b.shape, size_b.shape[:-1])
    except RuntimeError as exc:
        raise ValueError(f'box_iou_3d: leading dims do not broadcast: R_a {tuple(R_a.shape)}, '
                         f'R_b {tuple(R_b.shape)}, t_a {tuple(t_a.shape)}, '
                         f't_b {tuple(t_b.shape)}') from exc

    def flat(x: Tensor, tail: tuple) -> np.ndarray:
        x = x.detach().to('cpu', torch.float64).expand(lead + tail)
        return x.reshape((-1,) + tail).numpy()

    Ra, ta = flat(R_a, (3, 3)), flat(t_a, (3,))
    Rb, tb = flat(R_b, (3, 3)), flat(t_b, (3,))
    ea = flat(scale_a[..., None] * size_a, (3,))
    eb = flat(scale_b[..., None] * size_b, (3,))
    iou = np.array([oriented_box_iou(Ra[i], ta[i], ea[i], Rb[i], tb[i], eb[i])
                    for i in range(len(Ra))], dtype=np.float64)
    return torch.from_numpy(iou).reshape(lead).to(device=R_a.device, dtype=R_a.dtype)
