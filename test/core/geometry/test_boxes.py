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

"""Tests for geometry.boxes: corners and exact oriented 3D IoU."""

from __future__ import annotations

import math

from conftest import seeded, tol
import numpy as np
import pytest
from scipy.spatial.transform import Rotation
import torch
from torch.testing import assert_close

from cleanpose_core.geometry.boxes import (BOX_CORNER_SIGNS, box_corners, BOX_EDGES, box_iou_3d,
                                           oriented_box_iou)
from cleanpose_core.geometry.transforms import random_rotations

I3 = np.eye(3)
Z3 = np.zeros(3)
ONE = np.ones(3)


def _rz(deg):
    return Rotation.from_euler('z', deg, degrees=True).as_matrix()


@pytest.mark.parametrize('batch', [0, 1, 5])
def test_box_corners_shape_and_oracle(batch, dtype):
    g = seeded(0)
    R = random_rotations(batch, generator=g, dtype=dtype)
    t = torch.randn(batch, 3, generator=g).to(dtype)
    scale = (torch.rand(batch, generator=g) + 0.1).to(dtype)
    size = torch.rand(batch, 3, generator=g, dtype=torch.float64) + 0.1
    size = torch.nn.functional.normalize(size, dim=-1).to(dtype)
    c = box_corners(R, t, scale, size)
    assert c.shape == (batch, 8, 3)
    signs = torch.tensor(BOX_CORNER_SIGNS, dtype=dtype)
    for i in range(batch):
        local = (c[i] - t[i]) @ R[i]
        assert_close(local, signs * scale[i] * size[i] / 2, **tol(dtype))
        # main diagonal (corner 0 to corner 7) has length = scale for a unit-diagonal size
        assert_close((c[i, 0] - c[i, 7]).norm(), scale[i], **tol(dtype))


def test_box_corners_unbatched_and_edges():
    c = box_corners(torch.eye(3), torch.zeros(3), torch.tensor(2.0), torch.tensor([1.0, 2, 3]))
    assert c.shape == (8, 3)
    lengths = sorted(round(float((c[a] - c[b]).norm()), 5) for a, b in BOX_EDGES)
    assert lengths == [2.0] * 4 + [4.0] * 4 + [6.0] * 4


def test_box_corners_rejects_shapes():
    with pytest.raises(ValueError, match=r'size must have shape \(\.\.\., 3\); got \(2, 2\)'):
        box_corners(torch.eye(3).expand(2, 3, 3), torch.zeros(2, 3), torch.ones(2),
                    torch.ones(2, 2))


@pytest.mark.parametrize('offset,expected', [
    ((0.0, 0, 0), 1.0),
    ((0.5, 0, 0), 1 / 3),
    ((0.5, 0.5, 0), 0.25 / 1.75),
    ((0.5, 0.5, 0.5), 0.125 / 1.875),
    ((1.0, 0, 0), 0.0),          # touching faces
    ((1.2, 0, 0), 0.0),          # separated, spheres overlap
    ((5.0, 5, 5), 0.0),          # fast path
], ids=['identical', 'half_x', 'quarter_xy', 'eighth_xyz', 'touching', 'apart', 'far'])
def test_iou_axis_aligned_oracle(offset, expected):
    assert oriented_box_iou(I3, Z3, ONE, I3, np.array(offset), ONE) == pytest.approx(
        expected, abs=1e-12)


def test_iou_contained_box():
    e_small = np.array([0.2, 0.3, 0.4])
    assert oriented_box_iou(I3, Z3, ONE, _rz(30), np.array([0.1, 0.1, 0.1]), e_small) == \
        pytest.approx(np.prod(e_small), abs=1e-12)


def test_iou_rotated_45_about_z():
    # square ∩ square turned 45 deg = regular octagon of area 2(sqrt(2) - 1); IoU = 1/sqrt(2)
    assert oriented_box_iou(I3, Z3, ONE, _rz(45), Z3, ONE) == pytest.approx(
        1 / math.sqrt(2), abs=1e-12)


def test_iou_symmetric_in_arguments_and_rigid_invariant():
    rng = np.random.default_rng(0)
    for _ in range(5):
        Ra, Rb, G = (Rotation.random(random_state=rng).as_matrix() for _ in range(3))
        ta, tb, tg = rng.normal(0, 0.2, (3, 3))
        ea, eb = rng.uniform(0.2, 1.0, (2, 3))
        iou = oriented_box_iou(Ra, ta, ea, Rb, tb, eb)
        assert iou == pytest.approx(oriented_box_iou(Rb, tb, eb, Ra, ta, ea), abs=1e-10)
        moved = oriented_box_iou(G @ Ra, G @ ta + tg, ea, G @ Rb, G @ tb + tg, eb)
        assert iou == pytest.approx(moved, abs=1e-10)


