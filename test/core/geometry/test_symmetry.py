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

"""Tests for geometry.symmetry: Y-axis symmetry of bottle, bowl, can and handle-less mugs."""

from __future__ import annotations

import math

from conftest import seeded, tol
import pytest
import torch
from torch.testing import assert_close

from cleanpose_core.categories import category_id
from cleanpose_core.geometry.symmetry import (best_y_turn, canonicalize_symmetric_rotation,
                                              is_symmetric, symmetric_rotation_error_deg)
from cleanpose_core.geometry.transforms import (axis_angle_to_matrix, random_rotations,
                                                rotation_about_y, rotation_angle_deg)


def test_is_symmetric_table():
    ids = torch.tensor([category_id(c) for c in
                        ('bottle', 'bowl', 'camera', 'can', 'laptop', 'mug', 'mug')] + [0])
    handle = torch.tensor([1, 1, 1, 1, 1, 1, 0, 1])
    assert is_symmetric(ids, handle).tolist() == [True, True, False, True, False, False, True,
                                                  False]
    assert is_symmetric(ids).tolist() == [True, True, False, True, False, False, False, False]
    assert is_symmetric(torch.zeros(0, dtype=torch.long)).shape == (0,)


def test_is_symmetric_rejects_shape():
    with pytest.raises(ValueError, match=r'handle_visible must have shape \(3,\) .* got \(2,\)'):
        is_symmetric(torch.tensor([1, 2, 6]), torch.tensor([True, False]))


@pytest.mark.parametrize('turn_deg', [0.0, 37.0, 90.0, 180.0, -120.0], ids=lambda a: f'{a}deg')
def test_turn_about_y_is_free_only_for_symmetric(turn_deg, dtype):
    R_gt = random_rotations(3, generator=seeded(0), dtype=dtype)
    theta = torch.tensor(math.radians(turn_deg), dtype=dtype)
    R_pred = R_gt @ rotation_about_y(theta)
    sym = torch.tensor([True, False, True])
    err = symmetric_rotation_error_deg(R_pred, R_gt, sym)
    atol = 1e-3 if dtype == torch.float32 else 1e-7
    expected = torch.tensor([0.0, abs(turn_deg), 0.0], dtype=dtype)
    assert_close(err, expected, atol=atol if turn_deg != 180 or dtype != torch.float32 else 0.05,
                 rtol=0)


def test_tilt_counts_for_symmetric():
    R_gt = random_rotations(2, generator=seeded(1), dtype=torch.float64)
    tilt = axis_angle_to_matrix(torch.tensor([math.radians(10.0), 0, 0], dtype=torch.float64))
    R_pred = R_gt @ tilt @ rotation_about_y(torch.tensor(1.0, dtype=torch.float64))
    err = symmetric_rotation_error_deg(R_pred, R_gt, torch.tensor([True, True]))
    assert_close(err, torch.full((2,), 10.0, dtype=torch.float64))


def test_canonicalize_recovers_reference_turn(dtype):
    R_ref = random_rotations(4, generator=seeded(2), dtype=dtype)
    theta = torch.tensor([0.3, -2.0, 3.1, 1.0], dtype=dtype)
    R_gt = R_ref @ rotation_about_y(theta)
    out = canonicalize_symmetric_rotation(R_gt, R_ref)
    assert_close(out, R_ref, **tol(dtype))
    assert_close(out[:, :, 1], R_gt[:, :, 1], **tol(dtype))


def test_canonicalize_is_nearest_turn_brute_force():
    R_gt = random_rotations(3, generator=seeded(3), dtype=torch.float64)
    R_ref = random_rotations(3, generator=seeded(4), dtype=torch.float64)
    out = canonicalize_symmetric_rotation(R_gt, R_ref)
    grid = torch.linspace(-math.pi, math.pi, 3601, dtype=torch.float64)
    for i in range(3):
        cand = R_gt[i] @ rotation_about_y(grid)
        best = rotation_angle_deg(cand, R_ref[i]).min()
        got = rotation_angle_deg(out[i], R_ref[i])
        assert float(got) <= float(best) + 1e-9
        assert float(got) >= float(best) - 0.1  # grid spacing 0.1 deg


def test_canonicalize_mask_leaves_non_symmetric():
    R_gt = random_rotations(2, generator=seeded(5), dtype=torch.float64)
    R_ref = random_rotations(2, generator=seeded(6), dtype=torch.float64)
    out = canonicalize_symmetric_rotation(R_gt, R_ref, torch.tensor([False, True]))
    assert_close(out[0], R_gt[0])
    assert not torch.allclose(out[1], R_gt[1])


def test_best_y_turn_value():
    R_ref = torch.eye(3, dtype=torch.float64)
    R = rotation_about_y(torch.tensor(-0.7, dtype=torch.float64))
    assert_close(best_y_turn(R, R_ref), torch.tensor(0.7, dtype=torch.float64))


def test_symmetric_error_gradcheck():
    R_gt = random_rotations(2, generator=seeded(7), dtype=torch.float64)
    aa = torch.tensor([[0.3, 0.2, -0.1], [0.5, -0.4, 0.2]], dtype=torch.float64,
                      requires_grad=True)
    sym = torch.tensor([True, False])
    assert torch.autograd.gradcheck(
        lambda v: symmetric_rotation_error_deg(R_gt @ axis_angle_to_matrix(v), R_gt, sym), (aa,))


def test_symmetric_error_rejects_shape():
    with pytest.raises(ValueError, match=r'R_gt must have shape \(\.\.\., 3, 3\); got \(2, 4\)'):
        symmetric_rotation_error_deg(torch.eye(3), torch.zeros(2, 4), torch.tensor(True))
