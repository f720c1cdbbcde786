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

"""Scene layout: objects resting on a table, background surfaces, lights, camera path.

World frame: +Y up, the table top is the plane y = 0. Objects are put in a stable
resting pose (upright, or lying/upside down/leaning, settled on a convex-hull facet
so that the lowest vertex touches the table), turned about +Y, and placed by their
footprint circles so that no two objects interpenetrate. Camera poses follow a
smooth orbit around the scene centre, 0.4-1.2 m away at 20-70 degrees elevation;
camera axes are the OpenCV optical frame (x right, y down, z forward).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cleanpose_core.categories import CATEGORIES
from cleanpose_core.data.synth.mesh_files import mesh_shape
from cleanpose_core.data.synth.primitives import rot_x, rot_y, rot_z, TriMesh
from cleanpose_core.data.synth.shapes import (
    Appearance, instance_seed_range, make_distractor, make_shape, ShapeInstance)

__all__ = ['PlacedObject', 'Surface', 'SceneSpec', 'SceneOptions', 'POSE_MODES', 'make_scene',
           'camera_pose', 'rest_rotation', 'look_at']

POSE_MODES = {'upright': 0.0, 'mixed': 0.4, 'lying': 1.0}   # share of non-upright objects
TABLE_Y = 0.0
FLOOR_Y = -0.74


@dataclass(frozen=True)
class PlacedObject:
    """An instance placed in the world.

    Attributes:
        shape: the instance (canonical mesh, scale, appearance).
        instance_id: 1..n, the value of its pixels in the instance mask.
        R_world_obj: (3, 3) rotation object -> world.
        t_world_obj: (3,) world position of the canonical origin, metres.
        pose_name: 'upright', 'side', 'upside_down', 'back', 'front', 'leaning', 'random'.
        footprint: (3,) circle (x, z, radius) on the table, metres.
    """

    shape: ShapeInstance
    instance_id: int
    R_world_obj: np.ndarray
    t_world_obj: np.ndarray
    pose_name: str
    footprint: np.ndarray

    def world_vertices(self) -> np.ndarray:
        """Return the (V, 3) world-frame vertices of the mesh, metres."""
        return (self.shape.scale * self.shape.mesh.vertices @ self.R_world_obj.T
                + self.t_world_obj)


@dataclass(frozen=True)
class Surface:
    """An axis-aligned background rectangle (table top, floor, wall), world frame, metres.

    Attributes:
        name: 'table', 'floor' or 'wall0'..'wall3'.
        axis: 0, 1 or 2: the world coordinate that is constant on the surface.
        value: that coordinate, metres.
        lo: (3,) lower corner of the rectangle.
        hi: (3,) upper corner (lo[axis] == hi[axis] == value).
        normal: (3,) unit normal facing the scene.
        appearance: colours and texture (evaluated on world coordinates).
    """

    name: str
    axis: int
    value: float
    lo: np.ndarray
    hi: np.ndarray
    normal: np.ndarray
    appearance: Appearance

    def mesh(self) -> TriMesh:
        """Return the rectangle as a two-triangle mesh."""
        b = [k for k in range(3) if k != self.axis][1]
        corners = np.array([self.lo, self.lo, self.hi, self.hi], np.float64)
        corners[1, b] = self.hi[b]
        corners[3, b] = self.lo[b]
        faces = np.array([[0, 1, 2], [0, 2, 3]], np.int32)
        return TriMesh(corners, faces, np.zeros(2, np.uint8))


@dataclass(frozen=True)
class SceneSpec:
    """Everything that stays fixed over the frames of one scene folder.

    Attributes:
        objects: placed category objects and distractors.
        surfaces: table, floor and walls.
        light_dirs: (L, 3) unit world directions toward the lights.
        light_intensity: (L,) intensities.
        ambient: ambient light level.
        tint: (3,) light colour.
        centre: (3,) world point the camera looks at.
        orbit: (6,) camera path: azimuth0, azimuth step per frame (rad), elevation0,
            elevation amplitude (rad), distance0, distance amplitude (m).
        depth_sigma_px: disparity noise of this scene's sensor, pixels.
    """

    objects: tuple
    surfaces: tuple
    light_dirs: np.ndarray
    light_intensity: np.ndarray
    ambient: float
    tint: np.ndarray
    centre: np.ndarray
    orbit: np.ndarray
    depth_sigma_px: float


@dataclass(frozen=True)
class SceneOptions:
    """Scene sampling options (validated by the command).

    Attributes:
        split: 'train' or 'test' (selects the instance seed range).
        poses: 'upright', 'mixed' or 'lying' (key of POSE_MODES).
        min_objects, max_objects: category objects per scene.
        max_distractors: distractors per scene, drawn from 0..max_distractors.
        instances_per_category: size of the instance pool drawn from per category.
        meshes: MeshEntry models (``mesh_files.read_manifest``) that replace the
            procedural category objects: each object is one of them, drawn uniformly,
            in its own geometry and size (colours from the instance seed); empty =
            the procedural library. Distractors stay procedural.
        can_ends: 'lid' or 'varied': which ends of procedural cans are metal-coloured
            (see generators._can).
    """

    split: str = 'train'
    poses: str = 'mixed'
    min_objects: int = 1
    max_objects: int = 6
    max_distractors: int = 3
    instances_per_category: int = 1000
    meshes: tuple = ()
    can_ends: str = 'lid'


# Pre-rotations (canonical -> table) of the non-upright poses, settled afterwards.
_NON_UPRIGHT = {
    'bottle': [('side', rot_z(np.pi / 2)), ('side', rot_z(-np.pi / 2))],
    'can': [('side', rot_z(np.pi / 2)), ('upside_down', rot_x(np.pi))],
    'bowl': [('upside_down', rot_x(np.pi)), ('side', rot_x(np.pi / 2))],
    'mug': [('upside_down', rot_x(np.pi)), ('side', rot_z(np.pi / 2)),
            ('side', rot_x(np.pi / 2))],
    'laptop': [('leaning', None), ('upside_down', rot_z(np.pi))],
    'camera': [('back', rot_x(-np.pi / 2)), ('front', rot_x(np.pi / 2)),
               ('side', rot_z(np.pi / 2))],
}


def _align(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation taking unit vector a onto unit vector b."""
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    if c < -1.0 + 1e-9:
        axis = np.cross(a, [1.0, 0.0, 0.0])
        if np.linalg.norm(axis) < 1e-6:
            axis = np.cross(a, [0.0, 0.0, 1.0])
        axis /= np.linalg.norm(axis)
        return 2.0 * np.outer(axis, axis) - np.eye(3)
    vx = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + c)


