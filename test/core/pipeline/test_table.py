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

"""Table pixels taken off masks that bleed onto the supporting plane."""

from __future__ import annotations

import numpy as np

from cleanpose_core.geometry.resting import fit_frame_plane
from cleanpose_core.pipeline.table import clear_table

H, W = 240, 320
K = np.array([[300.0, 0.0, 160.0], [0.0, 300.0, 120.0], [0.0, 0.0, 1.0]])
OBJECT = (slice(100, 140), slice(140, 180))


def _scene(height=0.05):
    """A tilted table seen from above, and a block standing ``height`` m above it."""
    normal = np.array([0.0, -1.0, -0.6])
    normal /= np.linalg.norm(normal)              # up, toward the camera
    offset = -normal @ np.array([0.0, 0.15, 1.0])
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)
    depth = -offset / (rays @ normal)                # z of the ray's hit on the table
    lift = rays[OBJECT] @ normal                     # height gained per metre of depth
    depth[OBJECT] += height / lift                   # the block's top, `height` above
    return depth.astype(np.float32)


def _bleeding_mask():
    mask = np.zeros((H, W), bool)
    mask[OBJECT[0].start - 6:OBJECT[0].stop + 6, OBJECT[1].start - 6:OBJECT[1].stop + 6] = True
    return mask


def test_bleed_onto_the_table_is_removed_and_the_object_kept():
    depth, mask = _scene(), _bleeding_mask()
    (cleared,), plane = clear_table(depth, K, [mask], 0.005, np.random.default_rng(0))
    assert plane is not None and plane.normal[1] < 0   # normal points up (image -y)
    assert cleared[OBJECT].all()                        # every object pixel stays
    assert cleared.sum() == mask[OBJECT].sum()           # every table pixel goes


def test_flat_objects_and_empty_input_stay_as_they_are():
    depth = _scene(height=0.0)                          # a "block" lying in the plane
    mask = _bleeding_mask()
    (out,), plane = clear_table(depth, K, [mask], 0.005, np.random.default_rng(0))
    assert plane is not None and out is mask
    assert clear_table(depth, K, [], 0.005, np.random.default_rng(0)) == ([], None)


def test_no_plane_without_background():
    depth = _scene()
    everything = np.ones((H, W), bool)
    (out,), plane = clear_table(depth, K, [everything], 0.005, np.random.default_rng(0))
    assert plane is None and out is everything


def test_a_plane_fitted_once_serves_the_clean_up():
    depth, mask = _scene(), _bleeding_mask()
    plane = fit_frame_plane(depth, K, [mask], np.random.default_rng(0))
    expected = np.array([0.0, -1.0, -0.6]) / np.linalg.norm([0.0, -1.0, -0.6])
    assert np.degrees(np.arccos(np.clip(plane.normal @ expected, -1, 1))) < 0.5
    (cleared,), same = clear_table(depth, K, [mask], 0.005, None, plane=plane)
    assert same is plane and cleared.sum() == mask[OBJECT].sum()
