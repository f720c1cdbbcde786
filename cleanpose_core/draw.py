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

"""The one 3D-box drawer: oriented boxes, object axes and labels projected onto an image.

Used by the synthetic preview (ground truth), the pipeline's annotated images and the
ROS node's debug image, so all three look alike and share one projection.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from cleanpose_core.geometry.box_layout import BOX_CORNER_SIGNS, BOX_EDGES

__all__ = ['CATEGORY_COLORS', 'box_corners_np', 'project_to_pixels', 'draw_pose']

# RGB colour per category (index = class id - 1), colour-blind-safe (Okabe-Ito).
CATEGORY_COLORS = ((230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66),
                   (0, 114, 178), (213, 94, 0))
_SIGNS = np.asarray(BOX_CORNER_SIGNS, dtype=np.float64)
# Points farther off the image than this many image sizes are not drawn (cv2 overflow).
_FAR = 10


def box_corners_np(R_cam_obj: np.ndarray, t_cam_obj: np.ndarray, scale: float,
                   size: np.ndarray) -> np.ndarray:
    """Corners of an oriented metric box in the camera frame.

    Args:
        R_cam_obj: (3, 3) rotation object -> camera.
        t_cam_obj: (3,) box centre, metres, camera frame.
        scale: metric diagonal, metres.
        size: (3,) normalised extents (diagonal 1); with scale 1, metric extents.

    Returns:
        (8, 3) corners, metres, in BOX_CORNER_SIGNS order.
    """
    half = 0.5 * float(scale) * np.asarray(size, dtype=np.float64)
    return (_SIGNS * half) @ np.asarray(R_cam_obj, dtype=np.float64).T + np.asarray(t_cam_obj)


def project_to_pixels(pts_cam: np.ndarray, K: np.ndarray) -> Optional[np.ndarray]:
    """Pixel coordinates (N, 2) of camera-frame points, or None when any is behind the camera."""
    pts_cam = np.asarray(pts_cam, dtype=np.float64)
    if not np.all(np.isfinite(pts_cam)) or np.any(pts_cam[:, 2] <= 1e-3):
        return None
    uvw = pts_cam @ np.asarray(K, dtype=np.float64).T
    return uvw[:, :2] / uvw[:, 2:3]


def _pixel(uv: np.ndarray) -> tuple:
    return tuple(int(v) for v in np.rint(uv))


def draw_pose(image: np.ndarray, K: np.ndarray, R_cam_obj: np.ndarray, t_cam_obj: np.ndarray,
              scale: float, size: np.ndarray, color: tuple = (0, 255, 0), label: str = '',
              thickness: int = 2, axes: bool = True) -> np.ndarray:
    """Draw one oriented box, its axes (x red, y green, z blue) and a label, in place.

    A box with a corner behind the camera, or projecting absurdly far off the image,
    is skipped.

    Args:
        image: (H, W, 3) uint8 RGB, modified in place.
        K: (3, 3) intrinsics.
        R_cam_obj, t_cam_obj, scale, size: the pose (see box_corners_np).
        color: RGB of the box and the label.
        label: text drawn above the box.
        thickness: line width, pixels.
        axes: also draw the object axes.

    Returns:
        The same image.
    """
    import cv2

    uv = project_to_pixels(box_corners_np(R_cam_obj, t_cam_obj, scale, size), K)
    if uv is None or np.any(np.abs(uv) > _FAR * max(image.shape)):
        return image
    for a, b in BOX_EDGES:
        cv2.line(image, _pixel(uv[a]), _pixel(uv[b]), color, thickness, cv2.LINE_AA)
    if axes:
        length = 0.5 * float(scale) * float(np.max(size))
        ends = np.vstack([np.zeros(3), np.eye(3) * length])
        axis_uv = project_to_pixels(ends @ np.asarray(R_cam_obj).T + np.asarray(t_cam_obj), K)
        if axis_uv is not None:
            for k, axis_color in enumerate(((255, 0, 0), (0, 255, 0), (0, 0, 255))):
                cv2.line(image, _pixel(axis_uv[0]), _pixel(axis_uv[k + 1]), axis_color,
                         thickness, cv2.LINE_AA)
    if label:
        x = min(max(int(uv[:, 0].min()), 0), image.shape[1] - 1)
        y = min(max(int(uv[:, 1].min()) - 4, 12), image.shape[0] - 1)
        cv2.putText(image, label, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3,
                    cv2.LINE_AA)
        cv2.putText(image, label, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1,
                    cv2.LINE_AA)
    return image
