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

"""Procedural shape library: one generator per NOCS category plus distractors.

A shape is identified by (category, instance seed). Generators build the mesh in
the NOCS canonical frame of DESIGN.md (+Y up, centred on the tight bounding box,
bounding-box diagonal 1; mug handle toward +X; laptop hinge along X, screen rising
on the -Z side, front edge +Z; camera lens toward +Z) and draw a metric scale
(bounding-box diagonal, metres) from a real-world range. Train and test use
disjoint seed ranges (:func:`instance_seed_range`), so the test split holds novel
instances. The generators live in :mod:`generators` (parameters and ranges in
their docstrings), colours and textures in :mod:`appearance`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import functools

import numpy as np
from scipy.spatial import ConvexHull

from cleanpose_core.categories import CATEGORIES, category_id
from cleanpose_core.data.synth.appearance import Appearance, uniform
from cleanpose_core.data.synth.generators import generate_distractor, GENERATORS
from cleanpose_core.data.synth.primitives import (
    normalise_to_unit_diagonal, TriMesh, vertex_normals)

__all__ = ['Appearance', 'ShapeInstance', 'make_shape', 'make_distractor', 'instance_seed_range',
           'SCALE_RANGES', 'TEST_SEED_OFFSET', 'SEED_RANGE', 'specular_range', 'hull_normals', 'CAN_ENDS']

# Metric bounding-box diagonal per category, metres (real-world ranges).
SCALE_RANGES = {
    'bottle': (0.18, 0.36), 'bowl': (0.12, 0.28), 'camera': (0.11, 0.22),
    'can': (0.10, 0.20), 'laptop': (0.35, 0.55), 'mug': (0.10, 0.18), 'distractor': (0.05, 0.25),
}
TEST_SEED_OFFSET = 1_000_000
SEED_RANGE = 1_000_000
# Blinn-Phong highlight strength per category (glossy ceramics, glass, metal cans).
_SPECULAR = {'bottle': (0.1, 0.6), 'bowl': (0.05, 0.5), 'camera': (0.0, 0.3),
             'can': (0.2, 0.7), 'laptop': (0.0, 0.3), 'mug': (0.05, 0.5)}


def specular_range(category: str) -> tuple:
    """(lo, hi) of the Blinn-Phong highlight strength drawn for a category."""
    return _SPECULAR.get(category, (0.0, 0.2))


def hull_normals(mesh: TriMesh) -> np.ndarray:
    """(H, 3) outward unit normals of the facets of a mesh's convex hull."""
    hull = ConvexHull(mesh.vertices)
    return hull.equations[:, :3] / np.linalg.norm(hull.equations[:, :3], axis=1,
                                                  keepdims=True)


def instance_seed_range(split: str) -> range:
    """Return the instance seeds of a split: train [0, 1e6), test [1e6, 2e6).

    Raises:
        ValueError: for a split other than 'train' or 'test'.
    """
    if split == 'train':
        return range(0, SEED_RANGE)
    if split == 'test':
        return range(TEST_SEED_OFFSET, TEST_SEED_OFFSET + SEED_RANGE)
    raise ValueError(f"split must be 'train' or 'test'; got {split!r}")


@dataclass(frozen=True)
class ShapeInstance:
    """One object instance in its canonical frame.

    Attributes:
        category: category name, or 'distractor'.
        class_id: NOCS class id 1..6, 0 for a distractor.
        seed: instance seed.
        mesh: canonical mesh, centred, bounding-box diagonal 1.
        size: (3,) normalised extents (norm 1).
        scale: metric bounding-box diagonal, metres.
        appearance: colours and texture.
        hull_normals: (H, 3) outward unit normals of the convex hull facets
            (canonical frame), used to settle resting poses.
        model_id: '<category>_<seed>'.
        vertex_normals: (V, 3) unit vertex normals for smooth shading (canonical frame).
    """

    category: str
    class_id: int
    seed: int
    mesh: TriMesh
    size: np.ndarray
    scale: float
    appearance: Appearance
    hull_normals: np.ndarray
    model_id: str
    vertex_normals: np.ndarray


def _finish(category: str, class_id: int, seed: int, mesh: TriMesh, app: Appearance,
            rng: np.random.Generator) -> ShapeInstance:
    unit, size = normalise_to_unit_diagonal(mesh)
    lo, hi = SCALE_RANGES[category]
    # gloss from its own stream, so geometry and colours do not depend on it
    gloss = np.random.default_rng([class_id, seed, 7])
    lo_s, hi_s = specular_range(category)
    app = dataclasses.replace(app, specular=uniform(gloss, lo_s, hi_s),
                              shininess=uniform(gloss, 8.0, 80.0))
    return ShapeInstance(category=category, class_id=class_id, seed=seed, mesh=unit,
                         size=size, scale=uniform(rng, lo, hi), appearance=app,
                         hull_normals=hull_normals(unit), model_id=f'{category}_{seed}',
                         vertex_normals=vertex_normals(unit))


CAN_ENDS = ('lid', 'varied')


@functools.lru_cache(maxsize=512)
def make_shape(category: str, seed: int, can_ends: str = 'lid') -> ShapeInstance:
    """Build (and cache) the instance ``seed`` of a category.

    Args:
        category: one of CATEGORIES.
        seed: instance seed >= 0; the same seed always gives the same instance.
        can_ends: cans only: 'lid' (metal-coloured lid) or 'varied' (both ends, the lid
            or neither; see generators._can).

    Raises:
        ValueError: for an unknown category or can_ends, or a negative seed.
    """
    if category not in GENERATORS:
        raise ValueError(f'unknown category {category!r}; expected one of {", ".join(CATEGORIES)}')
    if int(seed) < 0:
        raise ValueError(f'instance seed must be >= 0; got {seed}')
    if can_ends not in CAN_ENDS:
        raise ValueError(f'can_ends must be one of {", ".join(CAN_ENDS)}; got {can_ends!r}')
    rng = np.random.default_rng([category_id(category), int(seed)])
    extra = {'ends': can_ends} if category == 'can' else {}
    mesh, app = GENERATORS[category](rng, **extra)
    return _finish(category, category_id(category), int(seed), mesh, app, rng)


@functools.lru_cache(maxsize=256)
def make_distractor(seed: int) -> ShapeInstance:
    """Build (and cache) distractor instance ``seed`` (class id 0)."""
    if int(seed) < 0:
        raise ValueError(f'instance seed must be >= 0; got {seed}')
    rng = np.random.default_rng([0, int(seed)])
    mesh, app = generate_distractor(rng)
    return _finish('distractor', 0, int(seed), mesh, app, rng)
