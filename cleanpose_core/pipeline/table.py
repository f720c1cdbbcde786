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

"""Take the table off segmenter masks: the pixels a mask bleeds onto the supporting plane.

A segmenter's mask of an object standing on a table usually spills a few pixels onto
the table around the object's foot; those pixels lift to points on the table, next to
the object, where the outlier rejection keeps them. clear_table fits the dominant plane
of the background (the pixels outside every mask) and drops from each mask the pixels
that lie within ``clearance`` of that plane or below it. A mask whose pixels are mostly
on the plane (a flat object, or a plane that is not its support) is left as it was.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from cleanpose_core.geometry.camera import backproject_mask
from cleanpose_core.geometry.plane import Plane
from cleanpose_core.geometry.resting import fit_frame_plane

__all__ = ['clear_table']

_MIN_KEPT = 0.5       # a mask keeps at least this share of its valid pixels, else untouched


def clear_table(depth: np.ndarray, K: np.ndarray, masks: Sequence[np.ndarray],
                clearance: float, rng: Optional[np.random.Generator],
                plane: Optional[Plane] = None) -> tuple[list, Optional[Plane]]:
    """Remove the supporting plane's pixels from instance masks.

    Args:
        depth: (H, W) metres; 0, NaN and inf invalid.
        K: (3, 3) intrinsics.
        masks: (H, W) bool instance masks.
        clearance: metres above the plane below which a mask pixel is table.
        rng: generator of the RANSAC fit (unused when plane is given).
        plane: the table plane when already fitted (fit_frame_plane); None fits it.

    Returns:
        (masks, plane): new masks (the inputs where nothing changed) and the fitted
        plane, or the inputs and None when no plane was found.
    """
    masks = list(masks)
    if not masks:
        return masks, None
    K = np.asarray(K, dtype=np.float64)
    if plane is None:
        plane = fit_frame_plane(depth, K, masks, rng)
    if plane is None:
        return masks, None
    out = []
    for mask in masks:
        points, pixels = backproject_mask(depth, K, mask)
        if len(points) == 0:
            out.append(mask)
            continue
        height = points @ plane.normal + plane.offset
        table = height < clearance
        if not table.any() or table.mean() > 1.0 - _MIN_KEPT:
            out.append(mask)
            continue
        cleared = mask.copy()
        cleared[pixels[table, 1], pixels[table, 0]] = False
        out.append(cleared)
    return out, plane
