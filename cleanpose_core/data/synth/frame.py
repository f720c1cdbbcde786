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

"""The rendered frame record and its per-instance ground-truth labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from cleanpose_core.data.synth.primitives import PART_HANDLE
from cleanpose_core.data.synth.scene import PlacedObject
from cleanpose_core.geometry.masks import mask_box

__all__ = ['RenderedFrame', 'handle_pixel_threshold', 'instance_labels']


@dataclass(frozen=True)
class RenderedFrame:
    """One rendered frame with per-instance ground truth (n visible objects).

    Attributes:
        color: (H, W, 3) uint8 RGB.
        depth: (H, W) float32 z-depth with sensor noise, metres; 0 = missing.
        depth_clean: (H, W) float32 noise-free z-depth, metres; 0 = no surface.
        mask: (H, W) uint8 instance id per pixel, 255 = background.
        coord: (H, W, 3) float32 canonical coordinates in [-0.5, 0.5] on category
            objects, (-0.5, -0.5, 0.5) elsewhere (black in the NOCS PNG).
        K: (3, 3) intrinsics.
        instance_ids: (n,) int32 mask values of the visible objects (distractors too).
        class_ids: (n,) int32 NOCS class ids, 0 = distractor.
        model_ids: (n,) str '<category>_<seed>'.
        bboxes: (n, 4) int32 y1, x1, y2, x2 of the mask (y2, x2 exclusive).
        scales: (n,) float32 metric bounding-box diagonals, metres.
        sizes: (n, 3) float32 normalised extents.
        rotations: (n, 3, 3) float32 R_cam_obj.
        translations: (n, 3) float32 t_cam_obj, metres.
        handle_visibility: (n,) int32, 1 unless a mug whose handle is hidden.
        pixel_counts: (n,) int32 visible pixels per instance.
        pose_names: (n,) str resting pose of each object.
    """

    color: np.ndarray
    depth: np.ndarray
    depth_clean: np.ndarray
    mask: np.ndarray
    coord: np.ndarray
    K: np.ndarray
    instance_ids: np.ndarray
    class_ids: np.ndarray
    model_ids: np.ndarray
    bboxes: np.ndarray
    scales: np.ndarray
    sizes: np.ndarray
    rotations: np.ndarray
    translations: np.ndarray
    handle_visibility: np.ndarray
    pixel_counts: np.ndarray
    pose_names: np.ndarray


def handle_pixel_threshold(width: int, height: int) -> int:
    """Visible handle pixels needed to call a mug handle visible (12 at 640x480)."""
    return max(2, int(round(12 * width * height / (640 * 480))))


def instance_labels(objects: Sequence[PlacedObject], mask: np.ndarray, parts: np.ndarray,
                    R_co: np.ndarray, t_co: np.ndarray, width: int, height: int) -> dict:
    """Collect the ground truth of the objects visible in a frame.

    Args:
        objects: the scene's objects; the label rows follow their order.
        mask: (H, W) uint8 instance id per pixel, 255 = background.
        parts: (H, W) uint8 part id of the surface seen at each pixel.
        R_co: (n_obj, 3, 3) R_cam_obj of every object.
        t_co: (n_obj, 3) t_cam_obj of every object, metres.
        width, height: image size, pixels.

    Returns:
        The per-instance fields of :class:`RenderedFrame`, from ``instance_ids`` to
        ``pose_names``, for the objects with at least one visible pixel.
    """
    counts = np.bincount(mask.ravel(), minlength=256)
    rows = []
    handle_min = handle_pixel_threshold(width, height)
    for k, o in enumerate(objects):
        if counts[o.instance_id] == 0:
            continue
        pixels = mask == o.instance_id
        box = mask_box(pixels)
        handle = 1
        if o.shape.category == 'mug':
            n_handle = int(np.count_nonzero(parts[box][pixels[box]] == PART_HANDLE))
            handle = int(n_handle >= handle_min)
        rows.append((o.instance_id, o.shape.class_id, o.shape.model_id,
                     (box[0].start, box[1].start, box[0].stop, box[1].stop), o.shape.scale,
                     o.shape.size, R_co[k], t_co[k], handle, counts[o.instance_id],
                     o.pose_name))
    n = len(rows)
    col = list(zip(*rows)) if rows else [()] * 11
    return dict(
        instance_ids=np.array(col[0], np.int32), class_ids=np.array(col[1], np.int32),
        model_ids=np.array(col[2], dtype=str),
        bboxes=np.array(col[3], np.int32).reshape(n, 4),
        scales=np.array(col[4], np.float32),
        sizes=np.array(col[5], np.float32).reshape(n, 3),
        rotations=np.array(col[6], np.float32).reshape(n, 3, 3),
        translations=np.array(col[7], np.float32).reshape(n, 3),
        handle_visibility=np.array(col[8], np.int32), pixel_counts=np.array(col[9], np.int32),
        pose_names=np.array(col[10], dtype=str))
