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

"""Per-instance preprocessing shared by training, evaluation and the inference pipeline.

One object instance of an RGB-D frame becomes a fixed-size network input:

1. valid pixels = mask ∧ finite depth > 0, back-projected to camera-frame points;
2. gross-outlier rejection: points farther from the median point than
   ``median(d) + outlier_mads * 1.4826 * MAD(d)`` (d = distance to the median point;
   1.4826 * MAD estimates a standard deviation robustly), clamped to
   [min_radius, max_radius], are dropped. This removes depth of a far background or
   flying pixels that a mask edge leaks onto. d is far from Gaussian on real shapes
   (elongated objects seen obliquely reach 9 robust SDs on clean boxes), hence the
   default of 10: points about 20 cm off a 15 cm object go, object points stay;
3. fixed-size sampling: num_points distinct kept points at random (without replacement)
   when there are enough; otherwise every kept point in random order, then random
   repeats (with replacement); so the first k of a sample are distinct whenever k kept
   points exist;
4. a square RGB crop centred on the mask's bounding box, its side the longer box side
   times (1 + 2 * crop_margin), zero-padded at the image border and resized to
   crop_size; pixel_index gives each point's pixel in the flattened crop.

numpy in and out; only stack_instances builds torch tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Optional, Sequence, Union

import cv2
import numpy as np
import torch

from cleanpose_core.batch import PoseInput
from cleanpose_core.categories import NUM_CATEGORIES
from cleanpose_core.geometry.masks import mask_box

__all__ = ['InstanceSample', 'extract_instance', 'largest_depth_layer', 'main_depth_layer',
           'stack_instances', 'square_crop_box', 'SKIP_REASONS']

# Reasons extract_instance gives for skipping an instance.
SKIP_REASONS = ('empty_mask', 'invalid_depth', 'too_few_points')
# extract_instance's depth_gap scales with the median depth squared, from this depth up.
_GAP_MIN_DEPTH = 0.5


@dataclass(frozen=True)
class InstanceSample:
    """One preprocessed instance.

    Attributes:
        points: (N, 3) float32 camera-frame points, metres.
        pixel_index: (N,) int64 index of each point's pixel in the flattened S*S crop.
        rgb: (3, S, S) float32 colour crop in [0, 1].
        rows: (N,) int64 image row of each point's source pixel.
        cols: (N,) int64 image column of each point's source pixel.
        box_xyxy: (4,) float32 mask bounding box x1, y1, x2, y2 (pixels, end exclusive).
        crop_box: (3,) int64 x0, y0, side of the square crop in the image (may extend
            past the border, padded with zeros).
        num_valid: valid points left after outlier rejection (before resampling).
        num_outliers: points removed by the outlier rejection.
    """

    points: np.ndarray
    pixel_index: np.ndarray
    rgb: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    box_xyxy: np.ndarray
    crop_box: np.ndarray
    num_valid: int
    num_outliers: int


def square_crop_box(box_xyxy: Sequence[float], margin: float) -> tuple[int, int, int]:
    """Return (x0, y0, side) of the square crop around a box, in integer pixels.

    Args:
        box_xyxy: x1, y1, x2, y2 pixels (end exclusive).
        margin: fraction of the longer side added on each side.
    """
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    side = max(1, int(math.ceil(max(x2 - x1, y2 - y1) * (1.0 + 2.0 * margin))))
    x0 = int(math.floor((x1 + x2) / 2.0 - side / 2.0))
    y0 = int(math.floor((y1 + y2) / 2.0 - side / 2.0))
    return x0, y0, side


def _crop(color: np.ndarray, x0: int, y0: int, side: int, size: int) -> np.ndarray:
    """Cut a zero-padded side x side square at (x0, y0) and resize it to size x size."""
    h, w = color.shape[:2]
    patch = np.zeros((side, side, 3), dtype=np.uint8)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + side, w), min(y0 + side, h)
    if sx1 > sx0 and sy1 > sy0:
        patch[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = color[sy0:sy1, sx0:sx1]
    if side == size:
        return patch
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp)


def _as_rng(rng: Union[np.random.Generator, int, None]) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(0 if rng is None else int(rng))


def largest_depth_layer(z: np.ndarray, gap: float) -> np.ndarray:
    """Mark the points of the most populated depth layer.

    The depths, sorted, split into layers wherever two neighbours lie more than
    ``gap`` apart; the layer holding the most points wins (the first on a tie).

    Args:
        z: (N,) depths, metres.
        gap: smallest depth jump, metres, that separates two layers.

    Returns:
        (N,) bool, True on the points of that layer (all True when there is one layer).
    """
    z = np.asarray(z)
    keep = np.ones(len(z), bool)
    if len(z) < 2:
        return keep
    order = np.argsort(z, kind='stable')
    breaks = np.flatnonzero(np.diff(z[order]) > gap) + 1
    if len(breaks) == 0:
        return keep
    bounds = np.concatenate(([0], breaks, [len(z)]))
    k = int(np.argmax(np.diff(bounds)))
    keep[:] = False
    keep[order[bounds[k]:bounds[k + 1]]] = True
    return keep


def main_depth_layer(z: np.ndarray, depth_gap: float, center_z: float) -> np.ndarray:
    """largest_depth_layer with a gap of ``depth_gap`` metres at 1 m, growing with depth.

    The depth steps of a stereo or structured-light sensor grow with z^2, so the gap is
    ``depth_gap * max(center_z, 0.5)^2``.

    Args:
        z: (N,) depths of one instance's points, metres.
        depth_gap: the gap at 1 m, metres; <= 0 keeps every point.
        center_z: the instance's typical (median) depth, metres.

    Returns:
        (N,) bool.
    """
    if depth_gap <= 0.0:
        return np.ones(len(z), bool)
    return largest_depth_layer(z, depth_gap * max(float(center_z), _GAP_MIN_DEPTH) ** 2)


def extract_instance(color: np.ndarray, depth: np.ndarray, mask: np.ndarray, K: np.ndarray,
                     num_points: int, crop_size: int,
                     rng: Union[np.random.Generator, int, None] = None, min_points: int = 32,
                     outlier_mads: float = 10.0, min_radius: float = 0.02,
                     max_radius: float = 0.6,
                     crop_margin: float = 0.1,
                     depth_gap: float = 0.0) -> Union[InstanceSample, str]:
    """Turn one instance mask of an RGB-D frame into a fixed-size network input.

    Args:
        color: (H, W, 3) uint8 RGB.
        depth: (H, W) metres; 0, NaN and inf mark invalid pixels.
        mask: (H, W) bool, True on the instance.
        K: (3, 3) pinhole intrinsics of the colour camera (depth aligned to colour).
        num_points: N, points in the sample.
        crop_size: S, side of the square RGB crop, pixels.
        rng: numpy Generator or seed for the sampling; None = seed 0 (deterministic).
        min_points: fewer valid points after outlier rejection: skip ('too_few_points').
        outlier_mads: robust standard deviations of the distance to the median point
            beyond which a point is an outlier.
        min_radius: distance (m) from the median point that is never an outlier.
        max_radius: distance (m) from the median point that is always an outlier.
        crop_margin: fraction of the box's longer side added on each side of the crop.
        depth_gap: > 0 keeps only the most populated depth layer of the points (see
            main_depth_layer: layers split at depth jumps larger than depth_gap metres
            at 1 m, growing with z^2). For segmenter masks that bleed onto an occluder
            in front or a surface behind; 0 = off.

    Returns:
        An InstanceSample, or a skip reason from SKIP_REASONS: 'empty_mask' (no mask
        pixels), 'invalid_depth' (no mask pixel has valid depth), 'too_few_points'.

    Raises:
        ValueError: wrong shapes or dtypes, or non-positive num_points / crop_size.
    """
    color = np.asarray(color)
    depth = np.asarray(depth)
    mask = np.asarray(mask)
    if color.ndim != 3 or color.shape[2] != 3 or color.dtype != np.uint8:
        raise ValueError(f'color must be (H, W, 3) uint8; got {color.shape} {color.dtype}')
    hw = color.shape[:2]
    if depth.shape != hw:
        raise ValueError(f'depth must have shape (H, W) = {hw} like color; got {depth.shape}')
    if mask.shape != hw or mask.dtype != np.bool_:
        raise ValueError(f'mask must be (H, W) = {hw} bool; got {mask.shape} {mask.dtype}')
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f'K must have shape (3, 3); got {K.shape}')
    if num_points < 1 or crop_size < 1 or min_points < 1:
        raise ValueError(f'num_points, crop_size and min_points must be >= 1; got '
                         f'{num_points}, {crop_size}, {min_points}')

    box = mask_box(mask)
    if box is None:
        return 'empty_mask'
    # Work inside the mask's box: a small object costs little in a large frame.
    (y1, y2), (x1, x2) = (box[0].start, box[0].stop), (box[1].start, box[1].stop)
    rows, cols = np.nonzero(mask[box])
    z = depth[box][rows, cols].astype(np.float32)
    valid = np.isfinite(z) & (z > 0)
    if not valid.any():
        return 'invalid_depth'
    rows, cols, z = rows[valid] + y1, cols[valid] + x1, z[valid]
    fx, fy, cx, cy = (np.float32(v) for v in (K[0, 0], K[1, 1], K[0, 2], K[1, 2]))
    pts = np.stack([(cols - cx) * z / fx, (rows - cy) * z / fy, z], axis=-1)

    # Robust statistics from at most ~4096 evenly spaced points (enough for a median).
    stats = pts[::max(1, len(pts) // 4096)]
    center = np.median(stats, axis=0)
    dist_stats = np.linalg.norm(stats - center, axis=-1)
    med = float(np.median(dist_stats))
    mad = float(np.median(np.abs(dist_stats - med)))
    radius = min(max(med + outlier_mads * 1.4826 * mad, min_radius), max_radius)
    keep = np.linalg.norm(pts - center, axis=-1) <= radius
    if depth_gap > 0.0:
        keep &= main_depth_layer(pts[:, 2], depth_gap, center[2])
    num_outliers = int(len(keep) - keep.sum())
    rows, cols, pts = rows[keep], cols[keep], pts[keep]
    num_valid = len(pts)
    if num_valid < min_points:
        return 'too_few_points'

    rng = _as_rng(rng)
    if num_valid >= num_points:
        choice = rng.choice(num_valid, num_points, replace=False)
    else:
        choice = np.concatenate([rng.permutation(num_valid),
                                 rng.integers(0, num_valid, num_points - num_valid)])
    rows, cols, pts = rows[choice], cols[choice], pts[choice]

    box = np.array([x1, y1, x2, y2], dtype=np.float32)
    x0, y0, side = square_crop_box(box, crop_margin)
    crop = _crop(color, x0, y0, side, crop_size)
    u = np.clip(((cols - x0 + 0.5) * crop_size / side).astype(np.int64), 0, crop_size - 1)
    v = np.clip(((rows - y0 + 0.5) * crop_size / side).astype(np.int64), 0, crop_size - 1)
    return InstanceSample(
        points=pts.astype(np.float32), pixel_index=v * crop_size + u,
        rgb=np.ascontiguousarray(crop.transpose(2, 0, 1), dtype=np.float32) / np.float32(255),
        rows=rows.astype(np.int64), cols=cols.astype(np.int64), box_xyxy=box,
        crop_box=np.array([x0, y0, side], dtype=np.int64), num_valid=num_valid,
        num_outliers=num_outliers)


def stack_instances(samples: Sequence[InstanceSample], category_ids: Sequence[int],
                    num_points: Optional[int] = None,
                    crop_size: Optional[int] = None) -> PoseInput:
    """Stack instance samples into one PoseInput (CPU tensors).

    Args:
        samples: B samples with equal N and S.
        category_ids: (B,) NOCS class ids 1..6.
        num_points: N of an empty batch (B = 0); ignored otherwise.
        crop_size: S of an empty batch (B = 0); ignored otherwise.

    Returns:
        PoseInput with points (B, N, 3) float32, rgb (B, 3, S, S) float32,
        pixel_index (B, N) int64, category_ids (B,) int64.

    Raises:
        ValueError: lengths differ, samples disagree in N or S, or an id is not in 1..6.
    """
    ids = np.asarray(category_ids, dtype=np.int64).reshape(-1)
    if len(ids) != len(samples):
        raise ValueError(f'category_ids has {len(ids)} entries for {len(samples)} samples')
    if len(ids) and (ids.min() < 1 or ids.max() > NUM_CATEGORIES):
        raise ValueError(f'category_ids must be in 1..{NUM_CATEGORIES}; got '
                         f'{sorted(set(ids.tolist()))}')
    if not samples:
        n, s = int(num_points or 0), int(crop_size or 0)
        return PoseInput(points=torch.zeros(0, n, 3), rgb=torch.zeros(0, 3, s, s),
                         pixel_index=torch.zeros(0, n, dtype=torch.long),
                         category_ids=torch.zeros(0, dtype=torch.long))
    shapes = {(s.points.shape, s.rgb.shape) for s in samples}
    if len(shapes) != 1:
        raise ValueError(f'samples must share N and S; got (points, rgb) shapes {sorted(shapes)}')
    return PoseInput(
        points=torch.from_numpy(np.stack([s.points for s in samples])),
        rgb=torch.from_numpy(np.stack([s.rgb for s in samples])),
        pixel_index=torch.from_numpy(np.stack([s.pixel_index for s in samples])),
        category_ids=torch.from_numpy(ids))
