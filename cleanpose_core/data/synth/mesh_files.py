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

"""Meshes made by others (CAD models, scans) as scene objects: files and the manifest.

The procedural library (:mod:`shapes`) is what the network trains on; a mesh manifest
puts other people's models into the same scenes instead, so a split can test what the
network learned on shapes it never saw from a generator it never saw. The manifest is a
YAML (or JSON) file::

    meshes:
      - category: mug
        file: pybullet_data/objects/mug.obj   # relative to the manifest
        axes: [y, z, x]      # canonical X, Y, Z are the file's +y, +z, +x
        units: 1.0           # metres per file unit (the object keeps its real size)
        handle_min_x: 0.045  # mugs: faces beyond this canonical X (file units) are the handle

``axes`` turns the file's frame into the NOCS canonical frame of DESIGN.md (+Y up, mug
handle toward +X, laptop hinge along X, camera lens toward +Z); each entry is a signed
file axis ('x', '-z', ...) and together they must form a rotation. Files are Wavefront
OBJ (``v`` and ``f`` records; polygons are fanned into triangles) or STL (binary or
ASCII). Every file is checked (size, finite coordinates, face indices in range) and
hashed; the hash goes into the split's synth.json, so a split cannot silently mix two
versions of a model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import functools
import hashlib
import json
from pathlib import Path
import struct
from typing import Optional

import numpy as np

from cleanpose_core.categories import CATEGORIES, category_id
from cleanpose_core.data.synth.appearance import random_appearance, uniform
from cleanpose_core.data.synth.primitives import (
    normalise_to_unit_diagonal, PART_BODY, PART_HANDLE, TriMesh, vertex_normals)
from cleanpose_core.data.synth.shapes import hull_normals, ShapeInstance, specular_range
from cleanpose_core.errors import ConfigError, DataError

__all__ = ['MeshEntry', 'read_mesh', 'read_manifest', 'mesh_shape', 'MAX_MESH_BYTES',
           'MAX_FACES']

MAX_MESH_BYTES = 200 * 1024 * 1024
MAX_FACES = 2_000_000
_AXES = {'x': 0, 'y': 1, 'z': 2}


@dataclass(frozen=True)
class MeshEntry:
    """One model of a mesh manifest.

    Attributes:
        category: one of CATEGORIES.
        path: the mesh file (absolute).
        axes: signed file axes that become canonical X, Y and Z, e.g. ('y', 'z', 'x').
        units: metres per file unit.
        handle_min_x: mugs: faces whose centroid lies beyond this canonical X (file
            units, after the turn) are the handle; None = no handle (always visible).
        sha256: hash of the file's bytes.
    """

    category: str
    path: str
    axes: tuple
    units: float = 1.0
    handle_min_x: Optional[float] = None
    sha256: str = ''

    def rotation(self) -> np.ndarray:
        """(3, 3) rotation file -> canonical: row i is the file axis of canonical axis i."""
        R = np.zeros((3, 3))
        for row, axis in enumerate(self.axes):
            R[row, _AXES[axis.lstrip('+-')]] = -1.0 if axis.startswith('-') else 1.0
        return R


def _check_mesh(vertices: np.ndarray, faces: np.ndarray, path) -> TriMesh:
    if len(faces) == 0 or len(vertices) < 4:
        raise DataError(f'{path}: needs at least 4 vertices and one face; got '
                        f'{len(vertices)} and {len(faces)}')
    if len(faces) > MAX_FACES:
        raise DataError(f'{path}: {len(faces)} faces; at most {MAX_FACES} are read')
    if not np.isfinite(vertices).all():
        raise DataError(f'{path}: non-finite vertex coordinates')
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise DataError(f'{path}: face indices outside 1..{len(vertices)}')
    return TriMesh(vertices.astype(np.float64), faces.astype(np.int32),
                   np.full(len(faces), PART_BODY, np.uint8))


def _read_obj(data: bytes, path) -> TriMesh:
    vertices, faces = [], []
    try:
        for line in data.decode('utf-8', errors='replace').splitlines():
            fields = line.split()
            if not fields:
                continue
            if fields[0] == 'v':
                vertices.append([float(x) for x in fields[1:4]])
            elif fields[0] == 'f':
                # 'f 1/2/3 4//6 -1': vertex index before the first slash, 1-based or negative
                idx = [int(f.split('/')[0]) for f in fields[1:]]
                idx = [i - 1 if i > 0 else len(vertices) + i for i in idx]
                faces.extend([idx[0], idx[k], idx[k + 1]] for k in range(1, len(idx) - 1))
    except ValueError as err:
        raise DataError(f'{path}: not a readable OBJ file ({err})') from None
    if any(len(v) != 3 for v in vertices):
        raise DataError(f'{path}: a vertex record has fewer than 3 coordinates')
    return _check_mesh(np.array(vertices, np.float64).reshape(-1, 3),
                       np.array(faces, np.int64).reshape(-1, 3), path)


def _read_stl(data: bytes, path) -> TriMesh:
    if len(data) >= 84:
        n = struct.unpack_from('<I', data, 80)[0]
        if len(data) == 84 + 50 * n:                      # binary
            rec = np.frombuffer(data, np.dtype([('n', '<f4', 3), ('v', '<f4', (3, 3)),
                                                ('a', '<u2')]), count=n, offset=84)
            tri = rec['v'].astype(np.float64)
            return _unique_vertices(tri, path)
    text = data.decode('ascii', errors='replace')
    if not text.lstrip().startswith('solid'):
        raise DataError(f'{path}: neither a binary STL (size does not match its count) '
                        'nor an ASCII one')
    try:
        coords = [[float(x) for x in line.split()[1:4]] for line in text.splitlines()
                  if line.strip().startswith('vertex')]
    except ValueError as err:
        raise DataError(f'{path}: not a readable ASCII STL ({err})') from None
    if len(coords) % 3:
        raise DataError(f'{path}: {len(coords)} vertices, not a multiple of 3')
    return _unique_vertices(np.array(coords, np.float64).reshape(-1, 3, 3), path)


def _unique_vertices(tri: np.ndarray, path) -> TriMesh:
    vertices, faces = np.unique(tri.reshape(-1, 3), axis=0, return_inverse=True)
    return _check_mesh(vertices, faces.reshape(-1, 3), path)


def read_mesh(path: str | Path) -> TriMesh:
    """Read an OBJ or STL file (all faces PART_BODY).

    Raises:
        DataError: unreadable, too large, or not a valid triangle mesh.
        ConfigError: another file type.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in ('.obj', '.stl'):
        raise ConfigError(f'{path}: mesh files must be .obj or .stl')
    try:
        size = path.stat().st_size
        if size > MAX_MESH_BYTES:
            raise DataError(f'{path}: {size} bytes; at most {MAX_MESH_BYTES} are read')
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f'{path}: cannot be read ({err})') from None
    return _read_obj(data, path) if suffix == '.obj' else _read_stl(data, path)


