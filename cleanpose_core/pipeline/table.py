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

from cleanpose_core.geometry.plane import fit_table_plane, Plane

__all__ = ['clear_table']

_STRIDE = 6           # background pixels sampled on this grid for the plane fit
_MIN_KEPT = 0.5       # a mask keeps at least this share of its valid pixels, else untouched


def _lift(depth: np.ndarray, K: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    z = depth[rows, cols].astype(np.float64)
    return np.stack([(cols - K[0, 2]) * z / K[0, 0], (rows - K[1, 2]) * z / K[1, 1], z],
                    axis=-1)


def clear_table(depth: np.ndarray, K: np.ndarray, masks: Sequence[np.ndarray],
                clearance: float, rng: np.random.Generator
                ) -> tuple[list, Optional[Plane]]:
    """Remove the supporting plane's pixels from instance masks.

    Args:
        depth: (H, W) metres; 0, NaN and inf invalid.
        K: (3, 3) intrinsics.
        masks: (H, W) bool instance masks.
        clearance: metres above the plane below which a mask pixel is table.
        rng: generator of the RANSAC fit.

    Returns:
        (masks, plane): new masks (the inputs where nothing changed) and the fitted
        plane, or the inputs and None when no plane was found.
    """
    masks = list(masks)
    if not masks:
        return masks, None
    K = np.asarray(K, dtype=np.float64)
    # The plane is fitted on every _STRIDE-th pixel of each row and column.
    coarse = depth[::_STRIDE, ::_STRIDE]
    coarse_valid = np.isfinite(coarse) & (coarse > 0)
    coarse_union = np.logical_or.reduce([m[::_STRIDE, ::_STRIDE] for m in masks])
    rows, cols = np.nonzero(coarse_valid & ~coarse_union)
    background = _lift(depth, K, rows * _STRIDE, cols * _STRIDE)
    rows, cols = np.nonzero(coarse_valid & coarse_union)
    objects = _lift(depth, K, rows * _STRIDE, cols * _STRIDE)
    # A table fills most of the background: 64 hypotheses scored on 2,000 points find it
    # (all three points on it with probability >= 1/8 each) in a few milliseconds.
    plane = fit_table_plane(background, rng, above=objects if len(objects) else None,
                            iterations=64, max_points=2000)
    if plane is None:
        return masks, None
    out = []
    for mask in masks:
        # Work inside the mask's box: a small object costs little in a large frame.
        row_any = np.flatnonzero(mask.any(axis=1))
        if len(row_any) == 0:
            out.append(mask)
            continue
        col_any = np.flatnonzero(mask.any(axis=0))
        y0, x0 = row_any[0], col_any[0]
        box = (slice(y0, row_any[-1] + 1), slice(x0, col_any[-1] + 1))
        z = depth[box]
        rows, cols = np.nonzero(mask[box] & np.isfinite(z) & (z > 0))
        if len(rows) == 0:
            out.append(mask)
            continue
        rows, cols = rows + y0, cols + x0
        height = _lift(depth, K, rows, cols) @ plane.normal + plane.offset
        table = height < clearance
        if not table.any() or table.mean() > 1.0 - _MIN_KEPT:
            out.append(mask)
            continue
        cleared = mask.copy()
        cleared[rows[table], cols[table]] = False
        out.append(cleared)
    return out, plane
