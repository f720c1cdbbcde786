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

"""Segmenter-like errors on ground-truth instance masks, for training the pose network.

At inference the masks come from a segmenter, not from the renderer: their edges are
coarse (a YOLO mask is predicted on a grid 4x coarser than its input, which is itself
smaller than the image), they bleed onto the table and the background behind the
object, and they miss thin parts. A network trained only on exact masks has never seen
a background point among its object points. perturb_mask imitates those errors:

1. coarse edges: the mask is shrunk by a factor of ``coarse`` (area averaging), grown
   back bilinearly and thresholded at a random level, which rounds corners, fills
   notches and drops thin parts the way a low-resolution mask does;
2. a random dilation or erosion by up to ``grow`` / ``shrink`` pixels, the bleed (or
   the lost rim) of an over- or under-confident segmenter.

The result is clipped to the image and never empty (the exact mask is returned when a
perturbation would remove every pixel).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ['perturb_mask']


def perturb_mask(mask: np.ndarray, rng: np.random.Generator, coarse: tuple = (3, 8),
                 grow: int = 4, shrink: int = 3) -> np.ndarray:
    """Return a copy of a bool mask with segmenter-like edge errors.

    Args:
        mask: (H, W) bool instance mask.
        rng: numpy Generator drawing the perturbation.
        coarse: (low, high) range of the downsampling factor of the edge coarsening.
        grow: largest dilation, pixels.
        shrink: largest erosion, pixels.

    Returns:
        (H, W) bool, never empty unless ``mask`` is.

    Raises:
        ValueError: mask not 2-D bool, or a bad range.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype != np.bool_:
        raise ValueError(f'mask must be (H, W) bool; got {mask.shape} {mask.dtype}')
    low, high = (float(v) for v in coarse)
    if not 1.0 <= low <= high or grow < 0 or shrink < 0:
        raise ValueError(f'need 1 <= coarse[0] <= coarse[1] and grow, shrink >= 0; got '
                         f'{coarse}, {grow}, {shrink}')
    if not mask.any():
        return mask.copy()
    h, w = mask.shape
    # Work on the mask's box plus room for the growth and the coarse grid.
    pad = int(grow + 2 * high + 2)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    y0, y1 = max(rows[0] - pad, 0), min(rows[-1] + 1 + pad, h)
    x0, x1 = max(cols[0] - pad, 0), min(cols[-1] + 1 + pad, w)
    patch = mask[y0:y1, x0:x1].astype(np.float32)

    factor = rng.uniform(low, high)
    small = (max(1, round((x1 - x0) / factor)), max(1, round((y1 - y0) / factor)))
    coarse_patch = cv2.resize(cv2.resize(patch, small, interpolation=cv2.INTER_AREA),
                              (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    out = coarse_patch > rng.uniform(0.35, 0.65)

    pixels = int(rng.integers(-shrink, grow + 1))
    if pixels:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(pixels) + 1,) * 2)
        op = cv2.dilate if pixels > 0 else cv2.erode
        out = op(out.view(np.uint8), kernel) > 0
    if not out.any():
        return mask.copy()
    result = np.zeros_like(mask)
    result[y0:y1, x0:x1] = out
    return result
