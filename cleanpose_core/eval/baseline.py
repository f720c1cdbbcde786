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

"""The non-learned geometric reference: table plane + shape primitives per category.

Given the same instance masks as the network, it

1. fits the table plane by RANSAC to the frame's valid depth outside every object
   mask and takes its normal (oriented toward the objects) as each object's up axis
   (+Y of the NOCS frame);
2. bottle, bowl, can, mug: fits a surface of revolution about a vertical axis — the
   axis position by a robust least-squares fit of |q - c| = r(height bin) to the
   points projected onto the plane (a circle fit with a radius profile), the height
   from the top of the points down to the table, the radius as the profile's maximum;
   a mug's handle is the set of points clearly outside the body radius, and gives +X
   (when it is not visible, +X points away from the camera and its reach is a prior);
3. laptop: the hinge (+X) is the main horizontal direction of the raised screen's
   points, +Z points from the screen toward the keyboard; camera: of the two sides
   of the minimum-area footprint rectangle (cv2.minAreaRect), the lens axis (+Z) is
   the one whose ends differ more in height, pointing to the lower end (the lens
   barrel sits below the top of the body); extents from the points along those axes.

The result uses the NOCS results layout of evaluate.make_prediction, so the same
metrics score it. It needs no training and no weights.
"""

from __future__ import annotations

from dataclasses import dataclass
import logging

import cv2
import numpy as np

from cleanpose_core.categories import category_id, category_name
from cleanpose_core.data.record import BACKGROUND_ID, FrameRecord
from cleanpose_core.eval.evaluate import empty_prediction, make_prediction, PredictFrame
from cleanpose_core.eval.revolution import handle_direction, handle_points, revolution_fit
from cleanpose_core.geometry.camera import backproject_depth
from cleanpose_core.geometry.plane import fit_table_plane, Plane, plane_basis

__all__ = ['Plane', 'InstanceEstimate', 'fit_table_plane', 'estimate_instance',
           'estimate_frame', 'baseline_predictor', 'MIN_POINTS']

log = logging.getLogger(__name__)

MIN_POINTS = 30
# A handle reaches this many body radii from the axis (typical mugs), used when it is hidden.
MUG_REACH_PRIOR = 1.5
_REVOLUTION = frozenset({category_id(n) for n in ('bottle', 'bowl', 'can', 'mug')})


@dataclass(frozen=True)
class InstanceEstimate:
    """The pose and size of one object from the geometric reference.

    Attributes:
        R_cam_obj: (3, 3) rotation, object -> camera.
        t_cam_obj: (3,) centre of the tight box, metres, camera frame.
        scale: metric bounding-box diagonal, metres.
        size: (3,) normalised extents (diagonal 1).
        handle_visible: for mugs, whether a handle was found.
    """

    R_cam_obj: np.ndarray
    t_cam_obj: np.ndarray
    scale: float
    size: np.ndarray
    handle_visible: bool = True


def _reject_outliers(pts: np.ndarray) -> np.ndarray:
    """Drop points far from the median point (robust z-score of the distance > 3.5)."""
    dist = np.linalg.norm(pts - np.median(pts, axis=0), axis=1)
    med = np.median(dist)
    mad = 1.4826 * np.median(np.abs(dist - med)) + 1e-4
    return pts[dist <= med + 3.5 * mad]


def _z_of(x_dir: np.ndarray) -> np.ndarray:
    """Horizontal +Z (plane coordinates) of an object whose +X is x_dir and +Y the normal."""
    return np.array([x_dir[1], -x_dir[0]])


def _x_of(z_dir: np.ndarray) -> np.ndarray:
    """Horizontal +X (plane coordinates) of an object whose +Z is z_dir and +Y the normal."""
    return np.array([-z_dir[1], z_dir[0]])


