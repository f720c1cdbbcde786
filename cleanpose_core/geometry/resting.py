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

"""The upright prior: objects standing on a table have their up axis along its normal.

An object standing upright (or upside down) on a table has its Y axis exactly along
the table's normal. The table plane, fitted from the depth image around the objects
(``fit_frame_plane``), is far more precise than a network's regressed axis, so where a
predicted Y axis is already within some degrees of the normal (or of its opposite),
``snap_up_axis`` turns the predicted rotation by the smallest rotation that puts Y on
it: the error of that axis then is the plane fit's, and the turn about Y is kept.
Objects that also rest on their side or back with a flat face or a level axis
(SIDE_REST_CATEGORY_IDS: bowl, camera, can, mug) have their X or Z axis along the normal
then, and get the same snap for that axis, whichever of the three is nearest the normal.
Rotations further from the normal (objects tipped against something, a bottle lying on
its shoulder, a leaning laptop) are left alone. The pipeline applies it with
pipeline.upright_snap degrees (see the README for how the default was chosen).

For boxy objects resting on a face (cameras, laptops) the turn about the up axis has a
geometric anchor too: the smallest rectangle around the observed points, seen from
above the table, has its sides along the object's two level axes.
``align_footprint_yaw`` turns such an object about the table normal onto the nearest
side of that rectangle when the network's X axis (Z for a camera on its side) is within
a few degrees of it (pipeline.footprint_yaw).

An object standing on the table also reaches down to it, and not further:
``seat_on_table`` moves the bottom face of a resting object's box (upright, or on its
side or back: whichever box axis snap_up_axis put on the normal) onto the table plane.
The network sizes an object from what it sees; when the lower part is hidden behind
another object (or cut off by the mask), the box ends where the view did, and a thin
object (a closed laptop, a camera seen from above) can get a box reaching into the
table (pipeline.table_contact). Its top, in contrast, is in view: a camera looking down at a
table (or level with it) sees the highest point of every object standing on it that
nothing hides, so ``trim_top_to_points`` lowers the top face of a resting object's box
that stands above its highest observed point onto that point (pipeline.top_trim). A
closed laptop, 2 cm thick, otherwise gets the 5 cm box the network guesses for it. The
network's camera boxes come out too wide and deep, and a camera's body has flat sides:
the sides facing the viewer are in view, so ``trim_camera_sides`` narrows a resting
camera's box about its centre to twice the distance from the centre to the outermost
point seen on each level axis's camera-facing side (pipeline.side_trim).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from cleanpose_core.categories import category_id
from cleanpose_core.config import PipelineConfig
from cleanpose_core.geometry.camera import backproject_pixels
from cleanpose_core.geometry.plane import fit_table_plane, Plane, plane_basis

__all__ = ['fit_frame_plane', 'apply_resting_priors', 'snap_up_axis', 'align_footprint_yaw',
           'seat_on_table', 'trim_top_to_points', 'trim_camera_sides', 'apply_box_priors',
           'right_side_up', 'BOX_PRIOR_KEYS', 'box_prior_settings', 'rotation_between',
           'BOXY_CATEGORY_IDS', 'SIDE_REST_CATEGORY_IDS']

# Categories whose footprint on the table is a rectangle along their level axes
# (camera body, laptop base), as NOCS ids.
BOXY_CATEGORY_IDS = tuple(category_id(c) for c in ('camera', 'laptop'))
_CAMERA_ID = category_id('camera')
# Categories that also rest with their X or Z axis on the table normal: a camera on its
# back or side, a can, bowl or mug on its side. Not bottles (a lying bottle's axis slopes
# down to its neck) nor laptops (an open laptop leans at any angle).
SIDE_REST_CATEGORY_IDS = tuple(category_id(c) for c in ('bowl', 'camera', 'can', 'mug'))
# A Y axis this close to the table normal counts as upright (float32 network rotations
# are orthonormal to ~1e-7 only, so a snapped axis is not on the normal to the last bit).
_UPRIGHT_COS = float(np.cos(np.radians(0.5)))

_STRIDE = 6           # background pixels sampled on this grid for the plane fit


def fit_frame_plane(depth: np.ndarray, K: np.ndarray, masks: Sequence[np.ndarray],
                    rng: np.random.Generator) -> Optional[Plane]:
    """Fit the supporting plane to the pixels outside the instance masks.

    Args:
        depth: (H, W) metres; 0, NaN and inf invalid.
        K: (3, 3) intrinsics.
        masks: (H, W) bool instance masks (their pixels are not table).
        rng: generator of the RANSAC fit.

    Returns:
        The plane (normal toward the objects), or None when none was found.
    """
    K = np.asarray(K, dtype=np.float64)
    # The plane is fitted on every _STRIDE-th pixel of each row and column: that grid is
    # an image of its own whose intrinsics are K scaled by 1 / _STRIDE.
    coarse = np.ascontiguousarray(depth[::_STRIDE, ::_STRIDE])
    K_coarse = K.copy()
    K_coarse[:2] /= _STRIDE
    union = np.zeros(coarse.shape, dtype=bool)
    for m in masks:
        union |= m[::_STRIDE, ::_STRIDE]
    background = backproject_pixels(coarse, K_coarse, ~union).points.double().numpy()
    objects = backproject_pixels(coarse, K_coarse, union).points.double().numpy()
    # A table fills most of the background: 64 hypotheses scored on 2,000 points find it
    # (all three points on it with probability >= 1/8 each) in a few milliseconds.
    return fit_table_plane(background, rng, above=objects if len(objects) else None,
                           iterations=64, max_points=2000)


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(3, 3) smallest rotation taking unit vector a to unit vector b (a != -b)."""
    v = np.cross(a, b)
    s = float(np.linalg.norm(v))
    c = float(a @ b)
    if s < 1e-12:
        return np.eye(3)
    vx = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return np.eye(3) + vx + vx @ vx * ((1.0 - c) / s ** 2)


