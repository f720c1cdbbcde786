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

"""Pinhole camera: back-projection of depth pixels and projection of points.

Frames: the camera optical frame (x right, y down, z forward), metres. Pixel
coordinates (u, v) are (column, row) of the pixel centre, as in OpenCV.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Union

import numpy as np
import torch
from torch import Tensor

from cleanpose_core.geometry.checks import check_shapes
from cleanpose_core.geometry.masks import mask_box

__all__ = [
    'CAMERA_INTRINSICS', 'REAL_INTRINSICS', 'BackprojectedPixels', 'backproject_depth',
    'backproject_mask', 'backproject_pixels', 'intrinsics_matrix', 'project_points',
]

# (fx, fy, cx, cy) of the NOCS datasets, pixels.
CAMERA_INTRINSICS = (577.5, 577.5, 319.5, 239.5)
REAL_INTRINSICS = (591.0125, 590.16775, 322.525, 244.11084)

ArrayLike = Union[Tensor, np.ndarray]


class BackprojectedPixels(NamedTuple):
    """Camera-frame points and the pixels they came from.

    Attributes:
        points: (N, 3) camera optical frame, metres.
        pixels: (N, 2) int64 pixel coordinates (u, v) = (column, row).
    """

    points: Tensor
    pixels: Tensor


def intrinsics_matrix(fx: float, fy: float, cx: float, cy: float,
                      dtype: torch.dtype = torch.float32) -> Tensor:
    """Build the (3, 3) pinhole matrix from focal lengths and principal point (pixels)."""
    return torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=dtype)


def _as_tensor(x: ArrayLike, name: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    raise TypeError(f'{name} must be a torch.Tensor or numpy array; got {type(x).__name__}')


def backproject_pixels(depth: ArrayLike, K: ArrayLike, mask: ArrayLike) -> BackprojectedPixels:
    """Lift the masked, valid depth pixels of one image to camera-frame points.

    Points come in row-major pixel order. Numpy inputs are accepted and give tensors.

    Args:
        depth: (H, W) float, metres; 0, NaN and inf mark invalid pixels.
        K: (3, 3) pinhole intrinsics of the camera the depth is registered to.
        mask: (H, W) bool, True on the object.

    Returns:
        BackprojectedPixels(points (N, 3) metres, pixels (N, 2) int64 (u, v)); N may be 0.
        Points have the dtype and device of depth.

    Raises:
        TypeError: if an argument is not an array, depth is not floating or mask not bool.
        ValueError: if depth, mask or K have the wrong shape.
    """
    depth, K, mask = _as_tensor(depth, 'depth'), _as_tensor(K, 'K'), _as_tensor(mask, 'mask')
    check_shapes(depth=(depth, ('H', 'W')), mask=(mask, ('H', 'W')), K=(K, (3, 3)))
    if not depth.is_floating_point():
        raise TypeError(f'depth must be floating point metres; got {depth.dtype} '
                        '(convert millimetres with depth_mm / 1000)')
    if mask.dtype != torch.bool:
        raise TypeError(f'mask must be bool; got {mask.dtype} (use mask > 0)')
    mask = mask.to(depth.device)
    valid = mask & torch.isfinite(depth) & (depth > 0)
    v, u = torch.nonzero(valid, as_tuple=True)
    z = depth[v, u]
    K = K.to(device=depth.device, dtype=depth.dtype)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    x = (u.to(depth.dtype) - cx) * z / fx
    y = (v.to(depth.dtype) - cy) * z / fy
    return BackprojectedPixels(torch.stack((x, y, z), dim=-1), torch.stack((u, v), dim=-1))


def backproject_mask(depth: np.ndarray, K: np.ndarray, mask: np.ndarray,
                     dtype: Optional[np.dtype] = None) -> tuple[np.ndarray, np.ndarray]:
    """Lift one mask's valid depth pixels to points, working inside the mask's box.

    A small object costs little in a large frame: only its bounding box of depth is
    read, as an image of its own (the principal point shifted by the box's corner).

    Args:
        depth: (H, W) metres; 0, NaN and inf invalid.
        K: (3, 3) intrinsics.
        mask: (H, W) bool.
        dtype: the depth dtype to compute in; None = depth's.

    Returns:
        (points (N, 3) float64 camera frame, pixels (N, 2) int64 (u, v) in the full
        image), row-major pixel order; both empty for an empty mask.
    """
    box = mask_box(mask)
    if box is None:
        return np.zeros((0, 3)), np.zeros((0, 2), np.int64)
    y0, x0 = box[0].start, box[1].start
    K_box = np.array(K, dtype=np.float64, copy=True)
    K_box[0, 2] -= x0
    K_box[1, 2] -= y0
    lifted = backproject_pixels(np.ascontiguousarray(depth[box], dtype=dtype), K_box,
                                np.ascontiguousarray(mask[box]))
    return lifted.points.double().numpy(), lifted.pixels.numpy() + np.array([x0, y0])


def backproject_depth(depth: ArrayLike, K: ArrayLike, mask: ArrayLike) -> Tensor:
    """Lift the masked, valid depth pixels of one image to camera-frame points.

    Args:
        depth: (H, W) float, metres; 0, NaN and inf mark invalid pixels.
        K: (3, 3) pinhole intrinsics of the colour camera.
        mask: (H, W) bool, True on the object.

    Returns:
        (N, 3) points in the camera optical frame, metres, row-major pixel order; N may be 0.

    Raises:
        TypeError: if depth is not floating point or mask not bool.
        ValueError: if depth, mask or K have the wrong shape.
    """
    return backproject_pixels(depth, K, mask).points


def project_points(pts_cam: Tensor, K: Tensor) -> Tensor:
    """Project camera-frame points to pixel coordinates (u, v).

    Points with z <= 0 have no meaningful projection; the caller filters them
    (z = 0 gives inf).

    Args:
        pts_cam: (..., 3) camera optical frame, metres.
        K: (3, 3) or (..., 3, 3) intrinsics, broadcast against the leading dims of pts_cam.

    Returns:
        (..., 2) pixel coordinates (u, v), dtype and device of pts_cam.

    Raises:
        ValueError: if the shapes are wrong.
    """
    check_shapes(pts_cam=(pts_cam, ('...', 3)), K=(K, ('...', 3, 3)))
    K = K.to(device=pts_cam.device, dtype=pts_cam.dtype)
    if K.dim() > 2:
        K = K.reshape(K.shape[:-2] + (1,) * (pts_cam.dim() - K.dim() + 1) + (3, 3))
    uvw = (K @ pts_cam[..., None])[..., 0]
    return uvw[..., :2] / uvw[..., 2:3]