def _entry(item, base: Path, k: int, source) -> MeshEntry:
    where = f'{source}: meshes[{k}]'
    if not isinstance(item, dict):
        raise ConfigError(f'{where}: expected a mapping')
    unknown = set(item) - {'category', 'file', 'axes', 'units', 'handle_min_x'}
    if unknown:
        raise ConfigError(f'{where}: unknown keys {", ".join(sorted(unknown))}')
    category = item.get('category')
    if category not in CATEGORIES:
        raise ConfigError(f'{where}: category must be one of {", ".join(CATEGORIES)}; '
                          f'got {category!r}')
    if not isinstance(item.get('file'), str):
        raise ConfigError(f'{where}: file (a path) is required')
    axes = tuple(str(a).lower() for a in item.get('axes', ('x', 'y', 'z')))
    if len(axes) != 3 or any(a.lstrip('+-') not in _AXES for a in axes):
        raise ConfigError(f'{where}: axes must be three signed axes like [y, z, x]; '
                          f'got {item.get("axes")!r}')
    entry = MeshEntry(category, '', axes)
    if abs(np.linalg.det(entry.rotation()) - 1.0) > 1e-9:
        raise ConfigError(f'{where}: axes {list(axes)} are not a rotation '
                          '(repeated axis or a mirror)')
    units = item.get('units', 1.0)
    handle = item.get('handle_min_x')
    if not isinstance(units, (int, float)) or not 0 < units < 1e3:
        raise ConfigError(f'{where}: units must be a positive number; got {units!r}')
    if handle is not None and (category != 'mug' or not isinstance(handle, (int, float))):
        raise ConfigError(f'{where}: handle_min_x is a number, for mugs only')
    path = (base / item['file']).resolve()
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as err:
        raise ConfigError(f'{where}: {path} cannot be read ({err})') from None
    return MeshEntry(category, str(path), axes, float(units),
                     None if handle is None else float(handle), digest)


