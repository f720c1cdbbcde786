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

"""FrameResult -> the messages the node publishes (and the bag tool writes).

Detection3DArray, ObjectPoseArray, TF, MarkerArray, an annotated image and
diagnostics, all stamped with the image time and expressed in the colour camera's
optical frame (the header copied from the colour image). ``result_to_messages``
builds one frame's set once; the node publishes it, the bag tool writes it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from cleanpose_core.categories import category_name
from cleanpose_core.draw import box_corners_np, CATEGORY_COLORS as IMAGE_COLORS, draw_pose
from cleanpose_core.geometry.boxes import BOX_EDGES
from cleanpose_core.pipeline.results import Frame, FrameResult
from cleanpose_ros.conversions import ns_to_time, rgb_to_image
from cleanpose_ros.msg_types import MessageTypes

__all__ = ['OUTPUT_TOPICS', 'MARKER_NAMESPACES', 'CATEGORY_COLORS', 'MarkerState',
           'rotations_to_quaternions_xyzw',
           'PipelineStats', 'OutputMessages', 'object_frame_name', 'result_to_detections',
           'result_to_object_poses', 'result_to_transforms', 'result_to_markers',
           'annotate_image', 'stats_to_diagnostics', 'result_to_messages']

# output -> (topic, message name); relative topics resolve in the node's namespace.
OUTPUT_TOPICS = {
    'detections': ('detections', 'Detection3DArray'),
    'objects': ('objects', 'ObjectPoseArray'),
    'markers': ('markers', 'MarkerArray'),
    'debug_image': ('debug_image', 'Image'),
    'tf': ('/tf', 'TFMessage'),
    'diagnostics': ('/diagnostics', 'DiagnosticArray'),
}
MARKER_NAMESPACES = ('boxes', 'axes', 'labels')
# RGB in [0, 1] per category id 1..6 (bottle, bowl, camera, can, laptop, mug): the
# colours of the annotated images, so RViz markers and debug image agree.
CATEGORY_COLORS = tuple(tuple(round(c / 255.0, 3) for c in rgb) for rgb in IMAGE_COLORS)
_EDGE_INDEX = np.asarray(BOX_EDGES, dtype=np.int64).reshape(-1)
_LINE_WIDTH = 0.004   # metres
_TEXT_HEIGHT = 0.03   # metres


def object_frame_name(tf_prefix: str, category: str, track_id: int) -> str:
    """Return the TF child frame of one object: ``{tf_prefix}{category}_{track_id}``."""
    return f'{tf_prefix}{category}_{int(track_id)}'


@dataclass(frozen=True)
class _Objects:
    """Per-object values every output needs, computed once per frame."""

    categories: list
    ids: np.ndarray          # (B,) int64 track ids (index when a track id is negative)
    quats_xyzw: np.ndarray   # (B, 4)
    t_cam_obj: np.ndarray    # (B, 3) metres
    extents: np.ndarray      # (B, 3) metres
    frames: list             # TF child frame names


def rotations_to_quaternions_xyzw(R_cam_obj: np.ndarray) -> np.ndarray:
    """Convert rotation matrices to unit quaternions (x, y, z, w) with w >= 0.

    The numerically stable branch (largest of 4w^2, 4x^2, 4y^2, 4z^2) per matrix, in
    numpy: geometry.transforms.matrix_to_quaternion_xyzw computes the same (tested equal)
    but a torch call per frame costs a quarter of the 2 ms conversion budget.

    Args:
        R_cam_obj: (B, 3, 3) rotations, object -> camera.

    Returns:
        (B, 4) float64 quaternions, real part last.
    """
    m = np.asarray(R_cam_obj, dtype=np.float64).reshape(-1, 9)
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m.T
    sq = np.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22,
                   1 - m00 + m11 - m22, 1 - m00 - m11 + m22], axis=1)  # 4 * (w, x, y, z)^2
    cand = np.stack([
        np.stack([sq[:, 0], m21 - m12, m02 - m20, m10 - m01], axis=1),
        np.stack([m21 - m12, sq[:, 1], m10 + m01, m02 + m20], axis=1),
        np.stack([m02 - m20, m10 + m01, sq[:, 2], m21 + m12], axis=1),
        np.stack([m10 - m01, m20 + m02, m12 + m21, sq[:, 3]], axis=1)], axis=1)
    best = np.argmax(sq, axis=1)
    wxyz = cand[np.arange(len(m)), best]
    wxyz /= np.linalg.norm(wxyz, axis=1, keepdims=True).clip(1e-12)
    wxyz[wxyz[:, 0] < 0] *= -1
    return np.concatenate([wxyz[:, 1:], wxyz[:, :1]], axis=1)


def _objects(result: FrameResult, tf_prefix: str) -> _Objects:
    n = len(result)
    R = np.asarray(result.R_cam_obj, dtype=np.float64).reshape(n, 3, 3)
    quats = rotations_to_quaternions_xyzw(R)
    ids = np.asarray(result.track_ids, dtype=np.int64).copy()
    ids[ids < 0] = np.arange(n)[ids < 0]
    categories = [category_name(c) for c in result.category_ids]
    scales = np.asarray(result.scales, np.float64).reshape(n, 1)
    extents = scales * np.asarray(result.sizes, np.float64).reshape(n, 3)
    frames = [object_frame_name(tf_prefix, c, i) for c, i in zip(categories, ids)]
    return _Objects(categories, ids, quats, np.asarray(result.t_cam_obj, np.float64), extents,
                    frames)


def _pose(types: MessageTypes, t: Any, q: Any) -> Any:
    tx, ty, tz = (float(v) for v in t)
    qx, qy, qz, qw = (float(v) for v in q)
    return types.Pose(position=types.Point(x=tx, y=ty, z=tz),
                      orientation=types.Quaternion(x=qx, y=qy, z=qz, w=qw))


def _vector3(types: MessageTypes, v: Any) -> Any:
    x, y, z = (float(c) for c in v)
    return types.Vector3(x=x, y=y, z=z)


def result_to_detections(types: MessageTypes, result: FrameResult, header: Any,
                         objects: Optional[_Objects] = None) -> Any:
    """Return a vision_msgs/Detection3DArray: class_id = category name, id = track id.

    The bbox centre is the object pose, its size the metric extents along the object
    axes; the pose covariance is all zero (unknown).
    """
    objects = objects or _objects(result, '')
    detections = []
    for i in range(len(result)):
        pose = _pose(types, objects.t_cam_obj[i], objects.quats_xyzw[i])
        hypothesis = types.ObjectHypothesisWithPose(
            hypothesis=types.ObjectHypothesis(class_id=objects.categories[i],
                                              score=float(result.scores[i])),
            pose=types.PoseWithCovariance(pose=pose, covariance=np.zeros(36)))
        detections.append(types.Detection3D(
            header=header, results=[hypothesis],
            bbox=types.BoundingBox3D(center=pose, size=_vector3(types, objects.extents[i])),
            id=str(int(objects.ids[i]))))
    return types.Detection3DArray(header=header, detections=detections)


def result_to_object_poses(types: MessageTypes, result: FrameResult, header: Any,
                           tf_prefix: str = '', objects: Optional[_Objects] = None) -> Any:
    """Return a cleanpose_ros/ObjectPoseArray with the full result of one frame."""
    objects = objects or _objects(result, tf_prefix)
    poses = []
    for i in range(len(result)):
        poses.append(types.ObjectPose(
            category=objects.categories[i], category_id=int(result.category_ids[i]),
            score=float(result.scores[i]), track_id=int(objects.ids[i]),
            frame_id=objects.frames[i],
            pose=_pose(types, objects.t_cam_obj[i], objects.quats_xyzw[i]),
            size=_vector3(types, objects.extents[i]), nocs_scale=float(result.scales[i]),
            box_xyxy=np.asarray(result.boxes_xyxy[i], dtype=np.float32)))
    return types.ObjectPoseArray(header=header, objects=poses)


def result_to_transforms(types: MessageTypes, result: FrameResult, header: Any,
                         tf_prefix: str = '', objects: Optional[_Objects] = None) -> list:
    """Return one geometry_msgs/TransformStamped per object: camera frame -> object frame.

    Stamped with the image time (the header's), never "now".
    """
    objects = objects or _objects(result, tf_prefix)
    out = []
    for i in range(len(result)):
        t, q = objects.t_cam_obj[i], objects.quats_xyzw[i]
        out.append(types.TransformStamped(
            header=header, child_frame_id=objects.frames[i],
            transform=types.Transform(
                translation=_vector3(types, t),
                rotation=types.Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]),
                                          w=float(q[3])))))
    return out


class MarkerState:
    """Remembers the marker ids of the last frame, so vanished objects get DELETE markers."""

    def __init__(self) -> None:
        self.previous_ids: set = set()

    def update(self, ids: np.ndarray) -> list:
        """Record this frame's ids; return the sorted ids of the last frame that vanished."""
        current = {int(i) for i in ids}
        vanished = sorted(self.previous_ids - current)
        self.previous_ids = current
        return vanished


def _marker(types: MessageTypes, header: Any, ns: str, marker_id: int, kind: int,
            action: int, pose: Any, scale: tuple, rgba: tuple, points: list, colors: list,
            text: str, empty: tuple) -> Any:
    texture, mesh_file = empty
    return types.Marker(
        header=header, ns=ns, id=int(marker_id), type=kind, action=action, pose=pose,
        scale=types.Vector3(x=scale[0], y=scale[1], z=scale[2]),
        color=types.ColorRGBA(r=rgba[0], g=rgba[1], b=rgba[2], a=rgba[3]),
        lifetime=types.Duration(sec=0, nanosec=0), frame_locked=False, points=points,
        colors=colors, texture_resource='', texture=texture, uv_coordinates=[], text=text,
        mesh_resource='', mesh_file=mesh_file, mesh_use_embedded_materials=False)


def result_to_markers(types: MessageTypes, result: FrameResult, header: Any,
                      state: MarkerState, objects: Optional[_Objects] = None) -> Any:
    """Return a MarkerArray: oriented boxes, axes and labels; DELETE for vanished objects.

    One namespace per kind (MARKER_NAMESPACES), marker id = track id. Boxes and axes are
    LINE_LISTs in the object frame (marker pose = object pose); labels float above the
    box (toward -y of the optical frame). ``state`` is updated.
    """
    objects = objects or _objects(result, '')
    M = types.Marker
    empty = (types.CompressedImage(header=header, format='', data=types.uint8_seq(b'')),
             types.MeshFile(filename='', data=types.uint8_seq(b'')))
    identity = _pose(types, np.zeros(3), np.array([0.0, 0.0, 0.0, 1.0]))
    markers = []
    for i in range(len(result)):
        cid, tid = int(result.category_ids[i]), int(objects.ids[i])
        rgb = CATEGORY_COLORS[cid - 1]
        pose = _pose(types, objects.t_cam_obj[i], objects.quats_xyzw[i])
        # In the marker's own (object) frame: identity pose, metric extents.
        corners = box_corners_np(np.eye(3), np.zeros(3), 1.0, objects.extents[i])
        Point = types.Point
        points = [Point(x=x, y=y, z=z) for x, y, z in corners[_EDGE_INDEX].tolist()]
        markers.append(_marker(types, header, 'boxes', tid, M.LINE_LIST, M.ADD, pose,
                               (_LINE_WIDTH, 0.0, 0.0), (*rgb, 1.0), points, [], '', empty))
        length = max(float(objects.extents[i].max()) * 0.5, 0.02)
        axis_points, axis_colors = [], []
        for axis in range(3):
            tip = np.zeros(3)
            tip[axis] = length
            colour = types.ColorRGBA(r=float(axis == 0), g=float(axis == 1), b=float(axis == 2),
                                     a=1.0)
            axis_points += [types.Point(x=0.0, y=0.0, z=0.0),
                            types.Point(x=float(tip[0]), y=float(tip[1]), z=float(tip[2]))]
            axis_colors += [colour, colour]
        markers.append(_marker(types, header, 'axes', tid, M.LINE_LIST, M.ADD, pose,
                               (_LINE_WIDTH, 0.0, 0.0), (1.0, 1.0, 1.0, 1.0), axis_points,
                               axis_colors, '', empty))
        above = objects.t_cam_obj[i] - np.array([0.0, np.linalg.norm(objects.extents[i]) / 2
                                                 + _TEXT_HEIGHT, 0.0])
        label = f'{objects.categories[i]} #{tid} {float(result.scores[i]):.2f}'
        markers.append(_marker(types, header, 'labels', tid, M.TEXT_VIEW_FACING, M.ADD,
                               _pose(types, above, np.array([0.0, 0.0, 0.0, 1.0])),
                               (0.0, 0.0, _TEXT_HEIGHT), (*rgb, 1.0), [], [], label, empty))
    for tid in state.update(objects.ids):
        for ns in MARKER_NAMESPACES:
            markers.append(_marker(types, header, ns, tid, M.LINE_LIST, M.DELETE, identity,
                                   (0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0), [], [], '', empty))
    return types.MarkerArray(markers=markers)


def annotate_image(frame: Frame, result: FrameResult, objects: Optional[_Objects] = None
                   ) -> np.ndarray:
    """Draw 2D boxes, projected 3D boxes and labels on a copy of the colour image.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    import cv2

    objects = objects or _objects(result, '')
    image = np.ascontiguousarray(frame.color, dtype=np.uint8).copy()
    R = np.asarray(result.R_cam_obj, dtype=np.float64)
    for i in range(len(result)):
        rgb = IMAGE_COLORS[int(result.category_ids[i]) - 1]
        label = f'{objects.categories[i]} #{int(objects.ids[i])} {float(result.scores[i]):.2f}'
        draw_pose(image, frame.K, R[i], objects.t_cam_obj[i], 1.0, objects.extents[i], rgb,
                  label)
        x1, y1, x2, y2 = (int(v) for v in np.rint(np.nan_to_num(result.boxes_xyxy[i])))
        cv2.rectangle(image, (x1, y1), (x2, y2), rgb, 1)
    return image


@dataclass
class PipelineStats:
    """Counters the node and the bag tool report in diagnostics and summaries.

    Attributes:
        received: synchronised triples received.
        processed: frames run through the pipeline.
        dropped: triples replaced by a newer one before inference (newest wins).
        rejected: reason -> messages rejected by the conversions (REJECT_REASONS).
        skipped: reason -> instances or frames the pipeline skipped.
        timings_ms: stage -> milliseconds of the last processed frame (incl. 'convert').
    """

    received: int = 0
    processed: int = 0
    dropped: int = 0
    rejected: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    timings_ms: dict = field(default_factory=dict)
    _rejected_at_report: int = 0

    def add_result(self, result: FrameResult, convert_ms: float) -> None:
        """Count one processed frame and keep its stage timings."""
        self.processed += 1
        self.skipped.update(result.skipped)
        self.timings_ms = {'convert': float(convert_ms),
                           **{k: float(v) for k, v in result.timings_ms.items()}}


def stats_to_diagnostics(types: MessageTypes, stats: PipelineStats, stamp_ns: int,
                         name: str = 'cleanpose_pose_node: pipeline',
                         hardware_id: str = '') -> Any:
    """Return a diagnostic_msgs/DiagnosticArray: per-stage latency, drops, rejections.

    Level WARN when messages were rejected since the previous report, STALE before the
    first processed frame, else OK.
    """
    S = types.DiagnosticStatus
    total_rejected = sum(stats.rejected.values())
    if stats.processed == 0:
        level, message = S.STALE, 'waiting for synchronised colour, depth and camera_info'
    elif total_rejected > stats._rejected_at_report:
        level = S.WARN
        message = (f'{total_rejected - stats._rejected_at_report} messages rejected: '
                   + ', '.join(f'{k}={v}' for k, v in sorted(stats.rejected.items())))
    else:
        level, message = S.OK, f'{stats.processed} frames processed'
    stats._rejected_at_report = total_rejected
    values = [('frames_received', stats.received), ('frames_processed', stats.processed),
              ('frames_dropped', stats.dropped), ('frames_rejected', total_rejected)]
    values += [(f'latency_ms.{k}', f'{v:.2f}') for k, v in sorted(stats.timings_ms.items())]
    values += [(f'rejected.{k}', v) for k, v in sorted(stats.rejected.items())]
    values += [(f'skipped.{k}', v) for k, v in sorted(stats.skipped.items())]
    status = S(level=level, name=name,
               message=message, hardware_id=hardware_id,
               values=[types.KeyValue(key=k, value=str(v)) for k, v in values])
    header = types.Header(stamp=ns_to_time(types, stamp_ns), frame_id='')
    return types.DiagnosticArray(header=header, status=[status])


@dataclass(frozen=True)
class OutputMessages:
    """Everything published for one frame (debug_image None when it is off)."""

    detections: Any
    objects: Any
    tf: Any
    markers: Any
    debug_image: Any = None


def result_to_messages(types: MessageTypes, frame: Frame, result: FrameResult, header: Any,
                       state: MarkerState, tf_prefix: str = 'cleanpose/',
                       debug_image: bool = False) -> OutputMessages:
    """Build all per-frame outputs of one result (the node publishes, the bag writes).

    Args:
        types: message classes of the backend.
        frame: the frame the result belongs to (for the debug image).
        result: the pipeline's result.
        header: the colour image's header (stamp = image time, frame = optical frame).
        state: marker ids of the previous frame; updated.
        tf_prefix: prefix of the object TF frames.
        debug_image: also draw the annotated image.
    """
    objects = _objects(result, tf_prefix)
    transforms = result_to_transforms(types, result, header, tf_prefix, objects)
    image = None
    if debug_image:
        image = rgb_to_image(types, annotate_image(frame, result, objects), header)
    return OutputMessages(
        detections=result_to_detections(types, result, header, objects),
        objects=result_to_object_poses(types, result, header, tf_prefix, objects),
        tf=types.TFMessage(transforms=transforms),
        markers=result_to_markers(types, result, header, state, objects),
        debug_image=image)
