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

"""Draw poses over the colour image: oriented 3D boxes, object axes and labels."""

from __future__ import annotations

import numpy as np

from cleanpose_core.categories import CATEGORIES
from cleanpose_core.pipeline.results import FrameResult

__all__ = ['draw_result', 'draw_pose', 'box_corners_np', 'CATEGORY_COLORS']

# RGB colour per category (index = class id - 1).
CATEGORY_COLORS = ((230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66),
                   (0, 114, 178), (213, 94, 0))
# Corner index bits: x (1), y (2), z (4); edges join corners differing in one bit.
_EDGES = [(a, a | bit) for a in range(8) for bit in (1, 2, 4) if not a & bit]


def box_corners_np(R_cam_obj: np.ndarray, t_cam_obj: np.ndarray, scale: float,
                   size: np.ndarray) -> np.ndarray:
    """Corners of an oriented metric box in the camera frame.

    Args:
        R_cam_obj: (3, 3) rotation object -> camera.
        t_cam_obj: (3,) box centre, metres, camera frame.
        scale: metric diagonal, metres.
        size: (3,) normalised extents (diagonal 1).

    Returns:
        (8, 3) corners, metres; corner i has +x half-extent when bit 0 of i is set,
        +y for bit 1 and +z for bit 2.
    """
    half = 0.5 * float(scale) * np.asarray(size, dtype=np.float64)
    bits = np.array([[(i >> k) & 1 for k in range(3)] for i in range(8)], dtype=np.float64)
    pts_obj = (bits * 2.0 - 1.0) * half
    return pts_obj @ np.asarray(R_cam_obj, dtype=np.float64).T + np.asarray(t_cam_obj)


def _project(pts_cam: np.ndarray, K: np.ndarray) -> np.ndarray | None:
    """Pixel coordinates of camera-frame points, or None when any is behind the camera."""
    if np.any(pts_cam[:, 2] <= 1e-3):
        return None
    uvw = pts_cam @ np.asarray(K, dtype=np.float64).T
    return uvw[:, :2] / uvw[:, 2:3]


def draw_pose(image: np.ndarray, K: np.ndarray, R_cam_obj: np.ndarray, t_cam_obj: np.ndarray,
              scale: float, size: np.ndarray, color: tuple = (0, 255, 0), label: str = '',
              thickness: int = 2) -> np.ndarray:
    """Draw one oriented box, its axes (x red, y green, z blue) and a label, in place.

    Args:
        image: (H, W, 3) uint8 RGB, modified in place.
        K: (3, 3) intrinsics.
        R_cam_obj, t_cam_obj, scale, size: the pose (see box_corners_np).
        color: RGB of the box and the label.
        label: text drawn above the box.
        thickness: line width, pixels.

    Returns:
        The same image.
    """
    import cv2

    corners = _project(box_corners_np(R_cam_obj, t_cam_obj, scale, size), K)
    if corners is None:
        return image
    pts = np.round(corners).astype(np.int64)
    pts = np.clip(pts, -10 * max(image.shape), 10 * max(image.shape))
    for a, b in _EDGES:
        cv2.line(image, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]), color,
                 thickness, cv2.LINE_AA)
    axis_len = 0.5 * float(scale) * float(np.max(size))
    axes_obj = np.vstack([np.zeros(3), np.eye(3) * axis_len])
    axes = _project(axes_obj @ np.asarray(R_cam_obj).T + np.asarray(t_cam_obj), K)
    if axes is not None:
        origin = tuple(int(v) for v in np.round(axes[0]))
        for k, axis_color in enumerate(((255, 0, 0), (0, 255, 0), (0, 0, 255))):
            tip = tuple(int(v) for v in np.round(axes[k + 1]))
            cv2.line(image, origin, tip, axis_color, thickness, cv2.LINE_AA)
    if label:
        x, y = int(pts[:, 0].min()), int(pts[:, 1].min()) - 4
        x = min(max(x, 0), image.shape[1] - 1)
        y = min(max(y, 12), image.shape[0] - 1)
        cv2.putText(image, label, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3,
                    cv2.LINE_AA)
        cv2.putText(image, label, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1,
                    cv2.LINE_AA)
    return image


def draw_result(color: np.ndarray, K: np.ndarray, result: FrameResult,
                masks: bool = True) -> np.ndarray:
    """Annotate a copy of the colour image with every pose of a FrameResult.

    Args:
        color: (H, W, 3) uint8 RGB.
        K: (3, 3) intrinsics.
        result: the poses.
        masks: tint the instance masks when the result carries them.

    Returns:
        (H, W, 3) uint8 RGB annotated copy.
    """
    image = np.ascontiguousarray(color, dtype=np.uint8).copy()
    if masks and result.masks is not None and len(result):
        overlay = image.astype(np.float32)
        for i in range(len(result)):
            tint = np.array(CATEGORY_COLORS[int(result.category_ids[i]) - 1], np.float32)
            m = result.masks[i]
            overlay[m] = 0.6 * overlay[m] + 0.4 * tint
        image = overlay.astype(np.uint8)
    for obj in result:
        rgb = CATEGORY_COLORS[obj.category_id - 1]
        label = f'{CATEGORIES[obj.category_id - 1]} #{obj.track_id} {obj.score:.2f}'
        draw_pose(image, K, obj.R_cam_obj, obj.t_cam_obj, obj.scale, obj.size, rgb, label)
    return image