def snap_up_axis(R_cam_obj: np.ndarray, normal: np.ndarray, max_deg: float,
                 category_ids: Optional[Sequence[int]] = None) -> np.ndarray:
    """Align predicted up axes with a table normal where they are within max_deg of it.

    The up axis is Y; for objects of SIDE_REST_CATEGORY_IDS it is whichever of X, Y and
    Z lies nearest the normal (on its side or back, X or Z).

    Args:
        R_cam_obj: (N, 3, 3) rotations, object -> camera.
        normal: (3,) unit table normal, camera frame (either sign).
        max_deg: largest angle, degrees, between the up axis and +-normal that is
            snapped; 0 = none.
        category_ids: (N,) NOCS class ids; None = Y for every object.

    Returns:
        (N, 3, 3) rotations (a new array); each snapped one has its up axis = +-normal
        exactly.

    Raises:
        ValueError: bad shapes, a normal that is not a unit vector, max_deg outside [0, 90).
    """
    R = np.array(R_cam_obj, dtype=np.float64, copy=True).reshape(-1, 3, 3)
    n = np.asarray(normal, dtype=np.float64).reshape(-1)
    if n.shape != (3,) or not abs(np.linalg.norm(n) - 1.0) < 1e-6:
        raise ValueError(f'normal must be a (3,) unit vector; got {normal!r}')
    if not 0.0 <= max_deg < 90.0:
        raise ValueError(f'max_deg must be in [0, 90); got {max_deg}')
    ids = np.zeros(len(R), int) if category_ids is None else np.asarray(category_ids)
    if ids.shape != (len(R),):
        raise ValueError(f'category_ids must be ({len(R)},); got {ids.shape}')
    if max_deg == 0.0:
        return R
    cos_max = np.cos(np.radians(max_deg))
    for i, Ri in enumerate(R):
        d = Ri.T @ n                               # cosines of X, Y, Z with the normal
        k = int(np.argmax(np.abs(d))) if int(ids[i]) in SIDE_REST_CATEGORY_IDS else 1
        if abs(d[k]) >= cos_max:
            R[i] = rotation_between(Ri[:, k], np.sign(d[k]) * n) @ Ri
    return R


