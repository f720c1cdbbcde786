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

"""The shared 3D box drawer: projection, what gets drawn, what is skipped."""

from __future__ import annotations

import numpy as np
import pytest

from cleanpose_core.draw import box_corners_np, CATEGORY_COLORS, draw_pose, project_to_pixels

K = np.array([[500.0, 0.0, 160.0], [0.0, 500.0, 120.0], [0.0, 0.0, 1.0]])


def test_box_corners_span_the_extents():
    corners = box_corners_np(np.eye(3), np.array([0.0, 0.0, 1.0]), 2.0, np.array([0.3, 0.4, 0.5]))
    assert np.allclose(corners.max(0) - corners.min(0), [0.6, 0.8, 1.0])
    assert np.allclose(corners.mean(0), [0.0, 0.0, 1.0])


def test_projection_matches_the_pinhole_model_and_refuses_points_behind():
    uv = project_to_pixels(np.array([[0.1, -0.2, 2.0]]), K)
    assert np.allclose(uv, [[160 + 500 * 0.05, 120 - 500 * 0.1]])
    assert project_to_pixels(np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]), K) is None
    assert project_to_pixels(np.array([[np.nan, 0.0, 1.0]]), K) is None


def test_draw_pose_draws_the_box_edges_in_the_given_colour():
    image = np.zeros((240, 320, 3), np.uint8)
    color = CATEGORY_COLORS[0]
    draw_pose(image, K, np.eye(3), np.array([0.0, 0.0, 1.0]), 1.0, np.array([0.2, 0.2, 0.2]),
              color, thickness=3, axes=False)
    # the front face (z = 0.9) projects to a square of half-side 500 * 0.1 / 0.9 pixels
    half = 500 * 0.1 / 0.9
    assert tuple(image[120, int(round(160 + half))]) == color
    assert not image[120, 160].any()          # the centre stays empty


@pytest.mark.parametrize('t', [[0.0, 0.0, -1.0], [0.0, 0.0, 0.05], [1e9, 0.0, 1.0]],
                         ids=['behind', 'through-camera', 'far-off'])
def test_draw_pose_skips_boxes_it_cannot_draw(t):
    image = np.zeros((240, 320, 3), np.uint8)
    draw_pose(image, K, np.eye(3), np.array(t), 1.0, np.array([0.2, 0.2, 0.2]), label='x')
    assert not image.any()