def read_manifest(path: str | Path) -> tuple:
    """Read a mesh manifest (YAML or JSON); returns a tuple of MeshEntry.

    Every mesh file is read once here, so a broken one fails before any rendering.

    Raises:
        ConfigError: unreadable manifest, unknown keys or categories, bad axes.
        DataError: a mesh file that is not a valid mesh.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f'{path}: cannot be read ({err})') from None
    if path.suffix.lower() == '.json':
        doc = json.loads(text)
    else:
        import yaml

        doc = yaml.safe_load(text)
    if not isinstance(doc, dict) or not isinstance(doc.get('meshes'), list) \
            or not doc['meshes']:
        raise ConfigError(f'{path}: expected a mapping with a non-empty list "meshes"')
    entries = tuple(_entry(item, path.parent, k, path) for k, item in enumerate(doc['meshes']))
    for entry in entries:
        read_mesh(entry.path)
    return entries


@functools.lru_cache(maxsize=64)
def _canonical(entry: MeshEntry) -> tuple:
    """(unit-diagonal canonical mesh, its extents, metric diagonal) of an entry."""
    mesh = read_mesh(entry.path)
    mesh = mesh.transformed(entry.rotation())
    if entry.handle_min_x is not None:
        centroid_x = mesh.vertices[mesh.faces].mean(axis=1)[:, 0]
        parts = np.where(centroid_x > entry.handle_min_x, PART_HANDLE, PART_BODY)
        mesh = TriMesh(mesh.vertices, mesh.faces, parts.astype(np.uint8))
    extent = mesh.vertices.max(0) - mesh.vertices.min(0)
    unit, size = normalise_to_unit_diagonal(mesh)
    return unit, size, float(np.linalg.norm(extent) * entry.units)


@functools.lru_cache(maxsize=512)
def mesh_shape(entry: MeshEntry, seed: int) -> ShapeInstance:
    """Return the ShapeInstance of a manifest entry, in its own geometry and real size.

    ``seed`` draws the colours (the category's palette) and the gloss only.

    Raises:
        DataError: the file is no longer a valid mesh.
    """
    class_id = category_id(entry.category)
    unit, size, scale = _canonical(entry)
    rng = np.random.default_rng([class_id, int(seed), 11])
    app = random_appearance(rng, entry.category, trim=(0.75, 0.75, 0.78),
                            detail=(0.1, 0.1, 0.1), pattern_probs=(0.4, 0.2, 0.2, 0.2))
    lo, hi = specular_range(entry.category)
    app = dataclasses.replace(app, specular=uniform(rng, lo, hi),
                              shininess=uniform(rng, 8.0, 80.0))
    name = Path(entry.path).stem
    return ShapeInstance(category=entry.category, class_id=class_id, seed=int(seed),
                         mesh=unit, size=size, scale=scale, appearance=app,
                         hull_normals=hull_normals(unit), model_id=f'{entry.category}_{name}',
                         vertex_normals=vertex_normals(unit))
