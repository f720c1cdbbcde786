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

"""Tests for geometry.transforms: rotations, 6D, quaternions (xyzw), Sim(3)."""

from __future__ import annotations

import math

from conftest import seeded, tol
import numpy as np
import pytest
from scipy.spatial.transform import Rotation
import torch
from torch.testing import assert_close

from cleanpose_core.geometry.transforms import (axis_angle_to_matrix, compose_sim3, invert_sim3,
                                                matrix_to_axis_angle, matrix_to_quaternion_xyzw,
                                                matrix_to_rotation_6d, matrix_to_sim3,
                                                quaternion_xyzw_to_matrix, random_rotations,
                                                rotation_6d_to_matrix, rotation_about_y,
                                                rotation_angle_deg, sim3_to_matrix, Similarity,
                                                transform_points)

BATCHES = [0, 1, 5]


def _rots(batch, device, dtype, seed=0):
    return random_rotations(batch, generator=seeded(seed), dtype=dtype).to(device)


@pytest.mark.parametrize('batch', BATCHES)
def test_6d_round_trip(batch, device, dtype):
    R = _rots(batch, device, dtype)
    d6 = matrix_to_rotation_6d(R)
    assert d6.shape == (batch, 6)
    assert_close(rotation_6d_to_matrix(d6), R, **tol(dtype))


def test_6d_unbatched_and_leading_dims(dtype):
    R = random_rotations(6, generator=seeded(1), dtype=dtype).reshape(2, 3, 3, 3)
    assert rotation_6d_to_matrix(matrix_to_rotation_6d(R[0, 0])).shape == (3, 3)
    assert_close(rotation_6d_to_matrix(matrix_to_rotation_6d(R)), R, **tol(dtype))


def test_6d_gram_schmidt_oracle():
    a1 = torch.tensor([2.0, 0.0, 0.0], dtype=torch.float64)
    a2 = torch.tensor([5.0, 3.0, 0.0], dtype=torch.float64)   # x part removed by Gram-Schmidt
    R = rotation_6d_to_matrix(torch.cat((a1, a2)))
    assert_close(R, torch.eye(3, dtype=torch.float64))
    d6 = torch.randn(100, 6, generator=seeded(2), dtype=torch.float64)
    R = rotation_6d_to_matrix(d6)
    assert_close(R.transpose(-1, -2) @ R, torch.eye(3, dtype=torch.float64).expand(100, 3, 3))
    assert_close(torch.linalg.det(R), torch.ones(100, dtype=torch.float64))
    assert_close(R[:, :, 0], d6[:, :3] / d6[:, :3].norm(dim=-1, keepdim=True))


def test_6d_rejects_wrong_width():
    with pytest.raises(ValueError, match=r'd6 must have shape \(\.\.\., 6\); got \(4, 5\)'):
        rotation_6d_to_matrix(torch.zeros(4, 5))


def test_matrix_to_6d_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r'R must have shape \(\.\.\., 3, 3\); got \(4, 3\)'):
        matrix_to_rotation_6d(torch.zeros(4, 3))


@pytest.mark.parametrize('batch', BATCHES)
def test_quaternion_round_trip(batch, device, dtype):
    R = _rots(batch, device, dtype)
    q = matrix_to_quaternion_xyzw(R)
    assert q.shape == (batch, 4)
    assert bool((q[:, 3] >= 0).all())
    assert_close(q.norm(dim=-1), torch.ones(batch, device=device, dtype=dtype), **tol(dtype))
    assert_close(quaternion_xyzw_to_matrix(q), R, **tol(dtype))


def test_quaternion_matches_scipy_xyzw_order():
    q = torch.randn(50, 4, generator=seeded(3), dtype=torch.float64)
    R_scipy = torch.from_numpy(Rotation.from_quat(q.numpy()).as_matrix())  # scipy: xyzw
    assert_close(quaternion_xyzw_to_matrix(q), R_scipy)
    q_back = matrix_to_quaternion_xyzw(R_scipy)
    q_ref = torch.from_numpy(Rotation.from_matrix(R_scipy.numpy()).as_quat())
    q_ref = torch.where(q_ref[:, 3:] < 0, -q_ref, q_ref)
    assert_close(q_back, q_ref)


