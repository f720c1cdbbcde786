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

"""Tests of the procedural shape library (canonical frame, variation, seeds)."""

from __future__ import annotations

import numpy as np
import pytest

from cleanpose_core.categories import CATEGORIES
from cleanpose_core.data.synth.primitives import PART_DETAIL, PART_HANDLE, PART_TRIM
from cleanpose_core.data.synth.shapes import (
    instance_seed_range, make_distractor, make_shape, SCALE_RANGES)

SEEDS = [0, 7, 1_000_003]


def _part_vertices(shape, part):
    faces = shape.mesh.faces[shape.mesh.parts == part]
    return shape.mesh.vertices[np.unique(faces)]


@pytest.mark.parametrize('seed', SEEDS, ids=lambda s: f'seed{s}')
@pytest.mark.parametrize('category', CATEGORIES)
def test_shape_is_unit_diagonal_and_centred(category, seed):
    shape = make_shape(category, seed)
    v = shape.mesh.vertices
    lo, hi = v.min(0), v.max(0)
    assert np.linalg.norm(hi - lo) == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(0.5 * (lo + hi), 0.0, atol=1e-9)
    np.testing.assert_allclose(shape.size, hi - lo, atol=1e-9)
    assert SCALE_RANGES[category][0] <= shape.scale <= SCALE_RANGES[category][1]
    assert 12 <= len(shape.mesh.faces) <= 5000
    assert shape.model_id == f'{category}_{seed}'
    assert shape.class_id == CATEGORIES.index(category) + 1


@pytest.mark.parametrize('seed', range(6), ids=lambda s: f'seed{s}')
@pytest.mark.parametrize('category', ['bottle', 'bowl', 'can'])
def test_symmetric_categories_are_round_about_y(category, seed):
    shape = make_shape(category, seed)
    assert shape.size[0] == pytest.approx(shape.size[2], rel=1e-6)
    v = shape.mesh.vertices
    quarter = v @ np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]).T
    key = np.round(v, 7) + 0.0          # turning a quarter about +Y maps the set onto itself
    key_q = np.round(quarter, 7) + 0.0
    np.testing.assert_array_equal(np.unique(key, axis=0), np.unique(key_q, axis=0))


@pytest.mark.parametrize('seed', range(8), ids=lambda s: f'seed{s}')
def test_mug_handle_points_to_plus_x(seed):
    shape = make_shape('mug', seed)
    handle = _part_vertices(shape, PART_HANDLE)
    assert len(handle) > 0
    assert handle[:, 0].max() == pytest.approx(shape.mesh.vertices[:, 0].max())
    assert handle[:, 0].mean() > 0.1
    assert abs(handle[:, 2].mean()) < 1e-6


@pytest.mark.parametrize('seed', range(8), ids=lambda s: f'seed{s}')
def test_camera_lens_points_to_plus_z(seed):
    shape = make_shape('camera', seed)
    lens = np.vstack([_part_vertices(shape, PART_TRIM), _part_vertices(shape, PART_DETAIL)])
    assert lens[:, 2].mean() > 0.0
    glass = _part_vertices(shape, PART_DETAIL)
    assert glass[:, 2].max() == pytest.approx(shape.mesh.vertices[:, 2].max(), abs=0.2)


@pytest.mark.parametrize('seed', range(12), ids=lambda s: f'seed{s}')
def test_laptop_hinge_along_x_screen_on_minus_z(seed):
    shape = make_shape('laptop', seed)
    v = shape.mesh.vertices
    assert shape.size[0] > shape.size[1]
    if shape.size[1] >= 0.15:            # open: the top of the screen is behind the base
        top = v[v[:, 1] > v[:, 1].max() - 0.02]
        assert top[:, 2].mean() < 0.0
    base = v[v[:, 1] < v[:, 1].min() + 1e-9]
    assert np.ptp(base[:, 0]) > 0.5 and np.ptp(base[:, 2]) > 0.3   # base flat in X-Z


@pytest.mark.parametrize('category', CATEGORIES)
def test_instances_vary(category):
    sizes = np.array([make_shape(category, s).size for s in range(20)])
    scales = np.array([make_shape(category, s).scale for s in range(20)])
    assert np.ptp(sizes, axis=0).max() > 0.05
    assert np.ptp(scales) > 0.2 * (SCALE_RANGES[category][1] - SCALE_RANGES[category][0])


def test_same_seed_same_shape():
    a = make_shape('mug', 3)
    make_shape.cache_clear()
    b = make_shape('mug', 3)
    assert a is not b
    np.testing.assert_array_equal(a.mesh.vertices, b.mesh.vertices)
    np.testing.assert_array_equal(a.appearance.part_colours, b.appearance.part_colours)
    assert a.scale == b.scale


def test_train_and_test_seed_ranges_are_disjoint():
    train, test = instance_seed_range('train'), instance_seed_range('test')
    assert train.stop <= test.start and len(train) > 0 and len(test) > 0
    with pytest.raises(ValueError, match="split must be 'train' or 'test'; got 'val'"):
        instance_seed_range('val')


@pytest.mark.parametrize('seed', range(8), ids=lambda s: f'seed{s}')
def test_distractors_are_class_zero_and_normalised(seed):
    d = make_distractor(seed)
    v = d.mesh.vertices
    assert d.class_id == 0 and d.model_id == f'distractor_{seed}'
    assert np.linalg.norm(v.max(0) - v.min(0)) == pytest.approx(1.0)


def test_bad_shape_arguments():
    with pytest.raises(ValueError, match="unknown category 'cup'"):
        make_shape('cup', 0)
    with pytest.raises(ValueError, match='instance seed must be >= 0; got -1'):
        make_shape('mug', -1)


def test_varied_can_ends_change_colours_only():
    """'varied' cans keep the 'lid' geometry and body colour; over 60 seeds all three end
    patterns occur: both ends metal, the lid only (as 'lid'), no metal end."""
    kinds = set()
    for seed in range(1_000_000, 1_000_060):
        lid, varied = make_shape('can', seed), make_shape('can', seed, 'varied')
        np.testing.assert_array_equal(varied.mesh.vertices, lid.mesh.vertices)
        np.testing.assert_array_equal(varied.mesh.faces, lid.mesh.faces)
        np.testing.assert_array_equal(varied.appearance.part_colours[0],
                                      lid.appearance.part_colours[0])
        y = varied.mesh.vertices[varied.mesh.faces][:, :, 1].max(axis=1)
        bottom_metal = (varied.mesh.parts[y < y.min() + 0.01] == PART_TRIM).all()
        lid_metal = not np.allclose(varied.appearance.part_colours[PART_TRIM],
                                    varied.appearance.part_colours[0])
        kinds.add((bool(bottom_metal), lid_metal))
        assert (varied.mesh.parts[y < y.min() + 0.01] != PART_TRIM).all() or bottom_metal
    assert kinds == {(True, True), (False, True), (False, False)}
    with pytest.raises(ValueError, match='can_ends'):
        make_shape('can', 1, 'painted')
