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

"""Per-instance preprocessing: masking, outliers, sampling, crops, stacking."""

from __future__ import annotations

import numpy as np
import pytest
from test_nocs_io import make_frame
import torch

from cleanpose_core.data.instances import (
    extract_instance, InstanceSample, largest_depth_layer, stack_instances)

N, S = 64, 24


def _instance(seed=0, i=0):
    r = make_frame(seed)
    return r, r.instance_mask(i)


def _backproject(depth, K, rows, cols):
    z = depth[rows, cols].astype(np.float64)
    return np.stack([(cols - K[0, 2]) * z / K[0, 0], (rows - K[1, 2]) * z / K[1, 1], z], -1)


@pytest.mark.parametrize('seed,i', [(0, 0), (0, 1), (3, 0), (3, 1)],
                         ids=['f0-mug', 'f0-bottle', 'f3-mug', 'f3-bottle'])
def test_shapes_and_values(seed, i):
    r, mask = _instance(seed, i)
    s = extract_instance(r.color, r.depth, mask, r.K, N, S, rng=0)
    assert isinstance(s, InstanceSample)
    assert s.points.shape == (N, 3) and s.points.dtype == np.float32
    assert s.pixel_index.shape == (N,) and s.pixel_index.dtype == np.int64
    assert s.rgb.shape == (3, S, S) and s.rgb.dtype == np.float32
    assert 0.0 <= s.rgb.min() and s.rgb.max() <= 1.0
    assert s.pixel_index.min() >= 0 and s.pixel_index.max() < S * S
    assert mask[s.rows, s.cols].all()
    np.testing.assert_allclose(s.points, _backproject(r.depth, r.K, s.rows, s.cols), atol=1e-6)
    # Enough points: sampled without replacement, no outliers on a clean box.
    assert len(set(zip(s.rows.tolist(), s.cols.tolist()))) == N
    assert s.num_outliers == 0 and s.num_valid == mask.sum()
    v, u = np.nonzero(mask)
    np.testing.assert_array_equal(s.box_xyxy, [u.min(), v.min(), u.max() + 1, v.max() + 1])


def test_few_points_sampled_with_replacement():
    r, mask = _instance()
    small = np.zeros_like(mask)
    rows, cols = np.nonzero(mask)
    small[rows[:40], cols[:40]] = True
    s = extract_instance(r.color, r.depth, small, r.K, 100, S, rng=1, min_points=10)
    pixels = list(zip(s.rows.tolist(), s.cols.tolist()))
    assert len(pixels) == 100
    assert set(pixels) == set(zip(rows[:40].tolist(), cols[:40].tolist()))
    # Every valid point first, repeats after.
    assert len(set(pixels[:40])) == 40


@pytest.mark.parametrize('count,offset', [(1, 1.0), (1, 0.3), (30, 0.5)],
                         ids=['one-point-1m', 'one-point-30cm', 'leak-10pct-50cm'])
def test_outliers_behind_the_object_removed(count, offset):
    r, mask = _instance()
    depth = r.depth.copy()
    rows, cols = np.nonzero(mask)
    bad = np.random.default_rng(0).choice(len(rows), count, replace=False)
    depth[rows[bad], cols[bad]] += offset  # background leaking through the mask
    s = extract_instance(r.color, depth, mask, r.K, N, S, rng=0)
    assert s.num_outliers == count
    assert s.num_valid == mask.sum() - count
    pixels = set(zip(s.rows.tolist(), s.cols.tolist()))
    assert not pixels & set(zip(rows[bad].tolist(), cols[bad].tolist()))
    assert np.abs(s.points[:, 2] - np.median(r.depth[mask])).max() < 0.2


def test_largest_depth_layer():
    z = np.array([1.00, 1.01, 0.40, 1.02, 0.41, 1.30, 1.015])
    np.testing.assert_array_equal(largest_depth_layer(z, 0.05),
                                  [True, True, False, True, False, False, True])
    # No jump larger than the gap (or too few points): one layer, all kept.
    assert largest_depth_layer(z, 0.7).all()
    assert largest_depth_layer(np.array([2.0]), 0.01).all()
    assert largest_depth_layer(np.zeros(0), 0.01).shape == (0,)
    # A tie goes to the nearer layer (the first in sorted order).
    np.testing.assert_array_equal(largest_depth_layer(np.array([2.0, 1.0]), 0.5), [False, True])


@pytest.mark.parametrize('offset', [-0.3, -0.08, 0.15], ids=['occluder-30cm', 'occluder-8cm',
                                                             'background-15cm'])
