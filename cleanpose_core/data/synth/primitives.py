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

"""Triangle-mesh building blocks in numpy: lathes, boxes, extrusions, swept tubes.

Meshes are plain arrays; open3d is only used later for ray casting. Every face
carries a part id (body, trim, handle, detail) that selects its colour and lets
the renderer count, e.g., the visible handle pixels of a mug.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ['PART_BODY', 'PART_TRIM', 'PART_HANDLE', 'PART_DETAIL', 'NUM_PARTS', 'TriMesh',
           'lathe', 'box', 'extrude', 'rounded_rect', 'tube', 'merge', 'rot_x', 'rot_y', 'rot_z',
           'normalise_to_unit_diagonal', 'vertex_normals']

PART_BODY, PART_TRIM, PART_HANDLE, PART_DETAIL = 0, 1, 2, 3
NUM_PARTS = 4


@dataclass(frozen=True)
class TriMesh:
    """A triangle mesh with a part id per face.

    Attributes:
        vertices: (V, 3) float64 positions.
        faces: (F, 3) int32 vertex indices.
        parts: (F,) uint8 part id per face (PART_*).
    """

    vertices: np.ndarray
    faces: np.ndarray
    parts: np.ndarray

    def transformed(self, R: np.ndarray, t=(0.0, 0.0, 0.0), s: float = 1.0) -> TriMesh:
        """Return the mesh with vertices mapped by ``s * R @ v + t``."""
        v = s * self.vertices @ np.asarray(R, dtype=np.float64).T + np.asarray(t, np.float64)
        return TriMesh(v, self.faces, self.parts)


def rot_x(angle: float) -> np.ndarray:
    """Return the (3, 3) rotation by ``angle`` radians about +X."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(angle: float) -> np.ndarray:
    """Return the (3, 3) rotation by ``angle`` radians about +Y."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(angle: float) -> np.ndarray:
    """Return the (3, 3) rotation by ``angle`` radians about +Z."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _drop_degenerate(vertices: np.ndarray, faces: np.ndarray, parts: np.ndarray) -> TriMesh:
    tri = vertices[faces]
    area2 = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    keep = area2 > 1e-12
    return TriMesh(vertices, faces[keep].astype(np.int32), parts[keep].astype(np.uint8))


def _grid_faces(rows: int, cols: int, closed: bool) -> np.ndarray:
    """Quads between consecutive rings of ``cols`` vertices, as triangles (row-major)."""
    i = np.arange(rows - 1)[:, None]
    j = np.arange(cols if closed else cols - 1)[None, :]
    j1 = (j + 1) % cols
    a, b = i * cols + j, i * cols + j1
    c, d = (i + 1) * cols + j1, (i + 1) * cols + j
    tris = np.stack([np.stack([a, b, c], -1), np.stack([a, c, d], -1)], axis=2)
    return tris.reshape(-1, 3)


def lathe(profile: np.ndarray, parts, segments: int = 40) -> TriMesh:
    """Revolve a profile about +Y.

    Args:
        profile: (P, 2) points (radius >= 0, height) in order along the surface.
        parts: part id of each of the P - 1 profile segments (or one int for all).
        segments: vertices per ring.

    Returns:
        The surface of revolution; rings at radius 0 collapse to the axis.
    """
    profile = np.asarray(profile, dtype=np.float64)
    P = len(profile)
    ang = 2.0 * np.pi * np.arange(segments) / segments
    r, y = profile[:, 0:1], profile[:, 1:2]
    verts = np.stack([r * np.cos(ang), np.broadcast_to(y, r.shape[:1] + ang.shape),
                      r * np.sin(ang)], axis=-1).reshape(-1, 3)
    faces = _grid_faces(P, segments, closed=True)
    seg_parts = np.broadcast_to(np.asarray(parts, dtype=np.uint8), (P - 1,))
    face_parts = np.repeat(seg_parts, 2 * segments)
    return _drop_degenerate(verts, faces, face_parts)


