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

"""Tracker: stable ids, occlusions, crossings, smoothing."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from cleanpose_core.pipeline.tracker import align_symmetric_rotation, box_iou_2d, Tracker

K = np.array([[600.0, 0, 320], [0, 600.0, 240], [0, 0, 1]])


def _frame(cats, centres, rotations=None, scale=0.2):
    """Detections at the given centres with image boxes from a pinhole projection."""
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 3)
    n = len(centres)
    R = np.tile(np.eye(3), (n, 1, 1)) if rotations is None else np.asarray(rotations)
    uv = centres @ K.T
    uv = uv[:, :2] / uv[:, 2:]
    half = 600.0 * 0.5 * scale / centres[:, 2:]
    boxes = np.concatenate([uv - half, uv + half], axis=1)
    return dict(category_ids=np.asarray(cats), R_cam_obj=R, t_cam_obj=centres,
                scales=np.full(n, scale), sizes=np.tile([0.5, 0.7, 0.5], (n, 1)),
                boxes_xyxy=boxes.reshape(n, 4))


def test_ids_stable_under_small_motion():
    tracker = Tracker()
    rng = np.random.default_rng(0)
    base = np.array([[0.0, 0.0, 1.0], [0.3, 0.0, 1.0], [-0.3, 0.1, 1.2]])
    first = tracker.update(**_frame([1, 2, 6], base)).track_ids
    assert sorted(first.tolist()) == [1, 2, 3]
    for _ in range(10):
        moved = base + rng.normal(0.0, 0.01, base.shape)
        assert tracker.update(**_frame([1, 2, 6], moved)).track_ids.tolist() == first.tolist()


def test_detection_order_does_not_matter():
    tracker = Tracker()
    base = np.array([[0.0, 0.0, 1.0], [0.3, 0.0, 1.0]])
    first = tracker.update(**_frame([1, 1], base)).track_ids
    again = tracker.update(**_frame([1, 1], base[::-1])).track_ids
    assert again.tolist() == first[::-1].tolist()


def test_new_object_gets_new_id():
    tracker = Tracker()
    tracker.update(**_frame([1], [[0.0, 0.0, 1.0]]))
    ids = tracker.update(**_frame([1, 4], [[0.0, 0.0, 1.0], [0.4, 0.0, 1.0]])).track_ids
    assert ids.tolist() == [1, 2]


def test_other_category_at_same_place_is_a_new_track_without_voting():
    tracker = Tracker(relabel_iou=None)
    tracker.update(**_frame([1], [[0.0, 0.0, 1.0]]))
    assert tracker.update(**_frame([2], [[0.0, 0.0, 1.0]])).track_ids.tolist() == [2]


def test_one_frame_category_flicker_keeps_id_category_and_pose():
    tracker = Tracker()
    turned = Rotation.from_euler('y', 40, degrees=True).as_matrix()[None]
    for _ in range(3):
        tracker.update(**_frame([6], [[0.0, 0.0, 1.0]]))            # a mug
    flicker = _frame([3], [[0.01, 0.0, 1.0]], rotations=turned)     # called a camera once
    flicker['scales'] = np.array([0.3])
    out = tracker.update(**flicker)
    assert out.track_ids.tolist() == [1]
    assert out.category_ids.tolist() == [6]
    np.testing.assert_allclose(out.R_cam_obj[0], np.eye(3))        # the mug's rotation
    assert out.scales[0] == pytest.approx(0.2)                      # and size
    np.testing.assert_allclose(out.t_cam_obj[0], [0.01, 0.0, 1.0])  # the new position
    again = tracker.update(**_frame([6], [[0.0, 0.0, 1.0]]))
    assert again.track_ids.tolist() == [1] and again.category_ids.tolist() == [6]


def test_lasting_relabel_takes_over_after_a_few_frames():
    tracker = Tracker(vote_decay=0.8)
    for _ in range(5):
        tracker.update(**_frame([6], [[0.0, 0.0, 1.0]]))
    turned = Rotation.from_euler('y', 40, degrees=True).as_matrix()[None]
    cats = [tracker.update(**_frame([3], [[0.0, 0.0, 1.0]], rotations=turned)).category_ids[0]
            for _ in range(8)]
    switch = cats.index(3)
    assert 1 <= switch <= 6 and set(cats[switch:]) == {3}
    out = tracker.update(**_frame([3], [[0.0, 0.0, 1.0]], rotations=turned))
    assert out.track_ids.tolist() == [1]
    np.testing.assert_allclose(out.R_cam_obj[0], turned[0], atol=1e-9)  # the camera's pose


def test_votes_are_weighted_by_score():
    tracker = Tracker()
    tracker.update(**_frame([6], [[0.0, 0.0, 1.0]]), scores=np.array([0.2]))
    out = tracker.update(**_frame([3], [[0.0, 0.0, 1.0]]), scores=np.array([0.9]))
    assert out.track_ids.tolist() == [1] and out.category_ids.tolist() == [3]


def test_neighbours_of_two_categories_do_not_swap_names():
    tracker = Tracker()
    centres = np.array([[0.0, 0.0, 1.0], [0.05, 0.0, 1.0]])       # boxes overlap (IoU 0.6)
    first = tracker.update(**_frame([6, 2], centres))
    for _ in range(3):
        out = tracker.update(**_frame([2, 6], centres[::-1]))
        assert out.track_ids.tolist() == first.track_ids[::-1].tolist()
        assert out.category_ids.tolist() == [2, 6]


def test_other_category_without_box_overlap_is_a_new_track():
    tracker = Tracker(relabel_iou=0.9)
    tracker.update(**_frame([6], [[0.0, 0.0, 1.0]]))
    out = tracker.update(**_frame([3], [[0.05, 0.0, 1.0]]))          # IoU ~0.6 < 0.9
    assert out.track_ids.tolist() == [2] and out.category_ids.tolist() == [3]


def test_far_jump_is_a_new_track():
    tracker = Tracker(max_distance_m=0.1)
    tracker.update(**_frame([1], [[0.0, 0.0, 1.0]]))
    assert tracker.update(**_frame([1], [[0.5, 0.0, 1.0]])).track_ids.tolist() == [2]


@pytest.mark.parametrize('gap,expect_same', [(1, True), (3, True), (5, True), (6, False)],
                         ids=['gap1', 'gap3', 'gap5', 'gap6-expired'])
def test_id_reused_after_short_occlusion(gap, expect_same):
    tracker = Tracker(max_missed=5)
    obj = [[0.1, 0.0, 1.0]]
    other = [[-0.4, 0.0, 1.0]]
    tracker.update(**_frame([1, 5], obj + other))
    for _ in range(gap):
        tracker.update(**_frame([5], other))
    ids = tracker.update(**_frame([1, 5], obj + other)).track_ids
    assert ids[1] == 2
    assert bool(ids[0] == 1) is expect_same


def test_no_switch_when_two_objects_cross_at_distance():
    # Two mugs move past each other along x; one at 0.8 m, one at 1.2 m depth:
    # their image boxes overlap at the crossing, their 3D centres never come close.
    tracker = Tracker()
    n = 15
    xs = np.linspace(-0.3, 0.3, n)
    history = []
    for i in range(n):
        centres = [[xs[i], 0.0, 0.8], [-xs[i], 0.0, 1.2]]
        history.append(tracker.update(**_frame([6, 6], centres)).track_ids.tolist())
    assert all(h == [1, 2] for h in history)


def test_no_switch_when_two_same_depth_objects_pass_close():
    # Two cans move toward each other at the same depth and separate again, 2 cm per frame
    # each, passing 2 cm apart in y.
    tracker = Tracker(max_distance_m=0.05)
    xs = np.linspace(-0.2, 0.2, 21)
    for x in xs:
        ids = tracker.update(**_frame([4, 4], [[x, 0.01, 1.0], [-x, -0.01, 1.0]],
                                      scale=0.05)).track_ids
        assert ids.tolist() == [1, 2]


@pytest.mark.parametrize('damping,expected_id', [(0.5, 1), (0.0, 2)],
                         ids=['velocity', 'no-velocity'])
def test_motion_model_bridges_missed_frames(damping, expected_id):
    # 4 cm per frame, gate 5 cm, two frames missed: the object reappears 12 cm away.
    tracker = Tracker(max_distance_m=0.05, velocity_damping=damping)
    for i in range(4):
        tracker.update(**_frame([2], [[0.04 * i, 0.0, 1.0]], scale=0.05))
    tracker.update(**_frame([], np.zeros((0, 3))))
    tracker.update(**_frame([], np.zeros((0, 3))))
    ids = tracker.update(**_frame([2], [[0.04 * 6, 0.0, 1.0]], scale=0.05)).track_ids
    assert ids.tolist() == [expected_id]


def test_empty_frames_and_live_ids():
    tracker = Tracker(max_missed=1)
    out = tracker.update(**_frame([], np.zeros((0, 3))))
    assert out.track_ids.shape == (0,) and out.R_cam_obj.shape == (0, 3, 3)
    tracker.update(**_frame([3], [[0.0, 0.0, 1.0]]))
    assert tracker.live_track_ids == [1]
    tracker.update(**_frame([], np.zeros((0, 3))))
    assert tracker.live_track_ids == [1]
    tracker.update(**_frame([], np.zeros((0, 3))))
    assert tracker.live_track_ids == []


def test_smoothing_blends_translation_and_scale():
    tracker = Tracker(smoothing=0.5)
    tracker.update(**_frame([1], [[0.0, 0.0, 1.0]], scale=0.2))
    out = tracker.update(**_frame([1], [[0.04, 0.0, 1.0]], scale=0.3))
    np.testing.assert_allclose(out.t_cam_obj[0], [0.02, 0.0, 1.0])
    np.testing.assert_allclose(out.scales[0], 0.25)


def test_smoothing_off_returns_raw_detections():
    tracker = Tracker(smoothing=0.0)
    tracker.update(**_frame([1], [[0.0, 0.0, 1.0]]))
    det = _frame([1], [[0.04, 0.0, 1.0]], scale=0.3)
    out = tracker.update(**det)
    np.testing.assert_allclose(out.t_cam_obj, det['t_cam_obj'])
    np.testing.assert_allclose(out.scales, det['scales'])


def test_rotation_smoothing_is_slerp():
    tracker = Tracker(smoothing=0.5)
    R0 = Rotation.from_rotvec([0.0, 0.0, 0.0]).as_matrix()
    R1 = Rotation.from_rotvec([0.4, 0.0, 0.0]).as_matrix()  # about camera x, camera
    tracker.update(**_frame([5], [[0.0, 0.0, 1.0]], rotations=R0[None]))
    out = tracker.update(**_frame([5], [[0.0, 0.0, 1.0]], rotations=R1[None]))
    expected = Rotation.from_rotvec([0.2, 0.0, 0.0]).as_matrix()
    np.testing.assert_allclose(out.R_cam_obj[0], expected, atol=1e-9)


def test_symmetric_rotation_smoothing_ignores_turns_about_y():
    # A bottle whose predicted rotation spins about its own Y axis between frames:
    # smoothing must not average toward a tilted mean; the Y axis stays put.
    tracker = Tracker(smoothing=0.5)
    tilt = Rotation.from_rotvec([0.3, 0.0, 0.0])
    R0 = (tilt * Rotation.from_rotvec([0.0, 0.0, 0.0])).as_matrix()
    R1 = (tilt * Rotation.from_rotvec([0.0, 2.5, 0.0])).as_matrix()
    tracker.update(**_frame([1], [[0.0, 0.0, 1.0]], rotations=R0[None]))
    out = tracker.update(**_frame([1], [[0.0, 0.0, 1.0]], rotations=R1[None]))
    np.testing.assert_allclose(out.R_cam_obj[0][:, 1], R1[:, 1], atol=1e-9)
    np.testing.assert_allclose(out.R_cam_obj[0], R1, atol=1e-9)


def test_align_symmetric_rotation_recovers_turn():
    base = Rotation.from_rotvec([0.2, -0.5, 0.1]).as_matrix()
    turned = base @ Rotation.from_rotvec([0.0, 1.9, 0.0]).as_matrix()
    np.testing.assert_allclose(align_symmetric_rotation(base, turned), base, atol=1e-9)


@pytest.mark.parametrize('a,b,expected', [
    ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
    ([0, 0, 10, 10], [5, 0, 15, 10], 1.0 / 3.0),
    ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),
    ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),
], ids=['same', 'half-shift', 'disjoint', 'degenerate'])
def test_box_iou_2d(a, b, expected):
    assert box_iou_2d(np.array([a]), np.array([b]))[0, 0] == pytest.approx(expected)


def test_update_rejects_mismatched_shapes():
    det = _frame([1, 2], [[0.0, 0.0, 1.0], [0.2, 0.0, 1.0]])
    det['scales'] = np.ones(3)
    with pytest.raises(ValueError, match='scales'):
        Tracker().update(**det)


@pytest.mark.parametrize('kwargs,match', [
    (dict(max_distance_m=0.0), 'max_distance_m'),
    (dict(max_missed=-1), 'max_missed'),
    (dict(smoothing=1.0), 'smoothing'),
    (dict(relabel_iou=0.0), 'relabel_iou'),
    (dict(vote_decay=1.0), 'vote_decay'),
], ids=['distance', 'missed', 'smoothing', 'relabel', 'decay'])
def test_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Tracker(**kwargs)
