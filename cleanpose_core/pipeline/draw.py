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
from cleanpose_core.draw import CATEGORY_COLORS, draw_pose
from cleanpose_core.pipeline.results import FrameResult

__all__ = ['draw_result']


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