def _footprint_angle(points_2d: np.ndarray, step_deg: float = 0.5) -> float:
    """Angle (radians, [0, pi/2)) of the smallest-area rectangle around 2D points."""
    angles = np.radians(np.arange(0.0, 90.0, step_deg))
    c, s = np.cos(angles), np.sin(angles)
    x = points_2d[:, 0][None] * c[:, None] + points_2d[:, 1][None] * s[:, None]
    y = -points_2d[:, 0][None] * s[:, None] + points_2d[:, 1][None] * c[:, None]
    area = (x.max(1) - x.min(1)) * (y.max(1) - y.min(1))
    return float(angles[int(np.argmin(area))])


def align_footprint_yaw(R_cam_obj: np.ndarray, points: np.ndarray, category_ids: np.ndarray,
                        normal: np.ndarray, max_deg: float) -> np.ndarray:
    """Turn boxy objects resting on a face about the table normal onto their footprint.

    Only objects of BOXY_CATEGORY_IDS with an axis within 0.5° of +-normal (snap_up_axis
    puts it there) are considered; each is turned about the normal so that its X axis
    (its Z axis when X is the one on the normal) lies on the nearest side direction of
    the smallest rectangle around its points projected onto the table, if that side is
    within max_deg of it. Others are returned unchanged.

    Args:
        R_cam_obj: (N, 3, 3) rotations, object -> camera.
        points: (N, M, 3) observed points of each object, camera frame.
        category_ids: (N,) NOCS class ids.
        normal: (3,) unit table normal, camera frame.
        max_deg: largest turn, degrees, in [0, 45]; 0 = none.

    Returns:
        (N, 3, 3) rotations (a new array).

    Raises:
        ValueError: inconsistent shapes or max_deg outside [0, 45].
    """
    R = np.array(R_cam_obj, dtype=np.float64, copy=True).reshape(-1, 3, 3)
    pts = np.asarray(points, dtype=np.float64)
    ids = np.asarray(category_ids).reshape(-1)
    n = np.asarray(normal, dtype=np.float64).reshape(3)
    if pts.ndim != 3 or pts.shape[0] != len(R) or pts.shape[2] != 3 or len(ids) != len(R):
        raise ValueError(f'points must be (N, M, 3) and category_ids (N,) for N = {len(R)} '
                         f'rotations; got {pts.shape} and {ids.shape}')
    if not 0.0 <= max_deg <= 45.0:
        raise ValueError(f'max_deg must be in [0, 45]; got {max_deg}')
    if max_deg == 0.0:
        return R
    u, v = plane_basis(n)
    for i in range(len(R)):
        on_normal = np.abs(R[i].T @ n) >= _UPRIGHT_COS
        if int(ids[i]) not in BOXY_CATEGORY_IDS or not on_normal.any() or len(pts[i]) < 3:
            continue
        angle = _footprint_angle(np.stack([pts[i] @ u, pts[i] @ v], axis=1))
        level = R[i][:, 2 if on_normal[0] else 0]
        best, best_deg = None, 180.0
        for k in range(4):                        # the rectangle's four side directions
            a = angle + k * np.pi / 2
            side = np.cos(a) * u + np.sin(a) * v
            deg = float(np.degrees(np.arccos(np.clip(level @ side, -1.0, 1.0))))
            if deg < best_deg:
                best, best_deg = side, deg
        if best_deg <= max_deg:
            R[i] = rotation_between(level, best) @ R[i]
    return R


def right_side_up(R_cam_obj: np.ndarray, category_ids: Sequence[int], normal: np.ndarray,
                  flip_ids: Sequence[int]) -> np.ndarray:
    """Turn upside-down upright objects of the given categories right side up.

    An object of a category in ``flip_ids`` whose Y axis lies on the table normal but
    points into the table (as snap_up_axis leaves an upside-down object) is turned half
    a turn about its X axis: Y and Z change sign, the box and its centre stay. For users
    whose objects of those categories always stand (drink cans, bottles): the network
    tells a can's top from its bottom mostly by colour (see the README).

    Args:
        R_cam_obj: (N, 3, 3) rotations, object -> camera.
        category_ids: (N,) NOCS class ids.
        normal: (3,) unit table normal, pointing away from the table.
        flip_ids: NOCS class ids to put right side up; empty = none.

    Returns:
        (N, 3, 3) rotations (a new array).
    """
    R = np.array(R_cam_obj, dtype=np.float64).reshape(-1, 3, 3)
    if not len(flip_ids) or len(R) == 0:
        return R
    up = R[:, :, 1] @ np.asarray(normal, np.float64)
    flip = (up <= -_UPRIGHT_COS) & np.isin(np.asarray(category_ids), list(flip_ids))
    R[flip] = R[flip] @ np.diag([1.0, -1.0, -1.0])
    return R


