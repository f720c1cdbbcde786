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

"""Tests for geometry.align: Umeyama similarity alignment."""

from __future__ import annotations

from conftest import seeded, tol
import pytest
import torch
from torch.testing import assert_close

from cleanpose_core.geometry.align import umeyama
from cleanpose_core.geometry.transforms import random_rotations, transform_points


def _problem(batch, n, dtype, seed=0):
    g = seeded(seed)
    R = random_rotations(batch, generator=g, dtype=dtype)
    s = (torch.rand(batch, generator=g, dtype=torch.float64) + 0.2).to(dtype)
    t = torch.randn(batch, 3, generator=g, dtype=torch.float64).to(dtype)
    src = (torch.rand(batch, n, 3, generator=g, dtype=torch.float64) - 0.5).to(dtype)
    return src, transform_points(src, R, t, s), s, R, t


@pytest.mark.parametrize('batch', [0, 1, 5])
def test_umeyama_recovers_similarity(batch, device, dtype):
    src, dst, s, R, t = (x.to(device) for x in _problem(batch, 40, dtype))
    out = umeyama(src, dst)
    assert out.s.shape == (batch,) and out.R.shape == (batch, 3, 3) and out.t.shape == (batch, 3)
    loose = dict(atol=1e-4, rtol=1e-4) if dtype == torch.float32 else dict(atol=1e-8, rtol=1e-8)
    assert_close(out.s, s, **loose)
    assert_close(out.R, R, **loose)
    assert_close(out.t, t, **loose)


def test_umeyama_unbatched_and_leading_dims():
    src, dst, s, R, t = _problem(6, 10, torch.float64)
    out = umeyama(src.reshape(2, 3, 10, 3), dst.reshape(2, 3, 10, 3))
    assert_close(out.R, R.reshape(2, 3, 3, 3))
    single = umeyama(src[0], dst[0])
    assert single.s.shape == () and single.R.shape == (3, 3)
    assert_close(single.s, s[0])


def test_umeyama_batch_consistency():
    g = seeded(1)
    src = torch.randn(4, 20, 3, generator=g, dtype=torch.float64)
    dst = torch.randn(4, 20, 3, generator=g, dtype=torch.float64)  # unrelated: a real LSQ fit
    out = umeyama(src, dst)
    for i in range(4):
        one = umeyama(src[i], dst[i])
        assert_close(out.R[i], one.R)
        assert_close(out.s[i], one.s)
        assert_close(out.t[i], one.t)


def test_umeyama_zero_weights_ignore_outliers():
    src, dst, s, R, t = _problem(1, 30, torch.float64, seed=2)
    dst = dst.clone()
    dst[0, :5] += 10.0  # outliers
    w = torch.ones(1, 30, dtype=torch.float64)
    w[0, :5] = 0
    out = umeyama(src, dst, weights=w)
    assert_close(out.R, R)
    assert_close(out.s, s)
    plain = umeyama(src, dst)
    assert (plain.t - t).norm() > 0.1


def test_umeyama_weights_match_repeated_points():
    g = seeded(3)
    src = torch.randn(12, 3, generator=g, dtype=torch.float64)
    dst = torch.randn(12, 3, generator=g, dtype=torch.float64)
    w = torch.ones(12, dtype=torch.float64)
    w[:4] = 3.0
    rep_src = torch.cat((src, src[:4], src[:4]))
    rep_dst = torch.cat((dst, dst[:4], dst[:4]))
    a, b = umeyama(src, dst, weights=w), umeyama(rep_src, rep_dst)
    assert_close(a.R, b.R)
    assert_close(a.s, b.s)
    assert_close(a.t, b.t)


def test_umeyama_reflection_gives_proper_rotation():
    src = torch.randn(50, 3, generator=seeded(4), dtype=torch.float64)
    dst = src * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)  # a mirror image
    out = umeyama(src, dst)
    assert_close(torch.linalg.det(out.R), torch.tensor(1.0, dtype=torch.float64))
    assert_close(out.R.T @ out.R, torch.eye(3, dtype=torch.float64))


def test_umeyama_rigid_mode(dtype):
    src, dst, _, R, t = _problem(2, 25, dtype, seed=5)
    src, dst = src.double(), dst.double()
    dst_rigid = transform_points(src, R.double(), t.double())
    out = umeyama(src, dst_rigid, with_scale=False)
    assert_close(out.s, torch.ones(2, dtype=torch.float64))
    assert_close(out.R, R.double(), **tol(torch.float32))


@pytest.mark.parametrize('kwargs,exc,msg', [
    (dict(src=torch.zeros(2, 5, 3), dst=torch.zeros(2, 4, 3)), ValueError,
     r'dst must have shape \(\.\.\., N, 3\) with N=5 \(from src\); got \(2, 4, 3\)'),
    (dict(src=torch.zeros(2, 5, 3), dst=torch.zeros(3, 5, 3)), ValueError,
     r'src and dst must have the same shape'),
    (dict(src=torch.zeros(2, 3), dst=torch.zeros(2, 3)), ValueError, r'N >= 3 .* got N=2'),
    (dict(src=torch.zeros(4, 3), dst=torch.zeros(4, 3), weights=torch.tensor([1.0, -1, 1, 1])),
     ValueError, r'weights must be non-negative'),
    (dict(src=torch.zeros(4, 3), dst=torch.zeros(4, 3), weights=torch.ones(5)), ValueError,
     r'weights must have shape \(4\); got \(5,\)'),
], ids=['n_mismatch', 'batch_mismatch', 'too_few', 'negative_weight', 'weight_shape'])
def test_umeyama_rejects(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        umeyama(**kwargs)
