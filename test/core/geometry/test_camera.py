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

"""Tests for geometry.camera: back-projection and projection."""

from __future__ import annotations

from conftest import seeded, tol
import numpy as np
import pytest
import torch
from torch.testing import assert_close

from cleanpose_core.geometry.camera import (backproject_depth, backproject_mask,
                                            backproject_pixels,
                                            CAMERA_INTRINSICS, intrinsics_matrix, project_points,
                                            REAL_INTRINSICS)
from cleanpose_core.geometry.masks import mask_box

K_REAL = intrinsics_matrix(*REAL_INTRINSICS, dtype=torch.float64)


def test_intrinsics_constants():
    assert CAMERA_INTRINSICS == (577.5, 577.5, 319.5, 239.5)
    assert REAL_INTRINSICS == (591.0125, 590.16775, 322.525, 244.11084)
    assert_close(K_REAL[0, 2], torch.tensor(322.525, dtype=torch.float64))


def test_backproject_single_pixel_oracle():
    depth = torch.zeros(4, 5, dtype=torch.float64)
    depth[2, 3] = 2.0
    K = torch.tensor([[100.0, 0, 2.0], [0, 50.0, 1.0], [0, 0, 1]], dtype=torch.float64)
    mask = torch.ones(4, 5, dtype=torch.bool)
    out = backproject_pixels(depth, K, mask)
    # u=3, v=2: x = (3-2)*2/100, y = (2-1)*2/50
    assert_close(out.points, torch.tensor([[0.02, 0.04, 2.0]], dtype=torch.float64))
    assert out.pixels.tolist() == [[3, 2]] and out.pixels.dtype == torch.int64


def test_backproject_skips_invalid_and_unmasked(dtype):
    depth = torch.full((3, 3), 1.0, dtype=dtype)
    depth[0, 0] = 0.0
    depth[0, 1] = float('nan')
    depth[0, 2] = float('inf')
    depth[1, 0] = -1.0
    mask = torch.ones(3, 3, dtype=torch.bool)
    mask[2, 2] = False
    pts = backproject_depth(depth, K_REAL.to(dtype), mask)
    assert pts.shape == (4, 3) and pts.dtype == dtype
    assert bool(torch.isfinite(pts).all())


def test_backproject_empty_mask():
    pts, pix = backproject_pixels(torch.ones(6, 8), K_REAL, torch.zeros(6, 8, dtype=torch.bool))
    assert pts.shape == (0, 3) and pix.shape == (0, 2)


def test_backproject_accepts_numpy():
    depth = np.full((2, 2), 0.5, dtype=np.float32)
    pts = backproject_depth(depth, K_REAL.numpy(), np.ones((2, 2), dtype=bool))
    assert isinstance(pts, torch.Tensor) and pts.shape == (4, 3) and pts.dtype == torch.float32


def test_backproject_project_round_trip(dtype):
    g = seeded(0)
    depth = (0.3 + torch.rand(48, 64, generator=g)).to(dtype)
    mask = torch.rand(48, 64, generator=g) > 0.5
    pts, pix = backproject_pixels(depth, K_REAL.to(dtype), mask)
    uv = project_points(pts, K_REAL.to(dtype))
    assert_close(uv, pix.to(dtype), **tol(dtype))


@pytest.mark.parametrize('depth_shape,mask_shape,K_shape,msg', [
    ((4, 5), (4, 6), (3, 3),
     r'mask must have shape \(H, W\) with W=5 \(from depth\); got \(4, 6\)'),
    ((4, 5), (4, 5), (4, 4), r'K must have shape \(3, 3\); got \(4, 4\)'),
    ((1, 4, 5), (4, 5), (3, 3), r'depth must have shape \(H, W\); got \(1, 4, 5\)'),
], ids=['mask_size', 'K_shape', 'depth_batched'])
def test_backproject_rejects_shapes(depth_shape, mask_shape, K_shape, msg):
    with pytest.raises(ValueError, match=msg):
        backproject_depth(torch.ones(depth_shape), torch.eye(3).new_zeros(K_shape) + 1,
                          torch.ones(mask_shape, dtype=torch.bool))


def test_backproject_rejects_dtypes():
    with pytest.raises(TypeError, match=r'depth must be floating point metres; got torch.int32'):
        backproject_depth(torch.ones(2, 2, dtype=torch.int32), K_REAL, torch.ones(2, 2) > 0)
    with pytest.raises(TypeError, match=r'mask must be bool; got torch.uint8'):
        backproject_depth(torch.ones(2, 2), K_REAL, torch.ones(2, 2, dtype=torch.uint8))
    with pytest.raises(TypeError, match=r'depth must be a torch.Tensor or numpy array; got list'):
        backproject_depth([[1.0]], K_REAL, torch.ones(1, 1) > 0)


@pytest.mark.parametrize('batch', [0, 1, 4])
def test_project_points_batched_K_matches_loop(batch, dtype):
    g = seeded(1)
    pts = (torch.rand(batch, 7, 3, generator=g) + torch.tensor([0, 0, 0.5])).to(dtype)
    K = K_REAL.to(dtype).expand(batch, 3, 3).clone()
    K[:, 0, 0] += torch.arange(batch, dtype=dtype)
    uv = project_points(pts, K)
    assert uv.shape == (batch, 7, 2)
    for i in range(batch):
        assert_close(uv[i], project_points(pts[i], K[i]), **tol(dtype))


def test_project_points_oracle():
    uv = project_points(torch.tensor([0.1, -0.2, 2.0], dtype=torch.float64), K_REAL)
    fx, fy, cx, cy = REAL_INTRINSICS
    assert_close(uv, torch.tensor([fx * 0.05 + cx, fy * -0.1 + cy], dtype=torch.float64))


def test_project_points_rejects_shape():
    with pytest.raises(ValueError, match=r'pts_cam must have shape \(\.\.\., 3\); got \(5, 2\)'):
        project_points(torch.zeros(5, 2), K_REAL)


def test_mask_box_is_the_tight_box_of_the_true_pixels():
    mask = np.zeros((6, 8), dtype=bool)
    mask[2, 3] = mask[4, 6] = True
    rows, cols = mask_box(mask)
    assert (rows.start, rows.stop, cols.start, cols.stop) == (2, 5, 3, 7)
    assert mask[rows, cols].sum() == mask.sum()
    assert mask_box(np.zeros((6, 8), dtype=bool)) is None


def test_backproject_mask_in_its_box_equals_the_full_image():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 2.0, (40, 60)).astype(np.float32)
    depth[12, 20] = 0.0                                   # invalid inside the mask
    K = np.array([[80.0, 0.0, 31.0], [0.0, 82.0, 19.5], [0.0, 0.0, 1.0]])
    mask = np.zeros((40, 60), bool)
    mask[10:25, 18:40] = True
    points, pixels = backproject_mask(depth, K, mask)
    full = backproject_pixels(depth, K, mask)
    np.testing.assert_allclose(points, full.points.double().numpy(), rtol=1e-6)
    np.testing.assert_array_equal(pixels, full.pixels.numpy())
    points, pixels = backproject_mask(depth, K, np.zeros_like(mask))
    assert points.shape == (0, 3) and pixels.shape == (0, 2)