def box(lo, hi, part: int = PART_BODY) -> TriMesh:
    """Return the axis-aligned box between corners ``lo`` and ``hi`` (each (3,))."""
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    idx = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)])
    verts = np.where(idx == 1, hi, lo)
    faces = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                      [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    return TriMesh(verts, faces.astype(np.int32), np.full(12, part, np.uint8))


def extrude(polygon: np.ndarray, z0: float, z1: float, part: int = PART_BODY) -> TriMesh:
    """Extrude a convex polygon in the X-Y plane from z0 to z1, with both caps.

    Args:
        polygon: (P, 2) convex polygon vertices in order.
        z0: start along Z.
        z1: end along Z.
        part: part id of all faces.
    """
    poly = np.asarray(polygon, np.float64)
    P = len(poly)
    rings = [np.column_stack([poly, np.full(P, z)]) for z in (z0, z1)]
    centres = [np.array([[*poly.mean(0), z]]) for z in (z0, z1)]
    verts = np.concatenate(rings + centres)
    side = _grid_faces(2, P, closed=True)
    j = np.arange(P)
    cap0 = np.stack([np.full(P, 2 * P), (j + 1) % P, j], -1)
    cap1 = np.stack([np.full(P, 2 * P + 1), P + j, P + (j + 1) % P], -1)
    faces = np.concatenate([side, cap0, cap1])
    return _drop_degenerate(verts, faces, np.full(len(faces), part, np.uint8))


def rounded_rect(width: float, height: float, radius: float, n: int = 6) -> np.ndarray:
    """Return a (4n, 2) convex rounded rectangle centred at the origin."""
    radius = min(radius, 0.5 * width - 1e-6, 0.5 * height - 1e-6)
    pts = []
    corners = [(1, 1), (-1, 1), (-1, -1), (1, -1)]
    for k, (sx, sy) in enumerate(corners):
        cx, cy = sx * (0.5 * width - radius), sy * (0.5 * height - radius)
        a = np.linspace(0.5 * np.pi * k, 0.5 * np.pi * (k + 1), n)
        pts.append(np.column_stack([cx + radius * np.cos(a), cy + radius * np.sin(a)]))
    return np.concatenate(pts)


def tube(path: np.ndarray, radii, sides: int = 8, part: int = PART_HANDLE,
         up=(0.0, 0.0, 1.0)) -> TriMesh:
    """Sweep an elliptic cross-section along a path (open ends).

    Args:
        path: (M, 3) centre line.
        radii: (a, b) semi-axes: a in the plane spanned by the path tangent and the
            normal ``tangent x up``, b along ``up``.
        sides: vertices per cross-section.
        part: part id of all faces.
        up: (3,) direction that stays fixed along the sweep (the path plane normal).
    """
    path = np.asarray(path, np.float64)
    tang = np.gradient(path, axis=0)
    tang /= np.linalg.norm(tang, axis=1, keepdims=True)
    binorm = np.broadcast_to(np.asarray(up, np.float64), path.shape)
    normal = np.cross(tang, binorm)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    ang = 2.0 * np.pi * np.arange(sides) / sides
    a, b = radii
    verts = (path[:, None, :] + a * np.cos(ang)[None, :, None] * normal[:, None, :]
             + b * np.sin(ang)[None, :, None] * binorm[:, None, :]).reshape(-1, 3)
    faces = _grid_faces(len(path), sides, closed=True)
    return _drop_degenerate(verts, faces, np.full(len(faces), part, np.uint8))


def merge(*meshes: TriMesh) -> TriMesh:
    """Concatenate meshes into one (no welding)."""
    offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
    return TriMesh(np.concatenate([m.vertices for m in meshes]),
                   np.concatenate([m.faces + o for m, o in zip(meshes, offsets)]).astype(np.int32),
                   np.concatenate([m.parts for m in meshes]))


def vertex_normals(mesh: TriMesh) -> np.ndarray:
    """Return (V, 3) unit area-weighted vertex normals (same orientation as the faces)."""
    tri = mesh.vertices[mesh.faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    vn = np.zeros_like(mesh.vertices)
    for k in range(3):
        np.add.at(vn, mesh.faces[:, k], fn)
    norm = np.linalg.norm(vn, axis=1, keepdims=True)
    return np.where(norm > 0, vn / np.maximum(norm, 1e-300), 0.0)


def normalise_to_unit_diagonal(mesh: TriMesh) -> tuple[TriMesh, np.ndarray]:
    """Centre a mesh on its tight bounding box and scale it to bounding-box diagonal 1.

    Returns:
        The normalised mesh and its (3,) normalised extents (norm 1).
    """
    lo, hi = mesh.vertices.min(0), mesh.vertices.max(0)
    diag = float(np.linalg.norm(hi - lo))
    if diag <= 0.0:
        raise ValueError('cannot normalise a mesh with an empty bounding box')
    verts = (mesh.vertices - 0.5 * (lo + hi)) / diag
    return TriMesh(verts, mesh.faces, mesh.parts), (hi - lo) / diag
