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

"""Rotations, the 6D representation, quaternions (xyzw) and similarity transforms.

Convention: column vectors. A point in frame b maps into frame a as
``p_a = R_a_b @ p_b + t_a_b``; for a batch of row-stored points that reads
``pts_a = pts_b @ R_a_b.T + t_a_b``. A similarity adds a scale:
``p_a = s * R_a_b @ p_b + t_a_b``. Rotations are (..., 3, 3) matrices;
quaternions appear only at the ROS boundary, in (x, y, z, w) order.
All functions are pure: device and dtype follow the input, leading dims are free.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch import Tensor

from cleanpose_core.geometry.checks import check_shapes

__all__ = [
    'Similarity', 'axis_angle_to_matrix', 'compose_sim3', 'invert_sim3', 'matrix_to_axis_angle',
    'matrix_to_quaternion_xyzw', 'matrix_to_rotation_6d', 'matrix_to_sim3',
    'quaternion_xyzw_to_matrix', 'random_rotations', 'rotation_6d_to_matrix',
    'rotation_about_y', 'rotation_angle_deg', 'sim3_to_matrix', 'transform_points',
]


class Similarity(NamedTuple):
    """A similarity transform ``p_a = s * R @ p_b + t``.

    Attributes:
        s: (...,) scale, unitless.
        R: (..., 3, 3) rotation.
        t: (..., 3) translation, metres.
    """

    s: Tensor
    R: Tensor
    t: Tensor


def _normalize(v: Tensor, eps: float = 1e-12) -> Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(eps)


def rotation_6d_to_matrix(d6: Tensor) -> Tensor:
    """Map the 6D representation to a rotation by Gram-Schmidt (Zhou et al., CVPR 2019).

    The six numbers are the first two columns of R, in any scale; the third
    column is their cross product.

    Args:
        d6: (..., 6) two stacked 3-vectors (column 0, then column 1).

    Returns:
        (..., 3, 3) rotation matrices.

    Raises:
        ValueError: if the last dim is not 6.
    """
    check_shapes(d6=(d6, ('...', 6)))
    b1 = _normalize(d6[..., :3])
    a2 = d6[..., 3:]
    b2 = _normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def matrix_to_rotation_6d(R: Tensor) -> Tensor:
    """Return the 6D representation of rotations: their first two columns.

    Args:
        R: (..., 3, 3) rotation matrices.

    Returns:
        (..., 6): column 0 then column 1 of R.

    Raises:
        ValueError: if R is not (..., 3, 3).
    """
    check_shapes(R=(R, ('...', 3, 3)))
    return torch.cat((R[..., :, 0], R[..., :, 1]), dim=-1)


def quaternion_xyzw_to_matrix(q: Tensor) -> Tensor:
    """Convert quaternions (x, y, z, w) to rotation matrices; q is normalised first.

    Args:
        q: (..., 4) quaternions, real part last; need not be unit length.

    Returns:
        (..., 3, 3) rotation matrices.

    Raises:
        ValueError: if the last dim is not 4.
    """
    check_shapes(q=(q, ('...', 4)))
    x, y, z, w = _normalize(q).unbind(-1)
    rows = (
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    )
    return torch.stack(rows, dim=-1).reshape(q.shape[:-1] + (3, 3))


def matrix_to_quaternion_xyzw(R: Tensor) -> Tensor:
    """Convert rotation matrices to unit quaternions (x, y, z, w) with w >= 0.

    Uses the numerically stable branch (largest of w, x, y, z) per element.

    Args:
        R: (..., 3, 3) rotation matrices.

    Returns:
        (..., 4) unit quaternions, real part last, w >= 0.

    Raises:
        ValueError: if R is not (..., 3, 3).
    """
    check_shapes(R=(R, ('...', 3, 3)))
    m = R.reshape(R.shape[:-2] + (9,))
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m.unbind(-1)
    # 4 * squared components (w, x, y, z); clamped so the square root stays real.
    sq = torch.stack((1 + m00 + m11 + m22, 1 + m00 - m11 - m22,
                      1 - m00 + m11 - m22, 1 - m00 - m11 + m22), dim=-1)
    root = sq.clamp_min(1e-12).sqrt()  # 2 * |component|
    # Candidate quaternions (w, x, y, z) from each branch, each scaled by 2 * component.
    cand = torch.stack((
        torch.stack((sq[..., 0], m21 - m12, m02 - m20, m10 - m01), dim=-1),
        torch.stack((m21 - m12, sq[..., 1], m10 + m01, m02 + m20), dim=-1),
        torch.stack((m02 - m20, m10 + m01, sq[..., 2], m21 + m12), dim=-1),
        torch.stack((m10 - m01, m20 + m02, m12 + m21, sq[..., 3]), dim=-1),
    ), dim=-2) / (2 * root[..., None])
    best = sq.argmax(dim=-1)
    wxyz = torch.gather(cand, -2, best[..., None, None].expand(best.shape + (1, 4)))[..., 0, :]
    wxyz = _normalize(wxyz)
    wxyz = torch.where(wxyz[..., :1] < 0, -wxyz, wxyz)
    return torch.cat((wxyz[..., 1:], wxyz[..., :1]), dim=-1)


def _skew(v: Tensor) -> Tensor:
    zero = torch.zeros_like(v[..., 0])
    x, y, z = v.unbind(-1)
    return torch.stack((zero, -z, y, z, zero, -x, -y, x, zero), dim=-1).reshape(
        v.shape[:-1] + (3, 3))


def axis_angle_to_matrix(aa: Tensor) -> Tensor:
    """Convert axis-angle vectors (unit axis times angle in radians) by Rodrigues' formula.

    Args:
        aa: (..., 3) rotation vectors, radians.

    Returns:
        (..., 3, 3) rotation matrices.

    Raises:
        ValueError: if the last dim is not 3.
    """
    check_shapes(aa=(aa, ('...', 3)))
    theta2 = (aa * aa).sum(-1)
    small = theta2 < 1e-8
    safe2 = torch.where(small, torch.ones_like(theta2), theta2)
    theta = safe2.sqrt()
    # sin(t)/t and (1-cos(t))/t^2 with their Taylor series near zero.
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / safe2)
    K = _skew(aa)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand(K.shape)
    return eye + a[..., None, None] * K + b[..., None, None] * (K @ K)


def matrix_to_axis_angle(R: Tensor) -> Tensor:
    """Convert rotation matrices to axis-angle vectors (angle in [0, pi], radians).

    Args:
        R: (..., 3, 3) rotation matrices.

    Returns:
        (..., 3) rotation vectors.

    Raises:
        ValueError: if R is not (..., 3, 3).
    """
    q = matrix_to_quaternion_xyzw(R)
    xyz, w = q[..., :3], q[..., 3]
    s = xyz.norm(dim=-1)
    angle = 2 * torch.atan2(s, w)
    small = s < 1e-8
    # angle / sin(angle / 2) -> 2 as the angle goes to zero.
    factor = torch.where(small, 2.0 + angle * angle / 12,
                         angle / torch.where(small, torch.ones_like(s), s))
    return xyz * factor[..., None]


def rotation_about_y(angle: Tensor) -> Tensor:
    """Return rotations by angle (radians) about the +Y axis.

    Args:
        angle: (...,) radians.

    Returns:
        (..., 3, 3) rotation matrices.
    """
    c, s = torch.cos(angle), torch.sin(angle)
    zero, one = torch.zeros_like(angle), torch.ones_like(angle)
    return torch.stack((c, zero, s, zero, one, zero, -s, zero, c), dim=-1).reshape(
        angle.shape + (3, 3))


def random_rotations(n: int, generator: Optional[torch.Generator] = None,
                     dtype: torch.dtype = torch.float32,
                     device: Optional[torch.device | str] = None) -> Tensor:
    """Draw n rotations uniformly (Haar measure) from normalised Gaussian quaternions.

    Args:
        n: number of rotations, >= 0.
        generator: optional torch generator (on the CPU unless device says otherwise).
        dtype: floating dtype of the result.
        device: device of the result; default the CPU.

    Returns:
        (n, 3, 3) rotation matrices.

    Raises:
        ValueError: if n is negative.
    """
    if int(n) < 0:
        raise ValueError(f'n must be >= 0; got {n}')
    gen_device = generator.device if generator is not None else device
    q = torch.randn(int(n), 4, generator=generator, dtype=torch.float64, device=gen_device)
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return quaternion_xyzw_to_matrix(q).to(device=device, dtype=dtype)


def rotation_angle_deg(R_a: Tensor, R_b: Tensor) -> Tensor:
    """Return the geodesic angle between rotations, in degrees, in [0, 180].

    Computed as atan2(|vee(R - R^T)| / 2, (trace(R) - 1) / 2) with R = R_a^T R_b,
    which is better conditioned near 0 degrees than arccos of the trace.

    Args:
        R_a: (..., 3, 3) rotations.
        R_b: (..., 3, 3) rotations (broadcast against R_a).

    Returns:
        (...,) angles in degrees.

    Raises:
        ValueError: if an argument is not (..., 3, 3).
    """
    check_shapes(R_a=(R_a, ('...', 3, 3)), R_b=(R_b, ('...', 3, 3)))
    R = R_a.transpose(-1, -2) @ R_b
    cos = (R.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
    vee = torch.stack((R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0],
                       R[..., 1, 0] - R[..., 0, 1]), dim=-1)
    sin = ((vee * vee).sum(-1) + torch.finfo(R.dtype).tiny).sqrt() / 2
    return torch.rad2deg(torch.atan2(sin, cos))


def transform_points(pts_b: Tensor, R_a_b: Tensor, t_a_b: Tensor,
                     s: Optional[Tensor] = None) -> Tensor:
    """Map points from frame b into frame a: ``p_a = s * R_a_b @ p_b + t_a_b``.

    Args:
        pts_b: (..., N, 3) points in frame b.
        R_a_b: (..., 3, 3) rotation.
        t_a_b: (..., 3) translation.
        s: optional (...,) scale; 1 when None.

    Returns:
        (..., N, 3) points in frame a.

    Raises:
        ValueError: if a shape is wrong.
    """
    check_shapes(pts_b=(pts_b, ('...', 'N', 3)), R_a_b=(R_a_b, ('...', 3, 3)),
                 t_a_b=(t_a_b, ('...', 3)))
    out = pts_b @ R_a_b.transpose(-1, -2)
    if s is not None:
        out = out * s[..., None, None]
    return out + t_a_b[..., None, :]


def sim3_to_matrix(sim: Similarity) -> Tensor:
    """Return the NOCS-style 4x4 matrix with s*R top-left and t in the last column.

    Args:
        sim: a Similarity with s (...,), R (..., 3, 3), t (..., 3).

    Returns:
        (..., 4, 4) homogeneous matrices, last row (0, 0, 0, 1).
    """
    s, R, t = sim
    check_shapes(R=(R, ('...', 3, 3)), t=(t, ('...', 3)))
    top = torch.cat((R * s[..., None, None], t[..., None]), dim=-1)
    bottom = torch.zeros(top.shape[:-2] + (1, 4), dtype=top.dtype, device=top.device)
    bottom[..., 0, 3] = 1
    return torch.cat((top, bottom), dim=-2)


def matrix_to_sim3(T: Tensor) -> Similarity:
    """Split a 4x4 similarity matrix (s*R top-left) into scale, rotation, translation.

    The scale is the cube root of det(sR), as in the NOCS evaluation code.

    Args:
        T: (..., 4, 4) matrices whose top-left 3x3 is s*R with s > 0.

    Returns:
        Similarity(s (...,), R (..., 3, 3), t (..., 3)).

    Raises:
        ValueError: if T is not (..., 4, 4).
    """
    check_shapes(T=(T, ('...', 4, 4)))
    sR = T[..., :3, :3]
    s = torch.linalg.det(sR).abs().clamp_min(torch.finfo(T.dtype).tiny) ** (1.0 / 3.0)
    return Similarity(s, sR / s[..., None, None], T[..., :3, 3])


def compose_sim3(a: Similarity, b: Similarity) -> Similarity:
    """Compose similarities: the result applies b first, then a.

    Args:
        a: Similarity mapping frame b into frame a (T_a_b).
        b: Similarity mapping frame c into frame b (T_b_c).

    Returns:
        Similarity T_a_c = T_a_b * T_b_c.
    """
    s = a.s * b.s
    R = a.R @ b.R
    t = a.s[..., None] * (a.R @ b.t[..., None])[..., 0] + a.t
    return Similarity(s, R, t)


def invert_sim3(sim: Similarity) -> Similarity:
    """Invert a similarity: ``p_b = (1/s) R^T (p_a - t)``.

    Args:
        sim: Similarity T_a_b.

    Returns:
        Similarity T_b_a.
    """
    s_inv = 1.0 / sim.s
    R_inv = sim.R.transpose(-1, -2)
    t_inv = -s_inv[..., None] * (R_inv @ sim.t[..., None])[..., 0]
    return Similarity(s_inv, R_inv, t_inv)