def apply_resting_priors(R_cam_obj: np.ndarray, points: np.ndarray, category_ids: np.ndarray,
                         plane: Optional[Plane], upright_snap: float,
                         footprint_yaw: float, right_side_up_ids: Sequence[int] = ()
                         ) -> np.ndarray:
    """The upright prior (on its side too), then the footprint yaw of boxy objects it set.

    What the pipeline and the ground-truth-mask evaluation both apply to the network's
    rotations (pipeline.upright_snap, pipeline.footprint_yaw, pipeline.right_side_up).

    Args:
        R_cam_obj: (N, 3, 3) rotations, object -> camera.
        points: (N, M, 3) observed points of each object, camera frame.
        category_ids: (N,) NOCS class ids.
        plane: the frame's table plane (fit_frame_plane); None leaves R as it is.
        upright_snap: snap_up_axis's max_deg; 0 = no step at all.
        footprint_yaw: align_footprint_yaw's max_deg; 0 = no footprint step.
        right_side_up_ids: class ids that right_side_up turns; empty = none.

    Returns:
        (N, 3, 3) rotations.
    """
    if plane is None or upright_snap <= 0:
        return R_cam_obj
    R = snap_up_axis(R_cam_obj, plane.normal, upright_snap, category_ids)
    R = right_side_up(R, category_ids, plane.normal, right_side_up_ids)
    return align_footprint_yaw(R, points, category_ids, plane.normal, footprint_yaw)


def _upright_boxes(R_cam_obj: np.ndarray, t_cam_obj: np.ndarray, scales: np.ndarray,
                   sizes: np.ndarray, plane: Plane) -> tuple:
    """Return float64 copies (t, scales, sizes) of N boxes and their resting axes.

    A box's resting axis is the index (0, 1, 2) of its axis on the plane's normal, -1
    for none (the box is not resting on a face).
    """
    t = np.array(t_cam_obj, dtype=np.float64).reshape(-1, 3)
    scales = np.array(scales, dtype=np.float64).reshape(-1)
    sizes = np.array(sizes, dtype=np.float64).reshape(-1, 3)
    if plane is None:
        return t, scales, sizes, np.full(len(t), -1)
    R = np.asarray(R_cam_obj).reshape(-1, 3, 3)
    cos = np.abs(R.transpose(0, 2, 1) @ plane.normal)
    return t, scales, sizes, np.where(cos.max(1) >= _UPRIGHT_COS, cos.argmax(1), -1)


