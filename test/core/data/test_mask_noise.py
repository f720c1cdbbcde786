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

"""Segmenter-like mask perturbation for training."""

from __future__ import annotations

import numpy as np
import pytest

from cleanpose_core.data.mask_noise import perturb_mask


def _rect(h=120, w=160, box=(40, 30, 100, 90)):
    mask = np.zeros((h, w), bool)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = True
    return mask


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_perturbed_masks_stay_close_but_differ():
    mask = _rect()
    rng = np.random.default_rng(0)
    outs = [perturb_mask(mask, rng) for _ in range(50)]
    ious = np.array([_iou(mask, m) for m in outs])
    assert all(m.dtype == np.bool_ and m.shape == mask.shape for m in outs)
    assert ious.min() > 0.7 and (ious < 0.999).mean() > 0.8
    # Both bleed (pixels outside the object) and lost rims (object pixels missed) occur.
    assert any((m & ~mask).any() for m in outs) and any((mask & ~m).any() for m in outs)


def test_coarse_edges_round_corners():
    mask = _rect()
    out = perturb_mask(mask, np.random.default_rng(1), coarse=(8, 8), grow=0, shrink=0)
    assert not out[30, 40] or not out[89, 99]  # a coarse mask loses sharp corners
    assert out[60, 70]                          # ... but keeps the middle


def test_deterministic_and_clipped_at_the_border():
    mask = _rect(box=(0, 0, 30, 20))
    a = perturb_mask(mask, np.random.default_rng(3), grow=8)
    b = perturb_mask(mask, np.random.default_rng(3), grow=8)
    np.testing.assert_array_equal(a, b)
    assert a.shape == mask.shape


def test_never_empties_a_mask():
    dot = np.zeros((50, 50), bool)
    dot[25, 25] = True
    rng = np.random.default_rng(0)
    assert all(perturb_mask(dot, rng, shrink=3, grow=0).any() for _ in range(20))
    empty = np.zeros((10, 10), bool)
    assert not perturb_mask(empty, rng).any()


@pytest.mark.parametrize('kwargs', [{'coarse': (0.5, 2)}, {'coarse': (4, 2)}, {'grow': -1}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        perturb_mask(_rect(), np.random.default_rng(0), **kwargs)


def test_bad_mask():
    with pytest.raises(ValueError, match='bool'):
        perturb_mask(np.ones((4, 4), np.uint8), np.random.default_rng(0))
