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

"""FrameResult -> detections, object poses, TF, markers, debug image, diagnostics."""

from __future__ import annotations

import numpy as np
import pytest
from ros_factories import (fixture_result6, fixture_types, FRAME_ID,  # noqa: F401 (fixtures)
                           K_640, random_result, STAMP_NS)
import torch

from cleanpose_core.geometry.transforms import (matrix_to_quaternion_xyzw,
                                                quaternion_xyzw_to_matrix)
from cleanpose_core.pipeline.results import Frame
from cleanpose_ros.conversions import make_header, stamp_to_ns
from cleanpose_ros.outputs import (annotate_image, MARKER_NAMESPACES, MarkerState,
                                   PipelineStats, result_to_detections, result_to_markers,
                                   result_to_messages, result_to_object_poses,
                                   result_to_transforms, rotations_to_quaternions_xyzw,
                                   stats_to_diagnostics)


@pytest.fixture
def header(T):
    return make_header(T, STAMP_NS, FRAME_ID)


def _round_trip(T, msg):
    """Serialise to CDR and back: fails when a field is missing or mistyped."""
    return T.typestore.deserialize_cdr(T.serialize(msg), msg.__msgtype__)


def _R_of(q) -> np.ndarray:
    xyzw = torch.tensor([q.x, q.y, q.z, q.w], dtype=torch.float64)
    return quaternion_xyzw_to_matrix(xyzw).numpy()


@pytest.mark.parametrize('batch', [0, 1, 7])
def test_quaternions_match_geometry_transforms(batch):
    R = random_result(batch, seed=3).R_cam_obj
    expected = matrix_to_quaternion_xyzw(torch.from_numpy(R)).numpy()
    np.testing.assert_allclose(rotations_to_quaternions_xyzw(R), expected.reshape(batch, 4),
                               atol=1e-12)


def test_detections(T, header, result6):
    msg = _round_trip(T, result_to_detections(T, result6, header))
    assert msg.header.frame_id == FRAME_ID and stamp_to_ns(msg.header.stamp) == STAMP_NS
    assert len(msg.detections) == 6
    for i, det in enumerate(msg.detections):
        hyp = det.results[0]
        assert hyp.hypothesis.class_id == result6[i].category
        assert hyp.hypothesis.score == pytest.approx(result6.scores[i])
        assert det.id == str(result6.track_ids[i])
        p = det.bbox.center.position
        np.testing.assert_allclose([p.x, p.y, p.z], result6.t_cam_obj[i])
        np.testing.assert_allclose(_R_of(det.bbox.center.orientation), result6.R_cam_obj[i],
                                   atol=1e-9)
        s = det.bbox.size
        np.testing.assert_allclose([s.x, s.y, s.z], result6[i].extents)
        assert hyp.pose.pose.position.z == pytest.approx(result6.t_cam_obj[i, 2])
        assert det.header.frame_id == FRAME_ID


def test_object_poses(T, header, result6):
    msg = _round_trip(T, result_to_object_poses(T, result6, header, tf_prefix='cp/'))
    assert [o.frame_id for o in msg.objects] == [
        'cp/bottle_1', 'cp/bowl_2', 'cp/camera_3', 'cp/can_4', 'cp/laptop_5', 'cp/mug_6']
    for i, obj in enumerate(msg.objects):
        assert (obj.category_id, obj.track_id) == (result6.category_ids[i], i + 1)
        assert obj.nocs_scale == pytest.approx(result6.scales[i])
        np.testing.assert_allclose(obj.box_xyxy, result6.boxes_xyxy[i], rtol=1e-6)
        np.testing.assert_allclose([obj.size.x, obj.size.y, obj.size.z], result6[i].extents)
        np.testing.assert_allclose(_R_of(obj.pose.orientation), result6.R_cam_obj[i],
                                   atol=1e-9)


def test_transforms_stamped_with_image_time(T, header, result6):
    tfs = result_to_transforms(T, result6, header, tf_prefix='cleanpose/')
    msg = _round_trip(T, T.TFMessage(transforms=tfs))
    names = [t.child_frame_id for t in msg.transforms]
    assert names[:2] == ['cleanpose/bottle_1', 'cleanpose/bowl_2']
    for i, t in enumerate(msg.transforms):
        assert t.header.frame_id == FRAME_ID and stamp_to_ns(t.header.stamp) == STAMP_NS
        v = t.transform.translation
        np.testing.assert_allclose([v.x, v.y, v.z], result6.t_cam_obj[i])
        np.testing.assert_allclose(_R_of(t.transform.rotation), result6.R_cam_obj[i],
                                   atol=1e-9)


def test_negative_track_ids_fall_back_to_index(T, header):
    result = random_result(3, track_ids=[-1, 7, -1])
    msg = result_to_object_poses(T, result, header)
    assert [o.track_id for o in msg.objects] == [0, 7, 2]


def _by_ns(msg):
    out = {}
    for m in msg.markers:
        out.setdefault(m.ns, []).append(m)
    return out