def seat_on_table(R_cam_obj: np.ndarray, t_cam_obj: np.ndarray, scales: np.ndarray,
                  sizes: np.ndarray, plane: Optional[Plane], max_gap: float) -> tuple:
    """Move the bottom face of resting objects' boxes onto the table, the top staying.

    An object with a box axis on the table normal (Y standing or upside down, X or Z on
    its side or back, as snap_up_axis leaves it) rests on the table, so its box's bottom
    face belongs on the plane. A bottom face floating above the plane by at most
    ``max_gap`` comes down to it (the box grows: the lower part was hidden or cut off by
    the mask); one reaching into
    the table by at most ``max_gap`` comes up to it (the box shrinks: nothing of the
    object is below the table), never to less than a tenth of the box's height. Boxes
    higher up than max_gap (standing on something else), deeper in, and tipped objects
    (no axis on the normal) are left alone.

    Args:
        R_cam_obj: (N, 3, 3) rotations, object -> camera.
        t_cam_obj: (N, 3) box centres, camera frame, metres.
        scales: (N,) NOCS scales (box diagonals), metres.
        sizes: (N, 3) box extents / scale.
        plane: the frame's table plane; None changes nothing.
        max_gap: largest distance (metres) a bottom face moves; 0 = off.

    Returns:
        (t_cam_obj, scales, sizes), new float64 arrays.
    """
    t, scales, sizes, up = _upright_boxes(R_cam_obj, t_cam_obj, scales, sizes, plane)
    if plane is None or max_gap <= 0 or len(t) == 0:
        return t, scales, sizes
    height = scales * sizes[np.arange(len(t)), np.maximum(up, 0)]
    gap = plane.height(t) - height / 2                    # height of the bottom face
    move = (up >= 0) & (gap != 0) & (np.abs(gap) <= max_gap) & (-gap < 0.9 * height)
    ext = scales[move, None] * sizes[move]
    ext[np.arange(len(ext)), up[move]] += gap[move]
    t[move] -= plane.normal * (gap[move] / 2)[:, None]
    scales[move] = np.linalg.norm(ext, axis=1)
    sizes[move] = ext / scales[move, None]
    return t, scales, sizes


def trim_top_to_points(R_cam_obj: np.ndarray, t_cam_obj: np.ndarray, scales: np.ndarray,
                       sizes: np.ndarray, points: Sequence[np.ndarray], plane: Optional[Plane],
                       max_trim: float) -> tuple:
    """Lower the top face of resting objects' boxes onto their highest observed point.

    An object with a box axis on the table normal (as snap_up_axis leaves it: Y when it
    stands or is upside down, X or Z on its side or back) whose box top stands above its
    highest point by at most ``max_trim`` gets that axis's extent shortened by that
    much, the bottom face staying. A box is never cut to less than a tenth of its height
    (points that low are not the object's top); tipped objects are left alone.

    Args:
        R_cam_obj: (N, 3, 3) rotations, object -> camera.
        t_cam_obj: (N, 3) box centres, camera frame, metres.
        scales: (N,) NOCS scales (box diagonals), metres.
        sizes: (N, 3) box extents / scale.
        points: N arrays (M_i, 3) of each object's observed points, camera frame, metres.
        plane: the frame's table plane; None changes nothing.
        max_trim: largest drop of a top face (metres); 0 = off.

    Returns:
        (t_cam_obj, scales, sizes), new float64 arrays.
    """
    t, scales, sizes, up = _upright_boxes(R_cam_obj, t_cam_obj, scales, sizes, plane)
    if plane is None or max_trim <= 0 or len(t) == 0:
        return t, scales, sizes
    for i in np.flatnonzero(up >= 0):
        pts = np.asarray(points[i], dtype=np.float64).reshape(-1, 3)
        if len(pts) == 0:
            continue
        ext = scales[i] * sizes[i]
        k = up[i]
        cut = plane.height(t[i]) + ext[k] / 2 - plane.height(pts).max()
        if 0 < cut <= max_trim and cut < 0.9 * ext[k]:
            ext[k] -= cut
            t[i] -= plane.normal * (cut / 2)
            scales[i] = np.linalg.norm(ext)
            sizes[i] = ext / scales[i]
    return t, scales, sizes


