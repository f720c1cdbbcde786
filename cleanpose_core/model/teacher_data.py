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

"""Views of canonical meshes for teacher pretraining (numpy; no data-package imports).

A view is a point cloud of one instance seen from a random direction: either the
complete surface or only the part a camera sees (a z-buffer over an orthographic
grid keeps the nearest surface per cell), randomly rotated, with jitter. Two views
of one instance are the positives of the contrastive objective.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import numpy as np
import torch

__all__ = ['MeshSample', 'sample_surface', 'visible_mask', 'random_rotation', 'make_view',
           'TeacherViews']


@dataclass(frozen=True)
class MeshSample:
    """A dense surface sample of one instance.

    Attributes:
        points: (P, 3) float32 surface points, canonical frame, unit bbox diagonal.
        class_id: NOCS class id 1..6.
        instance: a label unique per instance (e.g. the model id).
    """

    points: np.ndarray
    class_id: int
    instance: str


def sample_surface(vertices: np.ndarray, faces: np.ndarray, n: int,
                   rng: np.random.Generator) -> np.ndarray:
    """Draw n points uniformly (by area) on a triangle mesh.

    Args:
        vertices: (V, 3) float positions.
        faces: (F, 3) int vertex indices.
        n: number of points.
        rng: numpy generator.

    Returns:
        (n, 3) float32 points.
    """
    tri = np.asarray(vertices, np.float64)[np.asarray(faces)]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    if tri.shape[0] == 0 or area.sum() <= 0:
        raise ValueError('mesh has no triangle with positive area')
    face = rng.choice(tri.shape[0], size=n, p=area / area.sum())
    u, v = rng.random((2, n))
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    t = tri[face]
    pts = t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])
    return pts.astype(np.float32)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniform random rotation (normalised Gaussian quaternion), (3, 3) float64."""
    q = rng.normal(size=4)
    x, y, z, w = q / max(np.linalg.norm(q), 1e-12)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def visible_mask(points: np.ndarray, cell: Optional[float] = None,
                 depth_tol: Optional[float] = None) -> np.ndarray:
    """Points an orthographic camera looking along +Z sees (z-buffer on an XY grid).

    Args:
        points: (P, 3) surface points in the camera frame.
        cell: grid cell side; None picks one with about 20 points per cell of the
            projected bounding box, so the front surface covers every cell.
        depth_tol: a point within this depth of its cell's nearest point is
            visible; None uses the cell side.

    Returns:
        (P,) bool.
    """
    lo, hi = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
    if cell is None:
        area = max(float(np.prod(hi - lo)), 1e-12)
        cell = float(np.sqrt(area / max(points.shape[0] / 20.0, 1.0)))
    depth_tol = cell if depth_tol is None else depth_tol
    ij = np.floor((points[:, :2] - lo) / cell).astype(np.int64)
    key = ij[:, 0] * (ij[:, 1].max() + 1) + ij[:, 1]
    nearest = np.full(key.max() + 1, np.inf)
    np.minimum.at(nearest, key, points[:, 2])
    return points[:, 2] <= nearest[key] + depth_tol


def make_view(sample: MeshSample, num_points: int, rng: np.random.Generator,
              partial_prob: float = 0.7, jitter: float = 0.005) -> np.ndarray:
    """One random view of an instance: (num_points, 3) float32, randomly rotated.

    With probability partial_prob only the surface visible from a random direction
    is kept; points are resampled (with replacement when too few) to num_points.
    """
    R = random_rotation(rng)
    pts = sample.points @ R.T
    if rng.random() < partial_prob:
        pts = pts[visible_mask(pts)]
    idx = rng.choice(pts.shape[0], size=num_points, replace=pts.shape[0] < num_points)
    pts = pts[idx] * rng.uniform(0.9, 1.1, size=3)
    pts = pts + rng.normal(scale=jitter, size=pts.shape)
    return pts.astype(np.float32)


class TeacherViews:
    """Endless batches of two views of distinct random instances.

    Args:
        samples: the instance library (at least batch_size instances).
        batch_size: instances per batch (B); each batch yields 2B views.
        num_points: points per view.
        seed: seed of the view generator.
    """

    def __init__(self, samples: Sequence[MeshSample], batch_size: int, num_points: int,
                 seed: int = 0) -> None:
        if len(samples) < 2:
            raise ValueError(f'teacher pretraining needs at least 2 instances; got {len(samples)}')
        self.samples = list(samples)
        self.batch_size = min(batch_size, len(self.samples))
        self.num_points = num_points
        self.rng = np.random.default_rng(seed)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        while True:
            pick = self.rng.choice(len(self.samples), size=self.batch_size, replace=False)
            a = np.stack([make_view(self.samples[i], self.num_points, self.rng) for i in pick])
            b = np.stack([make_view(self.samples[i], self.num_points, self.rng) for i in pick])
            cats = np.array([self.samples[i].class_id for i in pick], dtype=np.int64)
            yield torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(cats)
