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

"""Loss functions against hand-computed values."""

from __future__ import annotations

from conftest import seeded
import pytest
import torch
from torch.testing import assert_close

from cleanpose_core.geometry.transforms import random_rotations, rotation_about_y
from cleanpose_core.model.heads import bin_centres
from cleanpose_core.model.losses import chamfer_distance, keypoint_diversity, \
    nearest_distance, rotation_loss, soft_bin_targets


def test_chamfer_and_nearest_known_values():
    a = torch.tensor([[[0.0, 0, 0], [1, 0, 0]]])
    b = torch.tensor([[[0.0, 0, 0], [0, 2, 0], [1, 0, 0]]])
    assert_close(nearest_distance(a, b), torch.tensor([0.0]))
    assert_close(nearest_distance(b, a), torch.tensor([2.0 / 3.0]))
    assert_close(chamfer_distance(a, b), torch.tensor([1.0 / 3.0]))


def test_keypoint_diversity():
    kp = torch.tensor([[[0.0, 0, 0], [0.05, 0, 0], [5, 0, 0]]])
    # Pair (0, 1) is 0.05 apart: each of the two keypoints pays 0.2 - 0.05.
    assert_close(keypoint_diversity(kp, 0.2), torch.tensor([2 * 0.15 / 3]))
    assert_close(keypoint_diversity(kp[:, :1], 0.2), torch.tensor([0.0]))
    same = torch.zeros(1, 2, 3, requires_grad=True)
    keypoint_diversity(same, 0.2).sum().backward()
    assert bool(torch.isfinite(same.grad).all())


def test_rotation_loss_symmetric_ignores_turns_about_y():
    R = random_rotations(4, generator=seeded(0))
    turned = R @ rotation_about_y(torch.tensor([0.3, 1.0, 2.0, 3.0]))
    sym = torch.tensor([True, True, False, False])
    loss = rotation_loss(turned, R, sym)
    assert_close(loss[:2], torch.zeros(2), atol=1e-6, rtol=0)
    assert bool((loss[2:] > 0.05).all())


@pytest.mark.parametrize('bins', [8, 32], ids=['8bins', '32bins'])
def test_soft_bin_targets_expectation_is_the_coordinate(bins):
    coords = torch.linspace(-0.5 + 0.5 / bins, 0.5 - 0.5 / bins, 17)
    soft = soft_bin_targets(coords, bins)
    assert_close(soft.sum(-1), torch.ones(17))
    assert_close(soft @ bin_centres(bins), coords, atol=1e-6, rtol=0)
    assert bool((soft >= 0).all()) and int((soft > 0).sum(-1).max()) <= 2