def _rotation(x_axis: np.ndarray, y_axis: np.ndarray) -> np.ndarray:
    """R_cam_obj with columns X, Y, Z = X x Y (X made orthogonal to Y)."""
    y = y_axis / np.linalg.norm(y_axis)
    x = x_axis - (x_axis @ y) * y
    x /= np.linalg.norm(x)
    return np.column_stack([x, y, np.cross(x, y)])


def estimate_instance(pts_cam: np.ndarray, class_id: int, plane: Plane) -> InstanceEstimate | str:
    """Estimate one object's pose and size from its points and the table plane.

    Args:
        pts_cam: (N, 3) masked depth points, camera frame, metres.
        class_id: NOCS class id 1..6.
        plane: the table plane (its normal is the object's +Y).

    Returns:
        The InstanceEstimate, or a skip reason ('too_few_points').

    Raises:
        ValueError: class_id outside 1..6 or pts_cam not (N, 3).
    """
    name = category_name(class_id)
    pts = np.asarray(pts_cam, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f'pts_cam must have shape (N, 3); got {pts.shape}')
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) < MIN_POINTS:
        return 'too_few_points'
    pts = _reject_outliers(pts)
    n = plane.normal
    h = plane.height(pts)
    keep = h > 0.003  # table pixels that bled into the mask, and points below the table
    if keep.sum() >= MIN_POINTS:
        pts, h = pts[keep], h[keep]
    if len(pts) < MIN_POINTS:
        return 'too_few_points'
    e1, e2 = plane_basis(n)
    q = np.column_stack([pts @ e1, pts @ e2])
    top = float(np.percentile(h, 99.5))
    low = float(np.percentile(h, 0.5))
    bottom = 0.0 if low < max(0.03, 0.35 * top) else low  # resting on the table or raised
    height = max(top - bottom, 1e-3)
    # Horizontal direction from the camera toward the object (the camera is at the origin).
    centroid_q = q.mean(axis=0)
    towards_back = centroid_q / max(np.linalg.norm(centroid_q), 1e-9)
    if np.linalg.norm(centroid_q) < 1e-6:  # looking straight down: any direction
        towards_back = np.array([0.0, 1.0])
    handle_visible = True
    if class_id in _REVOLUTION:
        centre, r_point, radii = revolution_fit(q, h, towards_back)
        radius = float(np.nanmax(radii))
        dist = np.linalg.norm(q - centre, axis=1)
        x_dir = np.array([-towards_back[1], towards_back[0]])  # any horizontal axis
        half_x_plus, half_x_minus = radius, radius
        if name == 'mug':
            # Outside the body: beyond the profile radius of the point's height, and
            # beyond the typical body radius (a lid or rim bin can fit a small radius).
            body = np.maximum(r_point, np.nanmedian(radii))
            excess = dist - body - max(0.003, 0.1 * radius)
            handle = handle_points(q - centre, excess, min_count=max(8, 0.005 * len(q)))
            if handle is not None:
                x_dir = handle_direction(q[handle] - centre)
                reach = float(np.percentile((q[handle] - centre) @ x_dir, 98))
            else:
                handle_visible = False
                x_dir = towards_back
                reach = MUG_REACH_PRIOR * radius
            half_x_plus = max(reach, radius)
        extents = np.array([half_x_plus + half_x_minus, height, 2 * radius])
        centre_q = centre + 0.5 * (half_x_plus - half_x_minus) * x_dir
    elif name == 'laptop':
        x_dir, z_dir, centre_q, ex, ez = _laptop_axes(q, h, top, towards_back)
        extents = np.array([ex, height, ez])
    else:  # camera
        x_dir, z_dir, centre_q, ex, ez = _footprint_axes(q, h, towards_back)
        extents = np.array([ex, height, ez])
    x_axis = x_dir[0] * e1 + x_dir[1] * e2
    R = _rotation(x_axis, n)
    h_centre = bottom + 0.5 * height
    t = centre_q[0] * e1 + centre_q[1] * e2 + (h_centre - plane.offset) * n
    scale = float(np.linalg.norm(extents))
    return InstanceEstimate(R_cam_obj=R, t_cam_obj=t, scale=scale, size=extents / scale,
                            handle_visible=handle_visible)