def trim_camera_sides(R_cam_obj: np.ndarray, t_cam_obj: np.ndarray, scales: np.ndarray,
                      sizes: np.ndarray, points: Sequence[np.ndarray],
                      category_ids: Sequence[int], plane: Optional[Plane],
                      max_trim: float) -> tuple:
    """Narrow resting cameras' boxes about their centre onto the sides seen.

    For a camera with a box axis on the table normal (as snap_up_axis leaves it), each
    of its two level axes has a face toward the camera; the half extent along that axis
    becomes the distance from the box centre to the outermost observed point on that
    side, if that shortens the extent by at most 2 * ``max_trim`` (and leaves more
    than a tenth of it). The centre stays: the network's camera centres are measured
    more precise than its extents (moving only the near face cost the small upright
    split's 2 cm metrics, see the README). Other categories are left alone: round
    objects rarely show their outermost point, laptops measured worse.

    Args:
        R_cam_obj: (N, 3, 3) rotations, object -> camera.
        t_cam_obj: (N, 3) box centres, camera frame, metres (the camera at the origin).
        scales: (N,) NOCS scales (box diagonals), metres.
        sizes: (N, 3) box extents / scale.
        points: N arrays (M_i, 3) of each object's observed points, camera frame, metres.
        category_ids: (N,) NOCS class ids.
        plane: the frame's table plane; None changes nothing.
        max_trim: largest move of each face (metres); 0 = off.

    Returns:
        (t_cam_obj, scales, sizes), new float64 arrays.
    """
    t, scales, sizes, up = _upright_boxes(R_cam_obj, t_cam_obj, scales, sizes, plane)
    if plane is None or max_trim <= 0 or len(t) == 0:
        return t, scales, sizes
    R = np.asarray(R_cam_obj, dtype=np.float64).reshape(-1, 3, 3)
    ids = np.asarray(category_ids).reshape(-1)
    for i in np.flatnonzero((up >= 0) & (ids == _CAMERA_ID)):
        pts = np.asarray(points[i], dtype=np.float64).reshape(-1, 3)
        if len(pts) == 0:
            continue
        ext = scales[i] * sizes[i]
        for axis in {0, 1, 2} - {int(up[i])}:
            u = R[i, :, axis]
            toward = -1.0 if u @ t[i] > 0 else 1.0     # the side whose face sees the camera
            half = float((toward * (pts - t[i]) @ u).max())
            if 0 < ext[axis] / 2 - half <= max_trim and 2 * half > 0.1 * ext[axis]:
                ext[axis] = 2 * half
        scales[i] = np.linalg.norm(ext)
        sizes[i] = ext / scales[i]
    return t, scales, sizes


# The PipelineConfig settings apply_box_priors reads: all the pipeline's settings that
# also apply to boxes from ground-truth masks.
BOX_PRIOR_KEYS = ('upright_snap', 'footprint_yaw', 'table_contact', 'top_trim', 'side_trim',
                  'right_side_up')


def box_prior_settings(priors: PipelineConfig) -> dict:
    """The BOX_PRIOR_KEYS settings of ``priors`` as a JSON-ready dict (lists for tuples)."""
    return {k: list(v) if isinstance(v, tuple) else v
            for k, v in ((k, getattr(priors, k)) for k in BOX_PRIOR_KEYS)}


def apply_box_priors(R_cam_obj: np.ndarray, t_cam_obj: np.ndarray, scales: np.ndarray,
                     sizes: np.ndarray, points: np.ndarray, category_ids: Sequence[int],
                     plane: Optional[Plane], priors: PipelineConfig) -> tuple:
    """All the pipeline's table priors, in their order: rotations, then box extents.

    apply_resting_priors (upright_snap, right_side_up, footprint_yaw), then seat_on_table
    (table_contact), then trim_top_to_points (top_trim), then trim_camera_sides
    (side_trim); the pipeline and the
    ground-truth-mask evaluation both call this with their PipelineConfig, so they
    cannot drift apart.

    Args:
        R_cam_obj, t_cam_obj, scales, sizes: N predicted boxes (see seat_on_table).
        points: (N, M, 3) each object's observed points, camera frame, metres.
        category_ids: (N,) NOCS class ids.
        plane: the frame's table plane; None changes nothing.
        priors: the pipeline settings named above.

    Returns:
        (R_cam_obj, t_cam_obj, scales, sizes); t_cam_obj, scales and sizes are new
        float64 arrays.
    """
    R = apply_resting_priors(R_cam_obj, points, category_ids, plane, priors.upright_snap,
                             priors.footprint_yaw,
                             [category_id(c) for c in priors.right_side_up])
    t, scales, sizes = seat_on_table(R, t_cam_obj, scales, sizes, plane, priors.table_contact)
    t, scales, sizes = trim_top_to_points(R, t, scales, sizes, points, plane, priors.top_trim)
    t, scales, sizes = trim_camera_sides(R, t, scales, sizes, points, category_ids, plane,
                                         priors.side_trim)
    return R, t, scales, sizes