def test_markers_boxes_axes_labels(T, header, result6):
    M = T.Marker
    msg = _round_trip(T, result_to_markers(T, result6, header, MarkerState()))
    by_ns = _by_ns(msg)
    assert sorted(by_ns) == sorted(MARKER_NAMESPACES)
    for ns in MARKER_NAMESPACES:
        assert [m.id for m in by_ns[ns]] == [1, 2, 3, 4, 5, 6]
        assert all(m.action == M.ADD and m.header.frame_id == FRAME_ID for m in by_ns[ns])
    box = by_ns['boxes'][2]
    assert box.type == M.LINE_LIST and len(box.points) == 24
    pts = np.array([[p.x, p.y, p.z] for p in box.points])
    # The box lives in the object frame: its corners are +-extents/2.
    np.testing.assert_allclose(np.abs(pts).max(axis=0), result6[2].extents / 2)
    np.testing.assert_allclose(_R_of(box.pose.orientation), result6.R_cam_obj[2], atol=1e-9)
    axes = by_ns['axes'][0]
    assert len(axes.points) == 6 and [(c.r, c.g, c.b) for c in axes.colors[::2]] == [
        (1, 0, 0), (0, 1, 0), (0, 0, 1)]
    label = by_ns['labels'][5]
    assert label.type == M.TEXT_VIEW_FACING and label.text.startswith('mug #6 ')
    # Labels float above the object: smaller y in the optical frame (y points down).
    assert label.pose.position.y < result6.t_cam_obj[5, 1]


def test_vanished_tracks_get_delete_markers(T, header):
    state = MarkerState()
    result_to_markers(T, random_result(3, track_ids=[4, 5, 6]), header, state)
    msg = result_to_markers(T, random_result(2, track_ids=[5, 9]), header, state)
    deletes = [(m.ns, m.id) for m in msg.markers if m.action == T.Marker.DELETE]
    assert sorted(deletes) == sorted((ns, i) for ns in MARKER_NAMESPACES for i in (4, 6))
    adds = {m.id for m in msg.markers if m.action == T.Marker.ADD}
    assert adds == {5, 9} and state.previous_ids == {5, 9}
    empty = result_to_markers(T, random_result(0), header, state)
    assert sorted((m.ns, m.id) for m in empty.markers) == sorted(
        (ns, i) for ns in MARKER_NAMESPACES for i in (5, 9))


def test_annotate_image_draws_without_touching_input(result6):
    color = np.zeros((480, 640, 3), np.uint8)
    frame = Frame(color=color, depth=np.ones((480, 640), np.float32), K=K_640)
    image = annotate_image(frame, result6)
    assert image.shape == color.shape and image.dtype == np.uint8
    assert not color.any()
    x1, y1, x2, y2 = result6.boxes_xyxy[0].round().astype(int)
    assert image[y1, x1:x2].any()  # top edge of the 2D box
    assert (image.reshape(-1, 3).any(axis=1)).sum() > 2000


def test_annotate_skips_boxes_behind_camera():
    result = random_result(1)
    result = type(result)(**{**result.__dict__, 't_cam_obj': np.array([[0.0, 0.0, -1.0]])})
    frame = Frame(color=np.zeros((48, 64, 3), np.uint8), depth=np.ones((48, 64), np.float32),
                  K=K_640)
    assert annotate_image(frame, result).shape == (48, 64, 3)


def test_diagnostics_levels_and_values(T, result6):
    S = T.DiagnosticStatus
    stats = PipelineStats()
    first = stats_to_diagnostics(T, stats, STAMP_NS).status[0]
    assert first.level == S.STALE
    stats.received, stats.dropped = 5, 2
    stats.add_result(result6, convert_ms=0.8)
    msg = _round_trip(T, stats_to_diagnostics(T, stats, STAMP_NS))
    status = msg.status[0]
    values = {kv.key: kv.value for kv in status.values}
    assert status.level == S.OK
    assert values['frames_dropped'] == '2' and values['frames_processed'] == '1'
    assert values['latency_ms.convert'] == '0.80' and values['latency_ms.network'] == '30.00'
    assert values['skipped.too_few_points'] == '1'
    stats.rejected['intrinsics'] += 3
    warn = stats_to_diagnostics(T, stats, STAMP_NS).status[0]
    assert warn.level == S.WARN and warn.message == '3 messages rejected: intrinsics=3'
    assert stats_to_diagnostics(T, stats, STAMP_NS).status[0].level == S.OK


@pytest.mark.parametrize('n', [0, 6])
@pytest.mark.parametrize('debug', [False, True], ids=['plain', 'debug_image'])
def test_result_to_messages_serialises(T, header, n, debug):
    result = random_result(n)
    frame = Frame(color=np.zeros((480, 640, 3), np.uint8), depth=np.ones((480, 640), np.float32),
                  K=K_640, stamp_ns=STAMP_NS, frame_id=FRAME_ID)
    out = result_to_messages(T, frame, result, header, MarkerState(), 'cp/', debug)
    assert len(_round_trip(T, out.detections).detections) == n
    assert len(_round_trip(T, out.objects).objects) == n
    assert len(_round_trip(T, out.tf).transforms) == n
    assert len(_round_trip(T, out.markers).markers) == 3 * n
    if debug:
        assert _round_trip(T, out.debug_image).encoding == 'rgb8'
    else:
        assert out.debug_image is None