def _extents_along(q: np.ndarray, x_dir: np.ndarray, z_dir: np.ndarray
                   ) -> tuple[np.ndarray, float, float]:
    """Centre (2,) and robust extents of (N, 2) points along two horizontal axes."""
    sx, sz = q @ x_dir, q @ z_dir
    x0, x1 = np.percentile(sx, [0.5, 99.5])
    z0, z1 = np.percentile(sz, [0.5, 99.5])
    centre = 0.5 * (x0 + x1) * x_dir + 0.5 * (z0 + z1) * z_dir
    return centre, float(x1 - x0), float(z1 - z0)


def _end_heights(q: np.ndarray, h: np.ndarray, z_dir: np.ndarray) -> tuple[float, float]:
    """Top heights (95th percentile) of the points in the last quarter at the -z and +z ends."""
    s = q @ z_dir
    lo, hi = np.percentile(s, [2, 98])
    span = max(hi - lo, 1e-9)
    tops = []
    for end in (s < lo + 0.25 * span, s > hi - 0.25 * span):
        tops.append(float(np.percentile(h[end], 95)) if end.sum() >= 5 else np.nan)
    return tops[0], tops[1]


def _footprint_axes(q: np.ndarray, h: np.ndarray, towards_back: np.ndarray):
    """Camera: +Z toward the lens, +X across it, from the footprint and the height profile.

    The lens barrel sits at mid-height in front of the taller body, so along the lens
    axis the two ends of the object differ in height and the lower end is the lens;
    across it (left/right) they match. Of the two sides of the minimum-area footprint
    rectangle (cv2.minAreaRect), the lens axis is the one whose ends differ more. With
    no clear difference (under 2 % of the height) +X follows the long side and the lens
    is taken to face the camera.
    """
    x_long, z_short, _, _, _ = _footprint_long_side(q)
    best_gap, best_z = 0.0, None
    for z_dir in (z_short, x_long):
        top_minus, top_plus = _end_heights(q, h, z_dir)
        if np.isfinite(top_minus) and np.isfinite(top_plus) and \
                abs(top_plus - top_minus) > best_gap:
            best_gap = abs(top_plus - top_minus)
            best_z = z_dir if top_plus < top_minus else -z_dir
    if best_z is not None and best_gap > 0.02 * float(np.percentile(h, 99)):
        z_dir = best_z
    else:
        z_dir = z_short if z_short @ towards_back < 0 else -z_short
    x_dir = _x_of(z_dir)
    centre, ex, ez = _extents_along(q, x_dir, z_dir)
    return x_dir, z_dir, centre, ex, ez


def _laptop_axes(q: np.ndarray, h: np.ndarray, top: float, towards_back: np.ndarray):
    """Laptop: hinge (+X) along the raised screen, +Z from the screen to the keyboard."""
    screen = h > 0.5 * top
    footprint = float(np.ptp(q, axis=0).max())
    if screen.sum() >= 10 and top > 0.25 * footprint:
        s = q[screen] - q[screen].mean(axis=0)
        _, _, vt = np.linalg.svd(s, full_matrices=False)
        x_dir = vt[0]
        z_dir = _z_of(x_dir)
        if (~screen).sum() >= 10:  # +Z from the screen toward the keyboard
            flip = (q[~screen].mean(axis=0) - q[screen].mean(axis=0)) @ z_dir < 0
        else:  # only the screen is visible: it faces the camera
            flip = z_dir @ towards_back > 0
        if flip:
            z_dir = -z_dir
        x_dir = _x_of(z_dir)
        centre, ex, ez = _extents_along(q, x_dir, z_dir)
        return x_dir, z_dir, centre, ex, ez
    # Closed (flat) laptop: long side is the hinge, front toward the camera.
    x_dir, z_dir, centre, ex, ez = _footprint_long_side(q)
    if z_dir @ towards_back > 0:
        x_dir, z_dir = -x_dir, -z_dir
    return x_dir, z_dir, centre, ex, ez


