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


"""Surfaces of revolution and mug handles in table-plane coordinates (geometric reference).

Points are given as horizontal coordinates q in the table plane (metres) and heights
h above it; the object's axis is vertical.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from scipy.optimize import least_squares

__all__ = ['circle_fit', 'revolution_fit', 'handle_points', 'handle_direction']


def circle_fit(q: np.ndarray) -> tuple[np.ndarray, float]:
    """Algebraic (Kasa) circle fit of (N, 2) points: centre (2,), radius."""
    A = np.column_stack([2 * q, np.ones(len(q))])
    b = (q ** 2).sum(axis=1)
    sol, *_ = np.linalg.lstsq(A, b, rcond=None)
    centre = sol[:2]
    radius = float(np.sqrt(max(sol[2] + centre @ centre, 1e-12)))
    return centre, radius


def revolution_fit(q: np.ndarray, h: np.ndarray, towards_back: np.ndarray, bins: int = 8,
                   max_points: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit a vertical axis c and a radius per height bin: |q_i - c| = r[bin(h_i)] (robust).

    Args:
        q: (N, 2) horizontal coordinates, metres.
        h: (N,) heights above the table, metres.
        towards_back: (2,) horizontal unit direction away from the camera (fallback).
        bins: number of height bins of the radius profile.
        max_points: the fit uses an even-stride subset of at most this many points.

    Returns:
        centre (2,), radius per point's bin (N,), and bin radii (bins,) (NaN where empty).
    """
    span = max(float(h.max() - h.min()), 1e-6)
    bin_all = np.clip(((h - h.min()) / span * bins).astype(int), 0, bins - 1)
    step = max(1, int(np.ceil(len(q) / max_points)))
    qs, bin_of = q[::step], bin_all[::step]
    extent = float(np.ptp(q, axis=0).max()) + 1e-6
    centre, radius = circle_fit(qs)
    if not np.isfinite(radius) or radius > 2.0 * extent:
        # Nearly straight arc: put the axis behind the visible surface by half its width.
        centre = q.mean(axis=0) + 0.5 * extent * towards_back
    used = np.unique(bin_of)
    r0 = np.array([np.median(np.linalg.norm(qs[bin_of == k] - centre, axis=1)) for k in used])
    slot = np.searchsorted(used, bin_of)
    scale = max(0.002, 0.01 * extent)
    ones = np.zeros((len(qs), len(used)))
    ones[np.arange(len(qs)), slot] = -1.0

    def residual(x: np.ndarray) -> np.ndarray:
        return np.linalg.norm(qs - x[:2], axis=1) - x[2:][slot]

    def jacobian(x: np.ndarray) -> np.ndarray:
        d = qs - x[:2]
        n = np.linalg.norm(d, axis=1, keepdims=True)
        return np.hstack([-d / np.maximum(n, 1e-12), ones])

    x = np.concatenate([centre, r0])
    for loss in ('soft_l1', 'cauchy'):  # the second pass is blind to handles and clutter
        x = least_squares(residual, x, jac=jacobian, loss=loss, f_scale=scale,
                          tr_solver='lsmr', max_nfev=100).x
    centre = x[:2]
    radii = np.full(bins, np.nan)
    radii[used] = np.abs(x[2:])
    dist = np.linalg.norm(q - centre, axis=1)
    for k in set(range(bins)) - set(used.tolist()):  # bins the subset missed
        if np.any(bin_all == k):
            radii[k] = float(np.median(dist[bin_all == k]))
    return centre, radii[bin_all], radii


def handle_points(rel_q: np.ndarray, excess: np.ndarray,
                  min_count: float) -> Optional[np.ndarray]:
    """Select a mug handle: points outside the body, in the one angular sector they crowd.

    Args:
        rel_q: (N, 2) horizontal coordinates relative to the axis, metres.
        excess: (N,) distance beyond the body radius (plus margin), metres; > 0 outside.
        min_count: fewer selected points than this: no visible handle.

    Returns:
        (N,) bool selection, or None.
    """
    outside = excess > 0
    if outside.sum() < min_count:
        return None
    angle = np.arctan2(rel_q[:, 1], rel_q[:, 0])
    bins = 36
    hist = np.bincount(((angle[outside] + np.pi) / (2 * np.pi) * bins).astype(int) % bins,
                       weights=excess[outside], minlength=bins)
    smooth = hist + 0.5 * (np.roll(hist, 1) + np.roll(hist, -1))
    mode = (np.argmax(smooth) + 0.5) / bins * 2 * np.pi - np.pi
    near = np.abs(np.angle(np.exp(1j * (angle - mode)))) < np.deg2rad(35)
    handle = outside & near
    return handle if handle.sum() >= min_count else None


def handle_direction(handle_q: np.ndarray) -> np.ndarray:
    """Horizontal unit direction from the axis along a handle, from its (M, 2) points.

    The camera sees one side face of the handle, which is parallel to the handle's
    plane but offset from the axis: the strip's main direction is unbiased, the
    centroid's direction is not. The centroid direction serves when the strip is short.
    """
    mean = handle_q.mean(axis=0)
    towards = mean / max(np.linalg.norm(mean), 1e-9)
    _, sv, vt = np.linalg.svd(handle_q - mean, full_matrices=False)
    if len(sv) < 2 or sv[0] < 1.5 * sv[1]:
        return towards
    axis = vt[0] if vt[0] @ towards >= 0 else -vt[0]
    return axis if axis @ towards > 0.7 else towards
