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


"""The supporting plane of a scene: RANSAC fit of a table under the objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

__all__ = ['Plane', 'fit_table_plane', 'plane_basis']


@dataclass(frozen=True)
class Plane:
    """A plane n . p + d = 0 in the camera frame; n (unit) points toward the objects.

    Attributes:
        normal: (3,) unit normal, camera frame.
        offset: d, metres; the height of a point above the plane is n . p + d.
        inliers: points within the RANSAC threshold.
    """

    normal: np.ndarray
    offset: float
    inliers: int

    def height(self, pts_cam: np.ndarray) -> np.ndarray:
        """(N,) signed heights above the plane, metres, of (N, 3) camera-frame points."""
        return pts_cam @ self.normal + self.offset


def _plane_through(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares plane (unit normal, offset) of (N, 3) points via SVD."""
    centre = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - centre, full_matrices=False)
    normal = vt[-1]
    return normal, -float(normal @ centre)


def fit_table_plane(pts_cam: np.ndarray, rng: np.random.Generator,
                    above: Optional[np.ndarray] = None, iterations: int = 256,
                    threshold: Optional[float] = None, max_points: int = 8000,
                    min_inliers: int = 200) -> Optional[Plane]:
    """Fit the dominant plane of background points by RANSAC + least-squares refinement.

    Args:
        pts_cam: (N, 3) background points, camera frame, metres.
        rng: random generator (sampling of points and hypotheses).
        above: (M, 3) object points that should lie above the plane; they orient the
            normal. Without them the normal points toward the camera.
        iterations: RANSAC hypotheses.
        threshold: inlier distance, metres; None = 1.2 % of the median depth (>= 6 mm).
        max_points: points used for the hypotheses' scoring.
        min_inliers: fewer inliers than this (or 20 % of the points): no plane.

    Returns:
        The Plane, or None when no plane has enough support.
    """
    pts = np.asarray(pts_cam, dtype=np.float64).reshape(-1, 3)
    if len(pts) < max(min_inliers, 3):
        return None
    sample = pts[rng.choice(len(pts), max_points, replace=False)] if len(pts) > max_points \
        else pts
    if threshold is None:
        threshold = max(0.006, 0.012 * float(np.median(sample[:, 2])))
    idx = rng.integers(0, len(sample), size=(iterations, 3))
    a, b, c = sample[idx[:, 0]], sample[idx[:, 1]], sample[idx[:, 2]]
    normals = np.cross(b - a, c - a)
    norms = np.linalg.norm(normals, axis=1)
    ok = norms > 1e-9
    if not ok.any():
        return None
    normals = normals[ok] / norms[ok, None]
    offsets = -(normals * a[ok]).sum(axis=1)
    counts = (np.abs(sample @ normals.T + offsets) < threshold).sum(axis=0)
    best = int(np.argmax(counts))
    normal, offset = normals[best], float(offsets[best])
    for _ in range(3):  # refine on the inliers of all points, shrinking to the fitted plane
        inl = np.abs(pts @ normal + offset) < threshold
        if inl.sum() < 3:
            return None
        normal, offset = _plane_through(pts[inl])
    inliers = int((np.abs(pts @ normal + offset) < threshold).sum())
    if inliers < max(min_inliers, int(0.2 * len(pts))):
        return None
    if above is not None and len(above):
        flip = np.median(np.asarray(above, dtype=np.float64) @ normal + offset) < 0
    else:
        flip = offset < 0  # the camera (origin) is above a table it looks at
    if flip:
        normal, offset = -normal, -offset
    return Plane(normal=normal, offset=offset, inliers=inliers)


def plane_basis(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two horizontal unit axes (e1 ~ camera x projected on the plane, e2 = n x e1)."""
    e1 = np.array([1.0, 0.0, 0.0]) - normal[0] * normal
    if np.linalg.norm(e1) < 1e-6:
        e1 = np.array([0.0, 0.0, 1.0]) - normal[2] * normal
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(normal, e1)
