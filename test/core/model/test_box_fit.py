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

"""Boxes grow toward the observed points outside them, in their own axes, never shrink."""

from __future__ import annotations

import math

import pytest
import torch

from cleanpose_core.model.box_fit import grow_boxes


def _turn_about_z(deg: float) -> torch.Tensor:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


def _points_in_box(low, high, n: int = 4000, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    low, high = torch.tensor(low, dtype=torch.float64), torch.tensor(high, dtype=torch.float64)
    return low + (high - low) * torch.rand(n, 3, generator=g, dtype=torch.float64)


def _case(low, high):
    """A box of extents (0.1, 0.2, 0.1) at t, turned 30° about z; points in [low, high]."""
    R = _turn_about_z(30.0)[None]
    t = torch.tensor([[0.1, -0.05, 0.8]], dtype=torch.float64)
    extents = torch.tensor([[0.1, 0.2, 0.1]], dtype=torch.float64)
    points = (_points_in_box(low, high) @ R[0].T + t)[None]
    return R, t, extents, points


def test_points_inside_leave_the_box_alone():
    R, t, extents, points = _case([-0.05, -0.1, -0.05], [0.05, 0.1, 0.0])
    new_t, new_extents = grow_boxes(R, t, extents, points, 1.0)
    torch.testing.assert_close(new_t, t)
    torch.testing.assert_close(new_extents, extents)


@pytest.mark.parametrize('fraction', [0.0, 0.5, 1.0])
def test_a_face_moves_the_share_of_the_way_out_to_the_points(fraction):
    # the points reach 0.05 m past the box's +x face (in the box's own axes)
    R, t, extents, points = _case([-0.05, -0.1, -0.05], [0.10, 0.1, 0.05])
    new_t, new_extents = grow_boxes(R, t, extents, points, fraction)
    beyond = 0.10 - 0.05 - 0.15 * 0.02   # the 98th percentile of x sits inside the extreme
    grown = fraction * beyond
    torch.testing.assert_close(new_extents[0], torch.tensor([0.1 + grown, 0.2, 0.1],
                                                            dtype=torch.float64),
                               atol=2e-3, rtol=0)
    # the centre moves half the growth along the box's x axis, turned into the camera frame
    expected_t = t[0] + R[0] @ torch.tensor([grown / 2, 0.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(new_t[0], expected_t, atol=1e-3, rtol=0)


def test_boxes_are_never_shrunk_and_batches_are_independent():
    R1, t1, e1, p1 = _case([-0.01, -0.02, -0.01], [0.01, 0.02, 0.01])   # far inside
    R2, t2, e2, p2 = _case([-0.08, -0.1, -0.05], [0.05, 0.1, 0.05])     # past -x
    new_t, new_extents = grow_boxes(torch.cat([R1, R2]), torch.cat([t1, t2]),
                                    torch.cat([e1, e2]), torch.cat([p1, p2]), 0.5)
    torch.testing.assert_close(new_extents[0], e1[0])
    assert new_extents[1, 0] > e2[0, 0] + 0.01
    torch.testing.assert_close(new_extents[1, 1:], e2[0, 1:])


def test_bad_arguments_are_refused():
    R, t, extents, points = _case([-0.05, -0.1, -0.05], [0.05, 0.1, 0.05])
    with pytest.raises(ValueError, match='fraction'):
        grow_boxes(R, t, extents, points, 1.5)
    with pytest.raises(ValueError, match='batch sizes'):
        grow_boxes(R, t, extents, torch.cat([points, points]), 0.5)
    empty = torch.zeros(0, 3, dtype=torch.float64)
    assert grow_boxes(R[:0], empty, empty, points[:0], 0.5)[1].shape == (0, 3)