def _footprint_long_side(q: np.ndarray):
    """+X along the long side of the minimum-area rectangle of (N, 2) points; extents."""
    (_, _), (w, l), angle = cv2.minAreaRect(q.astype(np.float32))
    a = np.deg2rad(angle)
    side_w = np.array([np.cos(a), np.sin(a)])
    x_dir = side_w if w >= l else np.array([-side_w[1], side_w[0]])
    z_dir = _z_of(x_dir)
    centre, ex, ez = _extents_along(q, x_dir, z_dir)
    return x_dir, z_dir, centre, ex, ez


def estimate_frame(depth: np.ndarray, K: np.ndarray, mask: np.ndarray,
                   instance_ids: np.ndarray, class_ids: np.ndarray, seed: int = 0
                   ) -> tuple[list, dict]:
    """Run the geometric reference on every labelled instance of one frame.

    Args:
        depth: (H, W) float32 metres; 0/NaN/inf invalid.
        K: (3, 3) intrinsics.
        mask: (H, W) uint8 instance ids, 255 = background.
        instance_ids: (n,) mask value of each instance to estimate.
        class_ids: (n,) NOCS class ids 1..6.
        seed: RANSAC seed.

    Returns:
        (estimates, skipped): a list of n InstanceEstimate-or-None (None where skipped)
        and reason -> count.
    """
    depth = np.asarray(depth, dtype=np.float32)
    mask = np.asarray(mask)
    rng = np.random.default_rng(seed)
    objects = mask != BACKGROUND_ID
    sparse = np.zeros_like(objects)
    sparse[::3, ::3] = True  # every ninth pixel is plenty for a plane
    background = backproject_depth(depth, K, sparse & ~objects).double().numpy()
    per_instance = [backproject_depth(depth, K, mask == int(i)).double().numpy()
                    for i in instance_ids]
    above = np.concatenate(per_instance) if per_instance else None
    plane = fit_table_plane(background, rng, above=above)
    skipped: dict = {}
    if plane is None:
        # No table: assume a level camera (up = -y) and a support under each object.
        skipped['frames_without_table_plane'] = 1
    estimates = []
    for pts, cid in zip(per_instance, class_ids):
        use = plane
        if use is None:
            normal = np.array([0.0, -1.0, 0.0])
            low = float((pts @ normal).min()) if len(pts) else 0.0
            use = Plane(normal=normal, offset=-low, inliers=0)
        est = estimate_instance(pts, int(cid), use)
        if isinstance(est, str):
            skipped[est] = skipped.get(est, 0) + 1
            estimates.append(None)
        else:
            estimates.append(est)
    return estimates, skipped


def baseline_predictor(seed: int = 0) -> PredictFrame:
    """The geometric reference as a predict_frame callable for evaluate(); scores 1.0."""

    def predict_frame(record: FrameRecord) -> dict:
        estimates, skipped = estimate_frame(record.depth, record.K, record.mask,
                                            record.instance_ids, record.class_ids,
                                            seed=seed + int(record.index))
        keep = [i for i, e in enumerate(estimates) if e is not None]
        if not keep:
            return empty_prediction(skipped)
        est = [estimates[i] for i in keep]
        return make_prediction(record.class_ids[keep], np.ones(len(keep)),
                               np.stack([e.R_cam_obj for e in est]),
                               np.stack([e.t_cam_obj for e in est]),
                               np.array([e.scale for e in est]),
                               np.stack([e.size for e in est]), record.bboxes[keep], skipped,
                               gt_index=keep)

    return predict_frame
