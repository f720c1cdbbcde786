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

"""Tests of scene layout: resting poses, no interpenetration, camera ranges."""

from __future__ import annotations

import numpy as np
import pytest

from cleanpose_core.data.synth.scene import (
    camera_pose, make_scene, POSE_MODES, SceneOptions, TABLE_Y)

SEEDS = list(range(6))


def _scene(seed, poses='mixed', **kw):
    return make_scene(SceneOptions(poses=poses, **kw), np.random.default_rng(seed))


@pytest.mark.parametrize('poses', list(POSE_MODES))
@pytest.mark.parametrize('seed', SEEDS, ids=lambda s: f'seed{s}')
def test_objects_rest_on_the_table(seed, poses):
    scene = _scene(seed, poses)
    assert len(scene.objects) >= 1
    for obj in scene.objects:
        v = obj.world_vertices()
        assert v[:, 1].min() == pytest.approx(TABLE_Y, abs=1e-9)
        R = obj.R_world_obj
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)
        assert np.linalg.det(R) == pytest.approx(1.0)


@pytest.mark.parametrize('seed', SEEDS, ids=lambda s: f'seed{s}')
def test_objects_do_not_interpenetrate(seed):
    scene = _scene(seed, 'lying', min_objects=6, max_objects=6, max_distractors=3)
    discs = []
    for obj in scene.objects:                # footprint discs from the actual vertices
        xz = obj.world_vertices()[:, [0, 2]]
        c = 0.5 * (xz.min(0) + xz.max(0))
        discs.append((c, np.linalg.norm(xz - c, axis=1).max()))
    for i in range(len(discs)):
        for j in range(i + 1, len(discs)):
            (ci, ri), (cj, rj) = discs[i], discs[j]
            assert np.linalg.norm(ci - cj) > ri + rj


@pytest.mark.parametrize('seed', SEEDS, ids=lambda s: f'seed{s}')
def test_pose_modes(seed):
    for obj in _scene(seed, 'upright').objects:
        if obj.shape.class_id > 0:
            assert obj.pose_name == 'upright'
            np.testing.assert_allclose(obj.R_world_obj[:, 1], [0.0, 1.0, 0.0], atol=1e-9)
    for obj in _scene(seed, 'lying').objects:
        if obj.shape.class_id > 0:
            assert obj.pose_name != 'upright'
            assert obj.R_world_obj[1, 1] < 0.99       # object +Y no longer straight up


def test_mixed_mode_has_about_40_percent_non_upright():
    names = [o.pose_name for s in range(60) for o in _scene(s).objects if o.shape.class_id]
    share = np.mean([n != 'upright' for n in names])
    assert 0.28 < share < 0.52


def test_split_selects_disjoint_instances():
    train = {o.shape.seed for s in range(10) for o in _scene(s, split='train').objects}
    test = {o.shape.seed for s in range(10) for o in _scene(s, split='test').objects}
    assert max(train) < 1_000_000 <= min(test)


@pytest.mark.parametrize('k', [0, 7, 24, 100], ids=lambda k: f'frame{k}')
@pytest.mark.parametrize('seed', SEEDS, ids=lambda s: f'seed{s}')
def test_camera_distance_and_elevation(seed, k):
    scene = _scene(seed)
    R, eye = camera_pose(scene, k, np.random.default_rng(k))
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-9)
    assert np.linalg.det(R) == pytest.approx(1.0)
    offset = eye - scene.centre
    dist = np.linalg.norm(offset)
    assert 0.38 <= dist <= 1.22
    elev = np.degrees(np.arcsin(offset[1] / dist))
    assert 18.0 <= elev <= 72.0
    # the optical axis (camera +Z) points at the scene centre, image y points down-ish
    np.testing.assert_allclose(R[:, 2], -offset / dist, atol=0.05)
    assert R[1, 1] < 0.0


def test_bad_pose_mode():
    with pytest.raises(ValueError, match="poses must be one of upright, mixed, lying; got 'x'"):
        _scene(0, 'x')


@pytest.mark.parametrize('seed', range(20), ids=lambda s: f'seed{s}')
def test_camera_stays_inside_the_room_above_the_table(seed):
    scene = _scene(seed, min_objects=6, max_objects=6)
    table, floor, wx0, wx1, wz0, wz1 = scene.surfaces
    assert (table.name, floor.name) == ('table', 'floor')
    for k in range(0, 200, 7):
        _, eye = camera_pose(scene, k, np.random.default_rng(k))
        assert wx0.value < eye[0] < wx1.value and wz0.value < eye[2] < wz1.value
        assert table.value < eye[1] < wx0.hi[1]
    for obj in scene.objects:                  # objects stand on the table top
        xz = obj.world_vertices()[:, [0, 2]]
        assert np.all(xz >= table.lo[[0, 2]]) and np.all(xz <= table.hi[[0, 2]])