@pytest.mark.parametrize('axis', ['x', 'y', 'z'])
@pytest.mark.parametrize('angle_deg', [0.0, 90.0, 179.999, 180.0], ids=lambda a: f'{a}deg')
def test_quaternion_near_half_turn(axis, angle_deg):
    R = torch.from_numpy(Rotation.from_euler(axis, angle_deg, degrees=True).as_matrix())
    assert_close(quaternion_xyzw_to_matrix(matrix_to_quaternion_xyzw(R)), R)


def test_quaternion_known_value():
    q = torch.tensor([0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)])  # 90 deg about z
    R = quaternion_xyzw_to_matrix(q)
    assert_close(R, torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))


def test_quaternion_rejects_wxyz_width():
    with pytest.raises(ValueError, match=r'q must have shape \(\.\.\., 4\); got \(2, 3\)'):
        quaternion_xyzw_to_matrix(torch.zeros(2, 3))


def test_quaternion_batch_consistency():
    R = random_rotations(7, generator=seeded(4), dtype=torch.float64)
    q = matrix_to_quaternion_xyzw(R)
    loop = torch.stack([matrix_to_quaternion_xyzw(r) for r in R])
    assert_close(q, loop)


@pytest.mark.parametrize('batch', BATCHES)
def test_axis_angle_round_trip(batch, device, dtype):
    R = _rots(batch, device, dtype)
    aa = matrix_to_axis_angle(R)
    assert aa.shape == (batch, 3)
    assert_close(axis_angle_to_matrix(aa), R, **tol(dtype))


def test_axis_angle_matches_scipy():
    aa = torch.randn(30, 3, generator=seeded(5), dtype=torch.float64)
    aa = torch.cat((aa, torch.zeros(1, 3, dtype=torch.float64), 1e-6 * aa[:2]))
    R_ref = torch.from_numpy(Rotation.from_rotvec(aa.numpy()).as_matrix())
    assert_close(axis_angle_to_matrix(aa), R_ref)


def test_axis_angle_rejects_wrong_width():
    with pytest.raises(ValueError, match=r'aa must have shape \(\.\.\., 3\); got \(4,\)'):
        axis_angle_to_matrix(torch.zeros(4))


def test_rotation_about_y_oracle():
    R = rotation_about_y(torch.tensor(math.pi / 2, dtype=torch.float64))
    assert_close(R @ torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64),
                 torch.tensor([0.0, 0.0, -1.0], dtype=torch.float64))
    assert_close(R, torch.from_numpy(Rotation.from_euler('y', 90, degrees=True).as_matrix()))


@pytest.mark.parametrize('angle_deg', [0.0, 1e-4, 30.0, 90.0, 179.0, 180.0],
                         ids=lambda a: f'{a}deg')
def test_rotation_angle_deg_known(angle_deg, dtype):
    R_a = random_rotations(3, generator=seeded(6), dtype=dtype)
    axis = torch.nn.functional.normalize(
        torch.randn(3, 3, generator=seeded(7), dtype=torch.float64), dim=-1)
    R_d = axis_angle_to_matrix((axis * math.radians(angle_deg)).to(dtype))
    got = rotation_angle_deg(R_a, R_a @ R_d)
    atol = 1e-3 if dtype == torch.float32 else 1e-7
    if dtype == torch.float32 and angle_deg >= 179.0:
        atol = 0.05  # float32 resolution of the trace near a half turn
    assert_close(got, torch.full((3,), angle_deg, dtype=dtype), atol=atol, rtol=0)


def test_rotation_angle_deg_broadcasts_and_rejects():
    R = random_rotations(4, generator=seeded(8))
    assert rotation_angle_deg(R, torch.eye(3)).shape == (4,)
    with pytest.raises(ValueError, match=r'R_b must have shape'):
        rotation_angle_deg(R, torch.eye(4))


def test_random_rotations_properties():
    R = random_rotations(2000, generator=seeded(9), dtype=torch.float64)
    assert R.shape == (2000, 3, 3) and R.dtype == torch.float64
    assert_close(R.transpose(-1, -2) @ R, torch.eye(3, dtype=torch.float64).expand_as(R))
    assert_close(torch.linalg.det(R), torch.ones(2000, dtype=torch.float64))
    # Haar measure: E[R] = 0 and the angle has mean pi/2 + 2/pi (in radians).
    assert R.mean(0).abs().max() < 0.05
    ang = torch.deg2rad(rotation_angle_deg(R, torch.eye(3, dtype=torch.float64)))
    assert abs(ang.mean().item() - (math.pi / 2 + 2 / math.pi)) < 0.05
    again = random_rotations(3, generator=seeded(9))
    assert_close(random_rotations(3, generator=seeded(9)), again)
    assert random_rotations(0).shape == (0, 3, 3)