def test_depth_gap_drops_a_bled_layer(offset):
    """A tenth of the mask on a surface in front of or behind the object: only the
    most populated depth layer, the object, is kept."""
    r, mask = _instance()
    depth = r.depth.copy()
    rows, cols = np.nonzero(mask)
    bled = np.zeros(len(rows), bool)
    bled[: len(rows) // 10] = True                 # the top rows of the mask
    depth[rows[bled], cols[bled]] = np.median(r.depth[mask]) + offset
    s = extract_instance(r.color, depth, mask, r.K, N, S, rng=0, depth_gap=0.05)
    taken = set(zip(s.rows.tolist(), s.cols.tolist()))
    assert not taken & set(zip(rows[bled].tolist(), cols[bled].tolist()))
    assert s.num_outliers <= bled.sum() + 1        # (+ the object's one sparse far point)
    if abs(offset) < 0.2:                          # the outlier radius alone keeps these
        plain = extract_instance(r.color, depth, mask, r.K, N, S, rng=0)
        assert plain.num_outliers == 0


def test_depth_gap_keeps_whole_objects():
    """Rendered 640x480 frames (lying, tipped and upright objects, depth noise): the
    depth layers of a ground-truth mask are one layer; almost no point is dropped."""
    from cleanpose_core.data.synth.command import frame_to_record, render_frame, SynthSpec
    from cleanpose_core.data.synth.scene import SceneOptions

    spec = SynthSpec(seed=7, split='test', frames_per_scene=2,
                     scene=SceneOptions(min_objects=5, max_objects=6, max_distractors=0))
    dropped, objects = [], 0
    for index in range(4):
        r = frame_to_record(render_frame(spec, index, nthreads=1), 'scene', index)
        for i in range(len(r)):
            mask = r.instance_mask(i)
            if mask.sum() < 100:
                continue
            a = extract_instance(r.color, r.depth, mask, r.K, 512, 32, rng=0)
            b = extract_instance(r.color, r.depth, mask, r.K, 512, 32, rng=0, depth_gap=0.05)
            objects += 1
            dropped.append((b.num_outliers - a.num_outliers) / a.num_valid)
    assert objects >= 15
    assert max(dropped) < 0.02 and np.mean(np.array(dropped) > 0) < 0.2


def test_invalid_depth_pixels_dropped():
    r, mask = _instance()
    depth = r.depth.copy()
    rows, cols = np.nonzero(mask)
    depth[rows[::2], cols[::2]] = np.nan
    depth[rows[1::4], cols[1::4]] = np.inf
    s = extract_instance(r.color, depth, mask, r.K, N, S, rng=0)
    assert np.isfinite(s.points).all()
    assert s.num_valid == mask.sum() - len(rows[::2]) - len(rows[1::4])


def test_deterministic_with_seed():
    r, mask = _instance()
    a = extract_instance(r.color, r.depth, mask, r.K, N, S, rng=np.random.default_rng(7))
    b = extract_instance(r.color, r.depth, mask, r.K, N, S, rng=np.random.default_rng(7))
    c = extract_instance(r.color, r.depth, mask, r.K, N, S, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.pixel_index, b.pixel_index)
    assert not np.array_equal(a.points, c.points)
    d = extract_instance(r.color, r.depth, mask, r.K, N, S)  # None = seed 0
    e = extract_instance(r.color, r.depth, mask, r.K, N, S, rng=0)
    np.testing.assert_array_equal(d.points, e.points)


def test_crop_pixel_index_exact_at_unit_scale():
    """Side == crop size: the crop pixel at pixel_index is the point's source pixel."""
    h, w = 40, 50
    color = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    depth = np.full((h, w), 0.5, np.float32)
    mask = np.zeros((h, w), bool)
    mask[10:30, 12:32] = True  # 20 x 20 box, margin 0 -> side 20
    K = np.array([[50.0, 0, 25], [0, 50.0, 20], [0, 0, 1]])
    s = extract_instance(color, depth, mask, K, 100, 20, rng=0, crop_margin=0.0)
    np.testing.assert_array_equal(s.crop_box, [12, 10, 20])
    crop = s.rgb.transpose(1, 2, 0).reshape(-1, 3)
    np.testing.assert_array_equal(np.rint(crop[s.pixel_index] * 255), color[s.rows, s.cols])


@pytest.mark.parametrize('crop_size', [16, 48], ids=['down', 'up'])
def test_crop_pixel_index_matches_on_gradient(crop_size):
    """With scaling, the crop colour at pixel_index is that of the source pixel up to
    half a crop cell of a linear colour ramp."""
    h, w = 60, 80
    v, u = np.mgrid[0:h, 0:w]
    color = np.stack([u * 3, v * 4, np.full_like(u, 128)], -1).astype(np.uint8)
    depth = np.full((h, w), 0.6, np.float32)
    mask = np.zeros((h, w), bool)
    mask[12:45, 20:50] = True
    K = np.array([[60.0, 0, 40], [0, 60.0, 30], [0, 0, 1]])
    s = extract_instance(color, depth, mask, K, 200, crop_size, rng=0, crop_margin=0.1)
    x0, y0, side = s.crop_box
    crop = np.rint(s.rgb.transpose(1, 2, 0).reshape(-1, 3) * 255)
    got = crop[s.pixel_index]
    expected = color[s.rows, s.cols].astype(np.float64)
    cell = side / crop_size
    assert np.abs(got[:, 0] - expected[:, 0]).max() <= 3 * (cell / 2 + 0.5) + 1
    assert np.abs(got[:, 1] - expected[:, 1]).max() <= 4 * (cell / 2 + 0.5) + 1
    assert np.all(got[:, 2] == 128)


def test_crop_padded_at_image_border():
    h, w = 30, 30
    color = np.full((h, w, 3), 200, np.uint8)
    depth = np.full((h, w), 0.5, np.float32)
    mask = np.zeros((h, w), bool)
    mask[0:20, 0:10] = True  # touches the corner: crop extends past the border
    K = np.array([[40.0, 0, 15], [0, 40.0, 15], [0, 0, 1]])
    s = extract_instance(color, depth, mask, K, 50, 24, rng=0, crop_margin=0.1)
    x0, y0, side = s.crop_box.tolist()
    assert x0 < 0 and y0 < 0 and side == 24
    assert s.rgb[:, 0, 0].max() == 0.0  # padding is black
    crop = s.rgb.transpose(1, 2, 0).reshape(-1, 3)
    assert np.all(crop[s.pixel_index] == np.float32(200) / np.float32(255))


@pytest.mark.parametrize('case,reason', [
    ('empty', 'empty_mask'), ('zero_depth', 'invalid_depth'), ('nan_depth', 'invalid_depth'),
    ('tiny', 'too_few_points')], ids=['empty', 'zero-depth', 'nan-depth', 'tiny'])
def test_skip_reasons(case, reason):
    r, mask = _instance()
    depth = r.depth.copy()
    if case == 'empty':
        mask = np.zeros_like(mask)
    elif case == 'zero_depth':
        depth[mask] = 0
    elif case == 'nan_depth':
        depth[mask] = np.nan
    else:
        rows, cols = np.nonzero(mask)
        mask = np.zeros_like(mask)
        mask[rows[:31], cols[:31]] = True
    assert extract_instance(r.color, depth, mask, r.K, N, S, min_points=32) == reason


def test_min_points_is_a_parameter():
    r, mask = _instance()
    rows, cols = np.nonzero(mask)
    small = np.zeros_like(mask)
    small[rows[:20], cols[:20]] = True
    assert extract_instance(r.color, r.depth, small, r.K, N, S, min_points=21) == 'too_few_points'
    assert isinstance(extract_instance(r.color, r.depth, small, r.K, N, S, min_points=20),
                      InstanceSample)


@pytest.mark.parametrize('arg,value,message', [
    ('mask', np.zeros((48, 64), np.uint8), r'mask must be \(H, W\) = \(48, 64\) bool'),
    ('depth', np.zeros((10, 10)), r'depth must have shape \(H, W\) = \(48, 64\)'),
    ('color', np.zeros((48, 64, 3), np.float32), r'color must be \(H, W, 3\) uint8'),
    ('K', np.eye(4), r'K must have shape \(3, 3\)'),
], ids=['mask-dtype', 'depth-shape', 'color-dtype', 'K-shape'])
def test_bad_arguments(arg, value, message):
    r, mask = _instance()
    kwargs = dict(color=r.color, depth=r.depth, mask=mask, K=r.K, num_points=N, crop_size=S)
    kwargs[arg] = value
    with pytest.raises(ValueError, match=message):
        extract_instance(**kwargs)


def test_stack_instances():
    r = make_frame(1)
    samples = [extract_instance(r.color, r.depth, r.instance_mask(i), r.K, N, S, rng=i)
               for i in range(len(r))]
    inp = stack_instances(samples, r.class_ids)
    assert len(inp) == 2
    assert inp.points.shape == (2, N, 3) and inp.points.dtype == torch.float32
    assert inp.rgb.shape == (2, 3, S, S)
    assert inp.pixel_index.dtype == torch.long and inp.category_ids.tolist() == [6, 1]
    np.testing.assert_array_equal(inp.points[1].numpy(), samples[1].points)


def test_stack_instances_empty_and_errors():
    empty = stack_instances([], [], num_points=N, crop_size=S)
    assert empty.points.shape == (0, N, 3) and empty.rgb.shape == (0, 3, S, S)
    r = make_frame(1)
    s = extract_instance(r.color, r.depth, r.instance_mask(0), r.K, N, S)
    with pytest.raises(ValueError, match=r'category_ids must be in 1\.\.6; got \[0\]'):
        stack_instances([s], [0])
    with pytest.raises(ValueError, match='category_ids has 2 entries for 1 samples'):
        stack_instances([s], [1, 2])
    t = extract_instance(r.color, r.depth, r.instance_mask(1), r.K, N + 1, S)
    with pytest.raises(ValueError, match='samples must share N and S'):
        stack_instances([s, t], [1, 2])
