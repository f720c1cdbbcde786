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

"""Tests for eval.plots: the NOCS AP curve figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cleanpose_core.categories import category_id
from cleanpose_core.eval.metrics import compute_nocs_metrics
from cleanpose_core.eval.plots import plot_ap_curves

NAMES = ['ap_curves.png', 'ap_iou.png', 'ap_rotation.png', 'ap_translation.png']


def _rt(t):
    T = np.eye(4)
    T[:3, :3] *= 0.3
    T[:3, 3] = t
    return T


def _metrics(with_gt=True):
    size = np.full((2, 3), 1 / math.sqrt(3))
    ids = np.array([category_id('bottle'), category_id('laptop')])
    return compute_nocs_metrics([{
        'pred_class_ids': ids, 'pred_scores': np.array([0.9, 0.7]),
        'pred_RTs': np.stack([_rt((0, 0, 1)), _rt((0.53, 0, 1))]), 'pred_scales': size,
        'gt_class_ids': ids if with_gt else ids[:0],
        'gt_RTs': np.stack([_rt((0, 0, 1)), _rt((0.5, 0, 1))])[:2 if with_gt else 0],
        'gt_scales': size[:2 if with_gt else 0],
    }])


def test_plot_ap_curves_writes_pngs(tmp_path):
    import matplotlib.image as mpimg
    out = tmp_path / 'plots'
    paths = plot_ap_curves(_metrics(), out)
    assert [p.name for p in paths] == NAMES
    assert sorted(p.name for p in out.iterdir()) == sorted(NAMES)  # no temp files left
    for p in paths:
        assert p.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
        img = mpimg.imread(p)
        assert img.shape[0] >= 400 and img.std() > 0.05  # drawn, not blank
    assert mpimg.imread(paths[0]).shape[1] == 1800  # three panels side by side at 100 dpi


def test_plot_lines_follow_the_curves(tmp_path):
    """The translation panel changes when the translation curve changes."""
    m = _metrics()
    a = plot_ap_curves(m, tmp_path / 'a')[3].read_bytes()
    m.curves.shift_ap['laptop'][:] = 0.0
    m.curves.shift_ap['mean'][:] = 50.0
    b = plot_ap_curves(m, tmp_path / 'b')[3].read_bytes()
    assert a != b


def test_plot_without_ground_truth(tmp_path):
    paths = plot_ap_curves(_metrics(with_gt=False), tmp_path)
    assert all(p.exists() for p in paths)


def test_plot_rejects_wrong_type(tmp_path):
    with pytest.raises(TypeError, match=r'metrics must be a NocsMetrics .* got dict'):
        plot_ap_curves({'iou25': 1.0}, tmp_path)