def test_random_rotations_rejects_negative():
    with pytest.raises(ValueError, match=r'n must be >= 0; got -1'):
        random_rotations(-1)


@pytest.mark.parametrize('fn,make', [
    (rotation_6d_to_matrix, lambda g: torch.randn(2, 6, generator=g, dtype=torch.float64)),
    (quaternion_xyzw_to_matrix, lambda g: torch.randn(2, 4, generator=g, dtype=torch.float64)),
    (axis_angle_to_matrix, lambda g: torch.randn(2, 3, generator=g, dtype=torch.float64)),
    (matrix_to_rotation_6d, lambda g: torch.randn(2, 3, 3, generator=g, dtype=torch.float64)),
], ids=['6d', 'quat', 'axis_angle', 'to_6d'])
def test_gradcheck(fn, make):
    x = make(seeded(10)).requires_grad_(True)
    assert torch.autograd.gradcheck(fn, (x,))


def test_gradcheck_rotation_angle():
    R_a = random_rotations(2, generator=seeded(11), dtype=torch.float64)
    aa = torch.tensor([[0.3, -0.2, 0.5], [1.0, 0.4, -0.1]], dtype=torch.float64,
                      requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: rotation_angle_deg(R_a, axis_angle_to_matrix(v)),
                                    (aa,))


def test_sim3_matrix_round_trip_and_points(dtype):
    g = seeded(12)
    R = random_rotations(4, generator=g, dtype=dtype)
    s = (torch.rand(4, generator=g) + 0.1).to(dtype)
    t = torch.randn(4, 3, generator=g).to(dtype)
    T = sim3_to_matrix(Similarity(s, R, t))
    assert T.shape == (4, 4, 4)
    assert_close(T[:, 3], torch.tensor([0, 0, 0, 1], dtype=dtype).expand(4, 4))
    back = matrix_to_sim3(T)
    assert_close(back.s, s, **tol(dtype))
    assert_close(back.R, R, **tol(dtype))
    assert_close(back.t, t, **tol(dtype))
    pts = torch.randn(4, 10, 3, generator=g).to(dtype)
    homog = torch.cat((pts, torch.ones(4, 10, 1, dtype=dtype)), -1) @ T.transpose(-1, -2)
    assert_close(transform_points(pts, R, t, s), homog[..., :3], **tol(dtype))


def test_sim3_compose_and_invert(dtype):
    g = seeded(13)
    a = Similarity((torch.rand(3, generator=g) + 0.5).to(dtype),
                   random_rotations(3, generator=g, dtype=dtype), torch.randn(3, 3).to(dtype))
    b = Similarity((torch.rand(3, generator=g) + 0.5).to(dtype),
                   random_rotations(3, generator=g, dtype=dtype), torch.randn(3, 3).to(dtype))
    pts = torch.randn(3, 5, 3, generator=g).to(dtype)
    ab = compose_sim3(a, b)
    assert_close(transform_points(pts, ab.R, ab.t, ab.s),
                 transform_points(transform_points(pts, b.R, b.t, b.s), a.R, a.t, a.s),
                 **tol(dtype))
    ident = compose_sim3(a, invert_sim3(a))
    assert_close(ident.s, torch.ones(3, dtype=dtype), **tol(dtype))
    assert_close(ident.R, torch.eye(3, dtype=dtype).expand(3, 3, 3), **tol(dtype))
    assert_close(ident.t, torch.zeros(3, 3, dtype=dtype), **tol(dtype))


def test_transform_points_rejects_mismatch():
    with pytest.raises(ValueError, match=r't_a_b must have shape'):
        transform_points(torch.zeros(2, 5, 3), torch.eye(3).expand(2, 3, 3), torch.zeros(2, 4))


def test_numpy_oracle_row_vector_convention():
    R = random_rotations(1, generator=seeded(14), dtype=torch.float64)[0]
    p = np.array([0.1, -0.2, 0.3])
    got = transform_points(torch.from_numpy(p)[None], R, torch.zeros(3, dtype=torch.float64))
    np.testing.assert_allclose(got[0].numpy(), R.numpy() @ p)