@pytest.mark.parametrize('seed', [1, 2, 3])
def test_iou_vs_monte_carlo(seed):
    rng = np.random.default_rng(seed)
    Ra, Rb = (Rotation.random(random_state=rng).as_matrix() for _ in range(2))
    ta, tb = rng.normal(0, 0.1, (2, 3))
    ea, eb = rng.uniform(0.3, 0.8, (2, 3))
    n = 200_000
    local = (rng.random((n, 3)) - 0.5) * ea
    pts = local @ Ra.T + ta
    in_b = np.all(np.abs((pts - tb) @ Rb) <= eb / 2, axis=1)
    inter = in_b.mean() * np.prod(ea)
    expected = inter / (np.prod(ea) + np.prod(eb) - inter)
    got = oriented_box_iou(Ra, ta, ea, Rb, tb, eb)
    assert expected > 0.05
    assert got == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize('batch', [0, 1, 4])
def test_box_iou_3d_batched_matches_loop(batch, dtype):
    g = seeded(4)
    R_a = random_rotations(batch, generator=g, dtype=dtype)
    R_b = random_rotations(batch, generator=g, dtype=dtype)
    t_a = (0.1 * torch.randn(batch, 3, generator=g)).to(dtype)
    t_b = (0.1 * torch.randn(batch, 3, generator=g)).to(dtype)
    s = torch.full((batch,), 0.5, dtype=dtype)
    size = torch.full((batch, 3), 1 / math.sqrt(3), dtype=dtype)
    iou = box_iou_3d(R_a, t_a, s, size, R_b, t_b, s, size)
    assert iou.shape == (batch,) and iou.dtype == dtype
    for i in range(batch):
        ext = (s[i] * size[i]).double().numpy()
        ref = oriented_box_iou(R_a[i].double().numpy(), t_a[i].double().numpy(), ext,
                               R_b[i].double().numpy(), t_b[i].double().numpy(), ext)
        assert float(iou[i]) == pytest.approx(ref, abs=1e-6)


def test_box_iou_3d_broadcasts_one_against_many():
    R = torch.eye(3, dtype=torch.float64)
    t_b = torch.tensor([[0.0, 0, 0], [0.5, 0, 0], [3.0, 0, 0]], dtype=torch.float64)
    size = torch.full((3,), 1 / math.sqrt(3), dtype=torch.float64)
    scale = torch.tensor(math.sqrt(3), dtype=torch.float64)
    iou = box_iou_3d(R, torch.zeros(3, dtype=torch.float64), scale, size, R, t_b, scale, size)
    assert_close(iou, torch.tensor([1.0, 1 / 3, 0.0], dtype=torch.float64))


def test_box_iou_3d_rejects_bad_shapes():
    R = torch.eye(3)
    with pytest.raises(ValueError, match=r't_b must have shape \(\.\.\., 3\); got \(2,\)'):
        box_iou_3d(R, torch.zeros(3), torch.ones(()), torch.ones(3), R, torch.zeros(2),
                   torch.ones(()), torch.ones(3))
    with pytest.raises(ValueError, match=r'leading dims do not broadcast'):
        box_iou_3d(R.expand(2, 3, 3), torch.zeros(2, 3), torch.ones(2), torch.ones(2, 3),
                   R.expand(3, 3, 3), torch.zeros(3, 3), torch.ones(3), torch.ones(3, 3))


def test_iou_degenerate_box_is_zero():
    assert oriented_box_iou(I3, Z3, np.array([1.0, 0.0, 1.0]), I3, Z3, ONE) == 0.0


def test_identical_float32_boxes_score_one():
    # Regression (issue 2): a rotation stored as float32 (det 1.00000003) made
    # identical boxes score 0 because edges on a face were clipped away.
    R = np.array([[-0.94412917, -0.02429399, -0.32867908],
                  [0.19929896, -0.83636093, -0.51066655],
                  [-0.26248822, -0.54764062, 0.79447448]], dtype=np.float32)
    t = np.array([-0.0945057, -0.0339598, 0.7210434], dtype=np.float32)
    e = np.array([0.06381796, 0.14133966, 0.06381796], dtype=np.float32)
    assert oriented_box_iou(R, t, e, R, t, e) == pytest.approx(1.0, abs=1e-6)