def _settle(shape: ShapeInstance, R: np.ndarray) -> np.ndarray:
    """Turn R minimally so that the hull facet closest to facing down faces exactly down."""
    normals_world = shape.hull_normals @ R.T
    k = int(np.argmin(normals_world[:, 1]))
    return _align(normals_world[k], np.array([0.0, -1.0, 0.0])) @ R


def rest_rotation(shape: ShapeInstance, upright: bool,
                  rng: np.random.Generator) -> tuple[str, np.ndarray]:
    """Choose a resting rotation (object -> world, before the turn about +Y).

    Args:
        shape: the instance.
        upright: True for the canonical upright pose; else a category-specific pose.
        rng: random generator.

    Returns:
        The pose name and the (3, 3) rotation.
    """
    if shape.class_id == 0:
        if upright and rng.random() < 0.5:
            return 'upright', np.eye(3)
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        w, x, y, z = q
        R = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                      [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                      [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
        return 'random', _settle(shape, R)
    if upright:
        return 'upright', np.eye(3)
    options = _NON_UPRIGHT[shape.category]
    if shape.category == 'laptop' and shape.size[1] > 0.15:
        options = options[:1]   # an open laptop only leans; a closed one may lie upside down
    name, R = options[int(rng.integers(len(options)))]
    if R is None:
        R = rot_x(-np.deg2rad(rng.uniform(30.0, 100.0)))
    return name, _settle(shape, R)


def look_at(eye: np.ndarray, target: np.ndarray, roll: float = 0.0) -> np.ndarray:
    """Return R_world_cam of an OpenCV camera at ``eye`` looking at ``target`` (+Y up)."""
    z = target - eye
    z = z / np.linalg.norm(z)
    x = np.cross(z, [0.0, 1.0, 0.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z], axis=1)
    return R @ rot_z(roll)


def _place(objects_in: list, rng: np.random.Generator) -> list:
    placed, circles = [], []
    radius = 0.10
    for shape, (pose_name, R0) in objects_in:
        R = rot_y(rng.uniform(0.0, 2 * np.pi)) @ R0
        v = shape.scale * shape.mesh.vertices @ R.T
        lo, hi = v.min(0), v.max(0)
        c_xz = 0.5 * (lo[[0, 2]] + hi[[0, 2]])
        r = float(np.max(np.linalg.norm(v[:, [0, 2]] - c_xz, axis=1)))
        for _ in range(80):
            ang, rad = rng.uniform(0, 2 * np.pi), radius * np.sqrt(rng.random())
            p = np.array([rad * np.cos(ang), rad * np.sin(ang)])
            if all(np.linalg.norm(p - q[:2]) > r + q[2] + 0.004 for q in circles):
                break
            radius += 0.008
        else:
            continue
        circles.append(np.array([p[0], p[1], r]))
        t = np.array([p[0] - c_xz[0], TABLE_Y - lo[1], p[1] - c_xz[1]])
        placed.append(PlacedObject(shape=shape, instance_id=len(placed) + 1, R_world_obj=R,
                                   t_world_obj=t, pose_name=pose_name, footprint=circles[-1]))
    return placed


def _surface_appearance(rng: np.random.Generator, kind: str) -> Appearance:
    grey = rng.uniform(0.2, 0.9)
    if kind == 'table' and rng.random() < 0.5:      # wood tones
        base = np.array([rng.uniform(0.35, 0.8), rng.uniform(0.22, 0.55), rng.uniform(0.1, 0.35)])
    else:                                            # muted paints, greys
        base = grey + rng.uniform(0.0, 0.35) * (rng.uniform(0.0, 1.0, 3) - 0.5)
    pattern = str(rng.choice(['plain', 'stripes', 'noise'], p=[0.3, 0.35, 0.35]))
    dirs = rng.normal(size=(3, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    axis = rng.normal(size=3)
    colours = np.tile(np.clip(base, 0.03, 1.0), (4, 1)).astype(np.float32)
    return Appearance(
        part_colours=colours, pattern=pattern,
        colour2=np.clip(base * rng.uniform(0.6, 1.3) + rng.normal(0, 0.05, 3), 0, 1)
        .astype(np.float32),
        axis=(axis / np.linalg.norm(axis)).astype(np.float32), freq=float(rng.uniform(3, 40)),
        band=(-1e9, -1e9), noise_amp=float(rng.uniform(0.05, 0.3)),
        noise_dirs=(dirs * rng.uniform(5.0, 60.0, (3, 1))).astype(np.float32),
        noise_phase=rng.uniform(0, 2 * np.pi, 3).astype(np.float32), pattern_parts=(0,))


def _surfaces(placed: list, rng: np.random.Generator) -> tuple:
    """Table top, floor and four walls: the table is the first, the walls the last four."""
    fp = np.array([o.footprint for o in placed]) if placed else np.zeros((1, 3))
    lo = (fp[:, :2] - fp[:, 2:]).min(0) - rng.uniform(0.15, 0.6, 2)
    hi = (fp[:, :2] + fp[:, 2:]).max(0) + rng.uniform(0.15, 0.6, 2)
    half = rng.uniform(2.2, 3.5)      # the camera (<= 1.2 m from the objects) stays inside
    c = 0.5 * (lo + hi) + rng.uniform(-0.3, 0.3, 2)
    x0, x1, z0, z1, top = c[0] - half, c[0] + half, c[1] - half, c[1] + half, FLOOR_Y + 2.6

    def rect(name, axis, value, lo3, hi3, normal, app):
        return Surface(name, axis, float(value), np.array(lo3, np.float64),
                       np.array(hi3, np.float64), np.array(normal, np.float64), app)

    wall_app = _surface_appearance(rng, 'wall')
    out = [rect('table', 1, TABLE_Y, (lo[0], TABLE_Y, lo[1]), (hi[0], TABLE_Y, hi[1]),
                (0, 1, 0), _surface_appearance(rng, 'table')),
           rect('floor', 1, FLOOR_Y, (x0, FLOOR_Y, z0), (x1, FLOOR_Y, z1), (0, 1, 0),
                _surface_appearance(rng, 'floor'))]
    walls = [(0, x0, (x0, FLOOR_Y, z0), (x0, top, z1), (1, 0, 0)),
             (0, x1, (x1, FLOOR_Y, z0), (x1, top, z1), (-1, 0, 0)),
             (2, z0, (x0, FLOOR_Y, z0), (x1, top, z0), (0, 0, 1)),
             (2, z1, (x0, FLOOR_Y, z1), (x1, top, z1), (0, 0, -1))]
    for k, (axis, value, lo3, hi3, normal) in enumerate(walls):
        app = wall_app if rng.random() < 0.7 else _surface_appearance(rng, 'wall')
        out.append(rect(f'wall{k}', axis, value, lo3, hi3, normal, app))
    return tuple(out)


def make_scene(options: SceneOptions, rng: np.random.Generator) -> SceneSpec:
    """Sample one scene: objects on a table, background, lights and a camera orbit.

    Args:
        options: what to sample.
        rng: random generator (the only source of randomness).

    Raises:
        ValueError: for an unknown pose mode or split.
    """
    if options.poses not in POSE_MODES:
        raise ValueError(f'poses must be one of {", ".join(POSE_MODES)}; got {options.poses!r}')
    seeds = instance_seed_range(options.split)
    p_lying = POSE_MODES[options.poses]
    n_obj = int(rng.integers(options.min_objects, options.max_objects + 1))
    n_dis = int(rng.integers(0, options.max_distractors + 1))
    todo = []
    for _ in range(n_obj):
        if options.meshes:
            entry = options.meshes[int(rng.integers(len(options.meshes)))]
            shape = mesh_shape(entry, seeds.start + int(rng.integers(
                options.instances_per_category)))
        else:
            cat = CATEGORIES[int(rng.integers(len(CATEGORIES)))]
            shape = make_shape(cat, seeds.start + int(rng.integers(
                options.instances_per_category)), options.can_ends)
        todo.append((shape, rest_rotation(shape, rng.random() >= p_lying, rng)))
    for _ in range(n_dis):
        shape = make_distractor(seeds.start + int(rng.integers(options.instances_per_category)))
        todo.append((shape, rest_rotation(shape, rng.random() >= p_lying, rng)))
    placed = _place(todo, rng)
    n_light = int(rng.integers(1, 3))
    az = rng.uniform(0, 2 * np.pi, n_light)
    el = np.deg2rad(rng.uniform(30.0, 85.0, n_light))
    dirs = np.stack([np.cos(el) * np.cos(az), np.sin(el), np.cos(el) * np.sin(az)], axis=1)
    inten = rng.uniform(0.4, 1.0, n_light)
    inten = inten / inten.sum() * rng.uniform(0.6, 1.0)
    fp = np.array([o.footprint for o in placed]) if placed else np.zeros((1, 3))
    heights = [o.world_vertices()[:, 1].max() for o in placed] or [0.1]
    centre = np.array([fp[:, 0].mean(), 0.4 * float(np.mean(heights)), fp[:, 1].mean()])
    orbit = np.array([rng.uniform(0, 2 * np.pi), np.deg2rad(rng.uniform(0.5, 3.0))
                      * rng.choice([-1, 1]), np.deg2rad(rng.uniform(28.0, 62.0)),
                      np.deg2rad(rng.uniform(0.0, 8.0)), rng.uniform(0.5, 1.1),
                      rng.uniform(0.0, 0.1)])
    return SceneSpec(objects=tuple(placed), surfaces=_surfaces(placed, rng), light_dirs=dirs,
                     light_intensity=inten, ambient=float(rng.uniform(0.15, 0.4)),
                     tint=np.clip(1.0 + rng.normal(0.0, 0.05, 3), 0.85, 1.15),
                     centre=centre, orbit=orbit,
                     depth_sigma_px=float(rng.uniform(0.04, 0.12)))


def camera_pose(scene: SceneSpec, k: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return (R_world_cam (3, 3), t_world_cam (3,)) of frame k of the scene's orbit.

    The path is smooth in k (a tracking sequence); ``rng`` adds a small per-frame
    jitter of the look-at point and roll. Distance stays in [0.4, 1.2] m and
    elevation in [20, 70] degrees.
    """
    az0, daz, el0, del_, d0, dd = scene.orbit
    az = az0 + daz * k
    el = float(np.clip(el0 + del_ * np.sin(0.15 * k), np.deg2rad(20.0), np.deg2rad(70.0)))
    dist = float(np.clip(d0 + dd * np.sin(0.11 * k + 1.0), 0.4, 1.2))
    target = scene.centre + rng.normal(0.0, 0.01, 3)
    eye = target + dist * np.array([np.cos(el) * np.cos(az), np.sin(el), np.cos(el) * np.sin(az)])
    return look_at(eye, target, roll=float(rng.normal(0.0, np.deg2rad(2.0)))), eye
