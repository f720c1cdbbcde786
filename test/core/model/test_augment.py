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

"""Augmentation: points and targets transformed consistently."""

from __future__ import annotations

from conftest import seeded
from model_fixtures import make_batch
import torch
from torch.testing import assert_close

from cleanpose_core.geometry.transforms import rotation_angle_deg
from cleanpose_core.model.augment import augment_points, augment_target, sample_augmentation


def test_augmented_points_match_augmented_pose():
    inp, tgt = make_batch(8, seed=2)
    aug = sample_augmentation(inp.points, generator=seeded(0))
    pts = augment_points(inp.points, aug)
    new = augment_target(tgt, aug)
    rebuilt = new.scales[:, None, None] * tgt.nocs @ new.R_cam_obj.transpose(1, 2) \
        + new.t_cam_obj[:, None]
    assert_close(pts, rebuilt, atol=1e-5, rtol=0)
    assert torch.equal(new.sizes, tgt.sizes) and torch.equal(new.nocs, tgt.nocs)


def test_augmentation_ranges():
    inp, _ = make_batch(200, seed=1)
    aug = sample_augmentation(inp.points, generator=seeded(3))
    angles = rotation_angle_deg(aug.R, torch.eye(3).expand(200, 3, 3))
    assert float(angles.max()) <= 20.0 + 1e-3 and float(angles.max()) > 15.0
    assert float(aug.shift.abs().max()) <= 0.02
    assert float(aug.scale.min()) >= 0.8 and float(aug.scale.max()) <= 1.2
    assert_close(aug.centre, inp.points.mean(dim=1))
    det = torch.linalg.det(aug.R)
    assert_close(det, torch.ones(200), atol=1e-5, rtol=0)


def test_augmentation_is_seeded():
    inp, _ = make_batch(3)
    a = sample_augmentation(inp.points, generator=seeded(5))
    b = sample_augmentation(inp.points, generator=seeded(5))
    assert torch.equal(a.R, b.R) and torch.equal(a.shift, b.shift)
