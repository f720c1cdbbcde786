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

"""The upright prior puts nearly upright axes on the table normal, and nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from cleanpose_core.geometry.plane import Plane
from cleanpose_core.geometry.resting import (
    align_footprint_yaw, right_side_up, rotation_between, seat_on_table, snap_up_axis,
    trim_camera_sides, trim_top_to_points)

NORMAL = np.array([0.0, -0.8, -0.6])          # a table seen from above, toward the camera


def _turn(axis, deg):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    a = np.radians(deg)
    return np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * k @ k


def _standing(yaw_deg, tilt_deg, upside_down=False):
    """An object whose Y axis is the table normal (or its opposite), turned by yaw about
    it and then tipped by tilt about a horizontal axis."""
    y = -NORMAL if upside_down else NORMAL
    x = np.cross(y, [1.0, 0.0, 0.0])
    x /= np.linalg.norm(x)
    R = np.stack([x, y, np.cross(x, y)], axis=1)
    return _turn(x, tilt_deg) @ _turn(y, yaw_deg) @ R


@pytest.mark.parametrize('upside_down', [False, True])
def test_nearly_upright_axes_land_on_the_normal_keeping_the_turn_about_it(upside_down):
    R = _standing(37.0, 8.0, upside_down)[None]
    (snapped,) = snap_up_axis(R, NORMAL, 20.0)
    want = -NORMAL if upside_down else NORMAL
    np.testing.assert_allclose(snapped[:, 1], want, atol=1e-12)
    np.testing.assert_allclose(snapped, _standing(37.0, 0.0, upside_down), atol=1e-12)
    np.testing.assert_allclose(snapped.T @ snapped, np.eye(3), atol=1e-12)
    assert np.linalg.det(snapped) == pytest.approx(1.0)


def test_tipped_and_lying_objects_and_a_zero_threshold_are_left_alone():
    R = np.stack([_standing(10.0, 25.0), _standing(-50.0, 90.0), _standing(0.0, 5.0)])
    out = snap_up_axis(R, NORMAL, 20.0)
    np.testing.assert_array_equal(out[:2], R[:2])
    assert not np.allclose(out[2], R[2])
    np.testing.assert_array_equal(snap_up_axis(R, NORMAL, 0.0), R)
    assert snap_up_axis(np.zeros((0, 3, 3)), NORMAL, 20.0).shape == (0, 3, 3)


# A standing object turned onto its side: X (camera on its side, mug with its handle up)
# or Z (camera on its back) on the normal instead of Y.
ON_SIDE = {0: _turn([0.0, 0.0, 1.0], 90.0), 2: _turn([1.0, 0.0, 0.0], -90.0)}


@pytest.mark.parametrize('axis', [0, 2])
@pytest.mark.parametrize('category, snapped', [(3, True), (6, True), (4, True), (2, True),
                                               (1, False), (5, False)])
def test_objects_resting_on_their_side_snap_the_axis_on_the_normal(axis, category, snapped):
    truth = _standing(25.0, 0.0) @ ON_SIDE[axis]
    np.testing.assert_allclose(truth[:, axis], NORMAL, atol=1e-12)
    tipped = _turn(np.cross(NORMAL, truth[:, 1]), 12.0) @ truth     # 12° off the table
    (out,) = snap_up_axis(tipped[None], NORMAL, 20.0, [category])
    if snapped:
        np.testing.assert_allclose(out, truth, atol=1e-12)
    else:               # a lying bottle slopes to its neck, a laptop leans: Y only
        np.testing.assert_array_equal(out, tipped)
    # Without categories (or 30° off) nothing is snapped.
    np.testing.assert_array_equal(snap_up_axis(tipped[None], NORMAL, 20.0)[0], tipped)
    far = _turn(np.cross(NORMAL, truth[:, 1]), 30.0) @ truth
    np.testing.assert_array_equal(snap_up_axis(far[None], NORMAL, 20.0, [category])[0], far)


def test_side_snap_needs_one_category_per_rotation():
    with pytest.raises(ValueError, match='category_ids'):
        snap_up_axis(np.stack([np.eye(3)] * 2), NORMAL, 20.0, [3])


def test_rotation_between_and_bad_arguments():
    a, b = np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.6, 0.8])
    np.testing.assert_allclose(rotation_between(a, b) @ a, b, atol=1e-12)
    np.testing.assert_array_equal(rotation_between(a, a), np.eye(3))
    with pytest.raises(ValueError, match='unit vector'):
        snap_up_axis(np.eye(3)[None], 2 * NORMAL, 20.0)
    with pytest.raises(ValueError, match='max_deg'):
        snap_up_axis(np.eye(3)[None], NORMAL, 95.0)


def _box_points(R, size=(0.3, 0.02, 0.2), n=600, seed=0):
    """Points on the top and two visible sides of a box standing on the table."""
    g = np.random.default_rng(seed)
    local = g.uniform(-0.5, 0.5, (n, 3)) * size
    local[: n // 3, 1] = size[1] / 2                    # top face
    local[n // 3: 2 * n // 3, 0] = size[0] / 2          # a side
    local[2 * n // 3:, 2] = size[2] / 2                 # another side
    return local @ R.T + np.array([0.05, 0.1, 0.9])


@pytest.mark.parametrize('category, turned', [(5, True), (3, True), (1, False)])
def test_upright_boxy_objects_turn_onto_their_footprint(category, turned):
    truth = _standing(30.0, 0.0)
    predicted = _turn(NORMAL, 12.0) @ truth             # yaw off by 12° about the normal
    points = _box_points(truth)[None]
    (out,) = align_footprint_yaw(predicted[None], points, np.array([category]), NORMAL, 25.0)
    if turned:
        err = np.degrees(np.arccos(np.clip((np.trace(out.T @ truth) - 1) / 2, -1, 1)))
        assert err < 1.0                                # the rectangle's 0.5° grid
        np.testing.assert_allclose(out[:, 1], NORMAL, atol=1e-9)
    else:                                               # a bottle has no footprint axes
        np.testing.assert_array_equal(out, predicted)


@pytest.mark.parametrize('axis', [0, 2])
def test_a_camera_on_its_side_or_back_turns_onto_its_footprint(axis):
    truth = _standing(30.0, 0.0) @ ON_SIDE[axis]
    predicted = _turn(NORMAL, -14.0) @ truth
    # The same box points as a standing box whose Y is the axis now on the normal.
    swap = np.eye(3)[:, [1, 0, 2] if axis == 0 else [0, 2, 1]]
    points = _box_points(truth @ swap)[None]
    (out,) = align_footprint_yaw(predicted[None], points, np.array([3]), NORMAL, 25.0)
    err = np.degrees(np.arccos(np.clip((np.trace(out.T @ truth) - 1) / 2, -1, 1)))
    assert err < 1.0
    np.testing.assert_allclose(out[:, axis], NORMAL, atol=1e-9)


def test_footprint_turns_are_bounded_and_need_an_upright_object():
    truth = _standing(30.0, 0.0)
    points = _box_points(truth)[None]
    far = _turn(NORMAL, 35.0) @ truth                   # nearest side 35° away
    np.testing.assert_array_equal(
        align_footprint_yaw(far[None], points, np.array([5]), NORMAL, 25.0)[0], far)
    tipped = _standing(30.0, 10.0)                      # Y 10° off the normal
    np.testing.assert_array_equal(
        align_footprint_yaw(tipped[None], points, np.array([5]), NORMAL, 25.0)[0], tipped)
    np.testing.assert_array_equal(
        align_footprint_yaw(far[None], points, np.array([5]), NORMAL, 0.0)[0], far)
    with pytest.raises(ValueError, match='max_deg'):
        align_footprint_yaw(far[None], points, np.array([5]), NORMAL, 50.0)
    with pytest.raises(ValueError, match='points'):
        align_footprint_yaw(far[None], points[0], np.array([5]), NORMAL, 25.0)


def test_seat_on_table_moves_upright_bottoms_onto_the_plane_top_fixed():
    """A table 1 m along -NORMAL from the camera; boxes 0.1 m tall (Y) whose bottom is
    at various heights above or below it. Only upright boxes whose bottom is off the
    plane by at most max_gap move it there (grown or cut), with their top face fixed;
    none is cut to a tenth of its height or less."""
    table = Plane(normal=NORMAL, offset=1.0, inliers=1000)
    ext = np.array([0.06, 0.10, 0.06])

    def centre(bottom):
        return (bottom + ext[1] / 2 - 1.0) * NORMAL      # height = n . t + 1

    cases = [('floating 4 cm', _standing(10, 0), 0.04, True),
             ('upside down, floating 4 cm', _standing(10, 0, upside_down=True), 0.04, True),
             ('on the table', _standing(10, 0), 0.0, False),
             ('1 cm into the table', _standing(10, 0), -0.01, True),
             ('upside down, 3 cm into the table', _standing(10, 0, upside_down=True), -0.03,
              True),
             ('all but 5 mm into the table', _standing(10, 0), -0.095, False),
             ('on a shelf 30 cm up', _standing(10, 0), 0.30, False),
             ('tipped 30 deg', _standing(10, 30), 0.04, False),
             ('tipped 30 deg, into the table', _standing(10, 30), -0.03, False)]
    R = np.stack([r for _, r, _, _ in cases])
    t = np.stack([centre(b) for _, _, b, _ in cases])
    scale = np.linalg.norm(ext)
    scales, sizes = np.full(len(cases), scale), np.tile(ext / scale, (len(cases), 1))
    t2, scales2, sizes2 = seat_on_table(R, t, scales, sizes, table, max_gap=0.1)
    ext2 = scales2[:, None] * sizes2
    for k, (name, _, bottom, moves) in enumerate(cases):
        top = table.height(t[k]) + ext[1] / 2
        if moves:
            assert ext2[k, 1] == pytest.approx(ext[1] + bottom), name
            assert table.height(t2[k]) + ext2[k, 1] / 2 == pytest.approx(top), name
            assert table.height(t2[k]) - ext2[k, 1] / 2 == pytest.approx(0.0, abs=1e-12), name
        else:
            np.testing.assert_allclose(t2[k], t[k], err_msg=name)
            np.testing.assert_allclose(ext2[k], ext, err_msg=name)
        np.testing.assert_allclose(ext2[k, [0, 2]], ext[[0, 2]], err_msg=name)
    # A bottom further off than max_gap, either way, stays.
    t4, s4, z4 = seat_on_table(R[[0, 3]], t[[0, 3]], scales[[0, 3]], sizes[[0, 3]], table,
                               max_gap=0.005)
    np.testing.assert_allclose(t4, t[[0, 3]])
    np.testing.assert_allclose(s4[:, None] * z4, scales[[0, 3], None] * sizes[[0, 3]])
    # Off, or no plane: nothing changes.
    for plane, gap in ((table, 0.0), (None, 0.1)):
        t3, s3, z3 = seat_on_table(R, t, scales, sizes, plane, gap)
        np.testing.assert_allclose(t3, t)
        np.testing.assert_allclose(s3[:, None] * z3, scales[:, None] * sizes)


def test_trim_top_lowers_upright_tops_onto_the_highest_point_only():
    """Boxes 0.1 m tall standing on a table (1 m along -NORMAL from the camera); each
    object's points reach some height. Only upright boxes whose top is above their
    highest point by (0, max_trim] lose that much, their bottom face staying."""
    table = Plane(normal=NORMAL, offset=1.0, inliers=1000)
    ext = np.array([0.06, 0.10, 0.06])
    centre = (ext[1] / 2 - 1.0) * NORMAL                 # bottom face on the table

    def points(top):
        """Points of a 4 cm wide slab up to height top above the table."""
        rng = np.random.default_rng(0)
        heights = rng.uniform(0.0, top, 200)
        heights[0] = top
        side = _turn(NORMAL, 90) @ np.cross(NORMAL, [1.0, 0.0, 0.0])
        return centre + np.outer(heights - ext[1] / 2, NORMAL) \
            + np.outer(rng.uniform(-0.02, 0.02, 200), side / np.linalg.norm(side))

    cases = [('a 2 cm closed laptop', _standing(10, 0), 0.02, 0.08),
             ('upside down', _standing(10, 0, upside_down=True), 0.07, 0.03),
             ('points up to the top', _standing(10, 0), 0.10, 0.0),
             ('points above the top', _standing(10, 0), 0.12, 0.0),
             ('only the lowest 5 mm seen', _standing(10, 0), 0.005, 0.0),
             ('tipped 30 deg', _standing(10, 30), 0.02, 0.0)]
    R = np.stack([r for _, r, _, _ in cases])
    t = np.tile(centre, (len(cases), 1))
    scale = np.linalg.norm(ext)
    scales, sizes = np.full(len(cases), scale), np.tile(ext / scale, (len(cases), 1))
    pts = [points(top) for _, _, top, _ in cases]
    t2, scales2, sizes2 = trim_top_to_points(R, t, scales, sizes, pts, table, max_trim=0.2)
    ext2 = scales2[:, None] * sizes2
    for k, (name, _, _, cut) in enumerate(cases):
        assert ext2[k, 1] == pytest.approx(ext[1] - cut), name
        assert table.height(t2[k]) - ext2[k, 1] / 2 == pytest.approx(0.0, abs=1e-12), name
        np.testing.assert_allclose(ext2[k, [0, 2]], ext[[0, 2]], err_msg=name)
    # A cut beyond max_trim, off, or no plane: nothing changes.
    for plane, trim in ((table, 0.05), (table, 0.0), (None, 0.2)):
        t3, s3, z3 = trim_top_to_points(R[:1], t[:1], scales[:1], sizes[:1], pts[:1], plane,
                                        trim)
        np.testing.assert_allclose(t3, t[:1])
        np.testing.assert_allclose(s3[:, None] * z3, ext[None])


def test_right_side_up_turns_only_upside_down_objects_of_the_listed_categories():
    upright, upside_down = _standing(20, 0), _standing(20, 0, upside_down=True)
    tipped = _standing(20, 30)
    R = np.stack([upside_down, upside_down, upright, tipped, upside_down])
    cats = np.array([4, 1, 4, 4, 2])                     # can, bottle, can, can, bowl
    out = right_side_up(R, cats, NORMAL, [4, 1])
    for k in (0, 1):                                      # listed and upside down: turned
        assert out[k][:, 1] @ NORMAL == pytest.approx(1.0)
        np.testing.assert_allclose(out[k][:, 0], R[k][:, 0])        # X axis kept
        np.testing.assert_allclose(out[k] @ out[k].T, np.eye(3), atol=1e-12)
        assert np.linalg.det(out[k]) == pytest.approx(1.0)
    for k in (2, 3, 4):                                   # right side up, tipped, unlisted
        np.testing.assert_array_equal(out[k], R[k])
    np.testing.assert_array_equal(right_side_up(R, cats, NORMAL, []), R)


@pytest.mark.parametrize('axis', [0, 2])
def test_boxes_resting_on_their_side_get_table_contact_and_top_trim_along_that_axis(axis):
    """A box on its side (X on the normal) or back (Z): 0.1 m along that axis, floating
    3 cm above the table, its points reaching 6 cm high. seat_on_table grows it down onto
    the table along that axis, trim_top_to_points lowers its top onto the points; the
    other extents stay."""
    table = Plane(normal=NORMAL, offset=1.0, inliers=1000)
    R = (_standing(10.0, 0.0) @ ON_SIDE[axis])[None]
    ext = np.array([0.06, 0.14, 0.06])
    ext[axis] = 0.10
    t = ((0.03 + ext[axis] / 2 - 1.0) * NORMAL)[None]        # bottom face 3 cm up
    scale = np.linalg.norm(ext)
    t, scales, sizes = seat_on_table(R, t, np.array([scale]), (ext / scale)[None], table, 0.1)
    ext2 = scales[0] * sizes[0]
    assert ext2[axis] == pytest.approx(0.13)
    assert table.height(t[0]) - ext2[axis] / 2 == pytest.approx(0.0, abs=1e-12)
    points = [t[0] + np.outer(np.linspace(-0.065, -0.005, 50), NORMAL)]   # up to 6 cm
    t, scales, sizes = trim_top_to_points(R, t, scales, sizes, points, table, 0.2)
    ext3 = scales[0] * sizes[0]
    assert ext3[axis] == pytest.approx(0.06)
    assert table.height(t[0]) - ext3[axis] / 2 == pytest.approx(0.0, abs=1e-12)
    others = [k for k in range(3) if k != axis]
    np.testing.assert_allclose(ext3[others], ext[others])


def test_trim_camera_sides_narrows_resting_cameras_about_their_centre():
    """A standing camera box 12 x 8 x 10 cm seen from the camera (origin); its points
    reach 4 cm (X) and 4.5 cm (Z) from the centre on the sides facing the camera. Both
    level extents shrink about the centre by up to max_trim per face; the height (Y),
    a bottle's box, a tipped camera and an off switch are left alone."""
    table = Plane(normal=NORMAL, offset=1.0, inliers=1000)
    R = _standing(30.0, 0.0)
    t = np.array([0.05, 0.1, 0.9])
    ext = np.array([0.12, 0.08, 0.10])
    toward = [-np.sign(R[:, k] @ t) for k in range(3)]      # sides facing the camera
    g = np.random.default_rng(0)
    local = g.uniform(-1, 1, (300, 3)) * [0.04, 0.04, 0.045]
    local[0, 0], local[1, 2] = 0.04 * toward[0], 0.045 * toward[2]
    pts = local @ R.T + t
    scale = np.linalg.norm(ext)
    tipped = _standing(30.0, 20.0)
    Rs = np.stack([R, R, tipped])
    out = trim_camera_sides(Rs, np.tile(t, (3, 1)), np.full(3, scale),
                            np.tile(ext / scale, (3, 1)), [pts] * 3, [3, 1, 3], table, 0.03)
    t2, ext2 = out[0], out[1][:, None] * out[2]
    np.testing.assert_allclose(t2, np.tile(t, (3, 1)))
    np.testing.assert_allclose(ext2[0], [0.08, 0.08, 0.09], atol=1e-12)
    np.testing.assert_allclose(ext2[1:], np.tile(ext, (2, 1)), atol=1e-12)
    # A cut beyond max_trim (2 cm on X), off, or no plane: X or everything stays.
    _, s3, z3 = trim_camera_sides(R[None], t[None], [scale], (ext / scale)[None], [pts], [3],
                                  table, 0.01)
    np.testing.assert_allclose(s3[0] * z3[0], [0.12, 0.08, 0.09], atol=1e-12)
    for plane, trim in ((table, 0.0), (None, 0.03)):
        _, s4, z4 = trim_camera_sides(R[None], t[None], [scale], (ext / scale)[None], [pts],
                                      [3], plane, trim)
        np.testing.assert_allclose(s4[0] * z4[0], ext)
