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
instances. Parameters and ranges are listed in each generator's docstring.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import functools

import numpy as np
from scipy.spatial import ConvexHull

from cleanpose_core.categories import CATEGORIES, category_id
from cleanpose_core.data.synth.primitives import (
    box, extrude, lathe, merge, normalise_to_unit_diagonal, PART_BODY, PART_DETAIL,
    PART_HANDLE, PART_TRIM, rot_x, rounded_rect, TriMesh, tube, vertex_normals)

__all__ = ['Appearance', 'ShapeInstance', 'make_shape', 'make_distractor', 'instance_seed_range',
           'SCALE_RANGES', 'TEST_SEED_OFFSET', 'SEED_RANGE']

# Metric bounding-box diagonal per category, metres (real-world ranges).
SCALE_RANGES = {
    'bottle': (0.18, 0.36), 'bowl': (0.12, 0.28), 'camera': (0.11, 0.22),
    'can': (0.10, 0.20), 'laptop': (0.35, 0.55), 'mug': (0.10, 0.18), 'distractor': (0.05, 0.25),
}
TEST_SEED_OFFSET = 1_000_000
SEED_RANGE = 1_000_000
_SEGMENTS = 40
_PATTERNS = ('plain', 'stripes', 'label', 'noise')
# Blinn-Phong highlight strength per category (glossy ceramics, glass, metal cans).
_SPECULAR = {'bottle': (0.1, 0.6), 'bowl': (0.05, 0.5), 'camera': (0.0, 0.3),
             'can': (0.2, 0.7), 'laptop': (0.0, 0.3), 'mug': (0.05, 0.5)}


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
class Appearance:
    """Colours and a procedural texture evaluated on canonical coordinates.

    Attributes:
        part_colours: (NUM_PARTS, 3) float32 albedo in [0, 1] per part id.
        pattern: 'plain', 'stripes' (bands along ``axis``), 'label' (one band of
            ``colour2`` between ``band`` limits with fine stripes inside) or 'noise'.
        colour2: (3,) float32 second colour of the pattern.
        axis: (3,) unit direction the pattern varies along (texture coordinates).
        freq: stripes per unit of texture coordinate.
        band: (lo, hi) limits of the label band along ``axis``.
        noise_amp: relative brightness variation of the smooth noise, [0, 0.3].
        noise_dirs: (3, 3) directions of the three sinusoids of the noise.
        noise_phase: (3,) their phases.
        pattern_parts: part ids the pattern applies to.
        specular: strength of Blinn-Phong highlights, 0 = matte.
        shininess: Blinn-Phong exponent.
    """

    part_colours: np.ndarray
    pattern: str
    colour2: np.ndarray
    axis: np.ndarray
    freq: float
    band: tuple
    noise_amp: float
    noise_dirs: np.ndarray
    noise_phase: np.ndarray
    pattern_parts: tuple = (PART_BODY,)
    specular: float = 0.0
    shininess: float = 20.0


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


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


_PALETTES = {
    'bottle': [(0.1, 0.45, 0.15), (0.45, 0.25, 0.08), (0.55, 0.75, 0.9), (0.9, 0.9, 0.92),
               (0.15, 0.3, 0.7), (0.8, 0.1, 0.1), (0.95, 0.85, 0.3)],
    'bowl': [(0.93, 0.93, 0.9), (0.2, 0.35, 0.6), (0.75, 0.3, 0.2), (0.35, 0.55, 0.35),
             (0.1, 0.1, 0.1), (0.85, 0.75, 0.55), (0.6, 0.2, 0.5)],
    'camera': [(0.06, 0.06, 0.07), (0.12, 0.12, 0.13), (0.7, 0.7, 0.72), (0.35, 0.3, 0.25),
               (0.8, 0.2, 0.15)],
    'can': [(0.85, 0.05, 0.1), (0.1, 0.2, 0.7), (0.95, 0.8, 0.1), (0.1, 0.6, 0.2),
            (0.75, 0.75, 0.78), (0.05, 0.05, 0.05), (0.95, 0.5, 0.1)],
    'laptop': [(0.7, 0.7, 0.72), (0.2, 0.2, 0.22), (0.08, 0.08, 0.09), (0.55, 0.5, 0.45),
               (0.85, 0.85, 0.87)],
    'mug': [(0.95, 0.95, 0.93), (0.1, 0.1, 0.1), (0.8, 0.15, 0.1), (0.15, 0.3, 0.65),
            (0.9, 0.75, 0.2), (0.3, 0.6, 0.4), (0.6, 0.4, 0.3)],
    'distractor': [(0.6, 0.5, 0.4), (0.3, 0.3, 0.35), (0.8, 0.8, 0.7), (0.2, 0.5, 0.6),
                   (0.7, 0.2, 0.3), (0.5, 0.6, 0.2)],
}


def _colour(rng: np.random.Generator, category: str) -> np.ndarray:
    pal = _PALETTES[category]
    base = np.asarray(pal[rng.integers(len(pal))], np.float64)
    return np.clip(base * rng.uniform(0.8, 1.15) + rng.normal(0.0, 0.04, 3), 0.02, 1.0)


def _appearance(rng: np.random.Generator, category: str, trim, detail, pattern_probs,
                label_axis=(0.0, 1.0, 0.0)) -> Appearance:
    body = _colour(rng, category)
    colours = np.stack([body, np.asarray(trim, np.float64), body,
                        np.asarray(detail, np.float64)]).astype(np.float32)
    pattern = _PATTERNS[rng.choice(len(_PATTERNS), p=pattern_probs)]
    lo = _u(rng, -0.35, 0.0)
    dirs = rng.normal(size=(3, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    return Appearance(
        part_colours=colours, pattern=pattern,
        colour2=rng.uniform(0.05, 1.0, 3).astype(np.float32),
        axis=np.asarray(label_axis, np.float32), freq=_u(rng, 4.0, 20.0),
        band=(lo, lo + _u(rng, 0.15, 0.45)), noise_amp=_u(rng, 0.0, 0.25),
        noise_dirs=(dirs * rng.uniform(3.0, 15.0, (3, 1))).astype(np.float32),
        noise_phase=rng.uniform(0, 2 * np.pi, 3).astype(np.float32))


def _bottle(rng: np.random.Generator) -> tuple[TriMesh, Appearance]:
    """Bottle: lathe profile with body, shoulder, neck and cap.

    Parameters (body radius 1): height/diameter 2.2-4.5; body 45-70 % of the height
    with a waist or bulge of -8..+8 % of the radius at a random height; shoulder
    8-22 % of the height with a superellipse exponent 0.7-3 (concave to round);
    neck radius 0.18-0.45; cap 4-10 % of the height, radius 1.0-1.3 x neck; base
    bevel 2-10 %. Metric diagonal 0.18-0.36 m.
    """
    R = 1.0
    H = 2.0 * R * _u(rng, 2.2, 4.5)
    hb, hs = H * _u(rng, 0.45, 0.70), H * _u(rng, 0.08, 0.22)
    rn = R * _u(rng, 0.18, 0.45)
    hc = H * _u(rng, 0.04, 0.10)
    rc = rn * _u(rng, 1.0, 1.3)
    bev = R * _u(rng, 0.02, 0.10)
    waist, wy = _u(rng, -0.08, 0.08), _u(rng, 0.3, 0.7)
    p = _u(rng, 0.7, 3.0)
    ys = np.linspace(bev, hb, 10)
    body_r = R * (1.0 - waist * np.exp(-((ys / hb - wy) / 0.18) ** 2))
    t = np.linspace(0.0, 1.0, 9)[1:]
    sh_r = rn + (R - rn) * (1.0 - t ** p) ** (1.0 / p)
    prof = [(0.0, 0.0), (R - bev, 0.0)] + list(zip(body_r, ys)) + list(zip(sh_r, hb + hs * t))
    top = max(hb + hs + 0.3 * R, H - hc)
    prof += [(rn, top), (rc, top), (rc, top + hc), (0.0, top + hc)]
    n = len(prof)
    parts = [PART_BODY] * (n - 4) + [PART_TRIM] * 3
    mesh = lathe(np.asarray(prof), parts, _SEGMENTS)
    app = _appearance(rng, 'bottle', trim=_colour(rng, 'can'), detail=(0.1, 0.1, 0.1),
                      pattern_probs=(0.3, 0.15, 0.45, 0.1))
    return mesh, app


def _can(rng: np.random.Generator) -> tuple[TriMesh, Appearance]:
    """Can: cylinder with tapered neck, recessed lid and optional ribs.

    Parameters (radius 1): height/diameter 0.8-2.3; neck taper to 82-97 % of the
    radius over 3-12 % of the height; lid recess 2-6 %; bottom bevel 5-15 %;
    ribs (35 % of cans) 3-12 ribs of 0.5-2 % radius. Metric diagonal 0.10-0.20 m.
    """
    R = 1.0
    H = 2.0 * R * _u(rng, 0.8, 2.3)
    rt = R * _u(rng, 0.82, 0.97)
    ht = H * _u(rng, 0.03, 0.12)
    rec = R * _u(rng, 0.02, 0.06)
    bev = R * _u(rng, 0.05, 0.15)
    ys = np.linspace(bev, H - ht, 16)
    r = np.full_like(ys, R)
    if rng.random() < 0.35:
        r = r + R * _u(rng, 0.005, 0.02) * np.sin(2 * np.pi * rng.integers(3, 13) * ys / H)
    prof = [(0.0, 0.3 * bev), (R - bev, 0.0)] + list(zip(r, ys))
    prof += [(rt, H), (rt * 0.94, H), (rt * 0.92, H - rec), (0.0, H - rec)]
    n = len(prof)
    parts = [PART_BODY] * (n - 4) + [PART_TRIM] * 3
    mesh = lathe(np.asarray(prof), parts, _SEGMENTS)
    app = _appearance(rng, 'can', trim=(0.75, 0.75, 0.78), detail=(0.1, 0.1, 0.1),
                      pattern_probs=(0.15, 0.3, 0.4, 0.15))
    return mesh, app


def _bowl(rng: np.random.Generator) -> tuple[TriMesh, Appearance]:
    """Bowl: outer and inner walls of a lathe profile with a rounded rim and foot.

    Parameters (rim radius 1): height 0.3-0.8; bottom radius 0.25-0.6; wall
    exponent 1-3.5 (conical to round); wall thickness 0.03-0.08; foot ring 0-8 %
    of the height. Metric diagonal 0.12-0.28 m.
    """
    h = _u(rng, 0.3, 0.8)
    rb = _u(rng, 0.25, 0.6)
    p = _u(rng, 1.0, 3.5)
    th = _u(rng, 0.03, 0.08)
    foot = h * _u(rng, 0.0, 0.08)
    t = np.linspace(0.0, 1.0, 14)
    r_out = rb + (1.0 - rb) * (1.0 - (1.0 - t) ** p)
    y_out = foot + (h - foot) * t
    r_in = np.maximum(r_out - th, 0.0)[::-1]
    y_in = (foot + th + (h - foot - th) * t)[::-1]
    prof = [(0.0, foot * 0.5), (rb * 0.85, foot * 0.5), (rb * 0.85, 0.0), (rb, 0.0)]
    prof += list(zip(r_out, y_out)) + [(1.0 - 0.5 * th, h + 0.3 * th)]
    prof += list(zip(r_in, y_in)) + [(0.0, foot + th)]
    n_out = 4 + len(t) + 1
    parts = [PART_BODY] * (n_out - 1) + [PART_TRIM] * (len(prof) - n_out)
    mesh = lathe(np.asarray(prof), parts, _SEGMENTS)
    inner = (0.95, 0.95, 0.93) if rng.random() < 0.5 else _colour(rng, 'bowl')
    app = _appearance(rng, 'bowl', trim=inner, detail=(0.1, 0.1, 0.1),
                      pattern_probs=(0.45, 0.25, 0.1, 0.2))
    return mesh, app


def _mug(rng: np.random.Generator) -> tuple[TriMesh, Appearance]:
    """Mug: walled lathe body plus a swept handle on +X.

    Parameters (bottom radius 1): height/diameter 0.7-1.4; top radius 0.85-1.2;
    barrel bulge -5..+10 %; wall 0.05-0.10; base 0.06-0.15. Handle: attached at
    15-35 % and 65-85 % of the height, reach 0.45-0.9, squareness exponent 0.35-1
    (D-shaped to C-shaped), elliptic section 0.07-0.14 x 0.10-0.20.
    Metric diagonal 0.10-0.18 m.
    """
    H = 2.0 * _u(rng, 0.7, 1.4)
    rt = _u(rng, 0.85, 1.2)
    bulge = _u(rng, -0.05, 0.10)
    th = _u(rng, 0.05, 0.10)
    tb = _u(rng, 0.06, 0.15)
    t = np.linspace(0.0, 1.0, 12)

    def r_outer(s):
        return 1.0 + (rt - 1.0) * s + bulge * np.sin(np.pi * s)

    r_out, y_out = r_outer(t), 0.02 + (H - 0.02) * t
    prof = [(0.0, 0.0), (0.97, 0.0)] + list(zip(r_out, y_out))
    prof += [(rt - 0.5 * th, H + 0.2 * th)]
    r_in = (r_outer(t) - th)[::-1]
    y_in = (tb + (H - tb) * t)[::-1]
    prof += list(zip(r_in, y_in)) + [(0.0, tb)]
    n_out = 2 + len(t) + 1
    parts = [PART_BODY] * (n_out - 1) + [PART_TRIM] * (len(prof) - n_out)
    body = lathe(np.asarray(prof), parts, _SEGMENTS)
    yb, yt = H * _u(rng, 0.15, 0.35), H * _u(rng, 0.65, 0.85)
    reach = _u(rng, 0.45, 0.9)
    e = _u(rng, 0.35, 1.0)
    a, b = _u(rng, 0.07, 0.14), _u(rng, 0.10, 0.20)
    ang = np.linspace(0.5 * np.pi, -0.5 * np.pi, 20)
    yc, ha = 0.5 * (yt + yb), 0.5 * (yt - yb)
    x0 = r_outer(np.array([(yt + yb) / (2 * H)]))[0] - 0.5 * th
    cx, sy = np.cos(ang), np.sin(ang)
    path = np.column_stack([x0 + reach * np.abs(cx) ** e,
                            yc + ha * np.sign(sy) * np.abs(sy) ** e, np.zeros_like(ang)])
    handle = tube(path, (a, b), sides=10, part=PART_HANDLE)
    inner = (0.95, 0.95, 0.93) if rng.random() < 0.6 else _colour(rng, 'mug')
    app = _appearance(rng, 'mug', trim=inner, detail=(0.1, 0.1, 0.1),
                      pattern_probs=(0.4, 0.2, 0.2, 0.2))
    return merge(body, handle), app


def _laptop(rng: np.random.Generator) -> tuple[TriMesh, Appearance]:
    """Laptop: base and screen slabs hinged along X at the back (-Z) edge of the base.

    Parameters (width 1): depth 0.62-0.78; base thickness 0.02-0.05; screen
    thickness 0.01-0.03 and depth 0.88-1.0 x base depth; opening angle 0°
    (closed, 15 % of instances) or 60-135°; keyboard field and display panel as
    dark detail parts. Metric diagonal 0.35-0.55 m.
    """
    W, D = 1.0, _u(rng, 0.62, 0.78)
    tb, ts = _u(rng, 0.02, 0.05), _u(rng, 0.01, 0.03)
    Ds = D * _u(rng, 0.88, 1.0)
    ang = 0.0 if rng.random() < 0.15 else np.deg2rad(_u(rng, 60.0, 135.0))
    kb = 0.003
    base = box((-W / 2, 0.0, -D / 2), (W / 2, tb, D / 2), PART_BODY)
    keys = box((-0.42 * W, tb, -D / 2 + 0.06 * D), (0.42 * W, tb + kb, 0.05 * D), PART_DETAIL)
    # Screen built lying closed on the base (from the hinge toward +Z), then opened.
    shell = box((-W / 2, kb, 0.0), (W / 2, kb + ts, Ds), PART_TRIM)
    panel = box((-0.46 * W, 0.0, 0.04 * Ds), (0.46 * W, kb, 0.94 * Ds), PART_DETAIL)
    screen = merge(shell, panel).transformed(rot_x(-ang), t=(0.0, tb, -D / 2))
    colour = _colour(rng, 'laptop')
    app = _appearance(rng, 'laptop', trim=colour, detail=(0.03, 0.03, 0.035),
                      pattern_probs=(0.7, 0.0, 0.0, 0.3))
    app = Appearance(**{**app.__dict__, 'part_colours': np.stack(
        [colour, colour, colour, app.part_colours[3]]).astype(np.float32)})
    return merge(base, keys, screen), app


def _camera(rng: np.random.Generator) -> tuple[TriMesh, Appearance]:
    """Camera: rounded body, lens barrel toward +Z, optional grip and flash bump.

    Parameters (body width 1): body height 0.5-0.8, depth 0.25-0.6, corner radius
    0.03-0.15; lens of 1-3 stacked rings, radius 0.18-0.36 (each ring 0.85-1.1 x
    the previous), total length 0.08-0.9, horizontal offset -0.1..0.15; grip on -X
    (60 %) 0.15-0.25 wide protruding 0.05-0.25; flash/viewfinder bump (70 %)
    0.2-0.35 wide, 0.08-0.25 high. Metric diagonal 0.11-0.22 m.
    """
    Hb, Db = _u(rng, 0.5, 0.8), _u(rng, 0.25, 0.6)
    body = extrude(rounded_rect(1.0, Hb, _u(rng, 0.03, 0.15)), -Db / 2, Db / 2, PART_BODY)
    parts = [body]
    rl = min(_u(rng, 0.18, 0.36), 0.45 * Hb)
    xo = _u(rng, -0.1, 0.15)
    rings = int(rng.integers(1, 4))
    length = _u(rng, 0.08, 0.9)
    z = Db / 2
    r = rl
    to_z = rot_x(np.pi / 2)
    for k in range(rings):
        seg = length / rings
        prof = [(0.0, 0.0), (r, 0.0), (r, seg), (0.0 if k < rings - 1 else 0.8 * r, seg)]
        parts.append(lathe(np.asarray(prof), PART_TRIM, 32).transformed(
            to_z, t=(xo, 0.0, z)))
        z += seg
        r = min(r * _u(rng, 0.85, 1.1), 0.48 * Hb)
    r_last = r
    glass = [(0.0, 0.0), (0.8 * r_last, 0.0)]
    parts.append(lathe(np.asarray(glass), PART_DETAIL, 32).transformed(
        to_z, t=(xo, 0.0, z - 1e-4)))
    if rng.random() < 0.6:
        gw, gz = _u(rng, 0.15, 0.25), _u(rng, 0.05, 0.25)
        parts.append(box((-0.5, -0.45 * Hb, -0.45 * Db), (-0.5 + gw, 0.4 * Hb, Db / 2 + gz),
                         PART_BODY))
    if rng.random() < 0.7:
        bw, bh = _u(rng, 0.2, 0.35), _u(rng, 0.08, 0.25) * Hb
        bump = np.array([[-bw / 2, 0.0], [bw / 2, 0.0], [0.3 * bw, bh], [-0.3 * bw, bh]])
        parts.append(extrude(bump + (xo, Hb / 2 - 0.01), -0.3 * Db, 0.3 * Db, PART_BODY))
    app = _appearance(rng, 'camera', trim=(0.05, 0.05, 0.05), detail=(0.02, 0.03, 0.06),
                      pattern_probs=(0.6, 0.0, 0.0, 0.4))
    return merge(*parts), app


def _distractor(rng: np.random.Generator) -> tuple[TriMesh, Appearance]:
    """Distractor: a box, sphere, cylinder or random lump (class 0).

    Parameters: box edges 0.2-1 (relative); sphere; cylinder height/diameter 0.3-2;
    lump = sphere with 3 random sinusoidal radial displacements of 5-25 %.
    Metric diagonal 0.05-0.25 m.
    """
    kind = int(rng.integers(4))
    if kind == 0:
        e = rng.uniform(0.2, 1.0, 3)
        mesh = box(-e / 2, e / 2)
    elif kind == 2:
        h = 2.0 * _u(rng, 0.3, 2.0)
        mesh = lathe(np.array([(0.0, 0.0), (1.0, 0.0), (1.0, h), (0.0, h)]), PART_BODY, 32)
    else:
        a = np.linspace(0.0, np.pi, 16)
        prof = np.column_stack([np.sin(a), -np.cos(a)])
        mesh = lathe(prof, PART_BODY, 24)
        if kind == 3:
            v = mesh.vertices
            d = rng.normal(size=(3, 3)) * 2.0
            disp = 1.0 + sum(_u(rng, 0.05, 0.25) * np.sin(v @ d[k] + _u(rng, 0, 6.28))
                             for k in range(3))
            mesh = TriMesh(v * disp[:, None], mesh.faces, mesh.parts)
    app = _appearance(rng, 'distractor', trim=_colour(rng, 'distractor'), detail=(0.1,) * 3,
                      pattern_probs=(0.4, 0.3, 0.0, 0.3),
                      label_axis=rng.normal(size=3) / np.sqrt(3))
    return mesh, app


_GENERATORS = {'bottle': _bottle, 'bowl': _bowl, 'camera': _camera, 'can': _can,
               'laptop': _laptop, 'mug': _mug}


def _finish(category: str, class_id: int, seed: int, mesh: TriMesh, app: Appearance,
            rng: np.random.Generator) -> ShapeInstance:
    unit, size = normalise_to_unit_diagonal(mesh)
    lo, hi = SCALE_RANGES[category]
    # gloss from its own stream, so geometry and colours do not depend on it
    gloss = np.random.default_rng([class_id, seed, 7])
    lo_s, hi_s = _SPECULAR.get(category, (0.0, 0.2))
    app = dataclasses.replace(app, specular=_u(gloss, lo_s, hi_s),
                              shininess=_u(gloss, 8.0, 80.0))
    hull = ConvexHull(unit.vertices)
    normals = hull.equations[:, :3] / np.linalg.norm(hull.equations[:, :3], axis=1,
                                                     keepdims=True)
    return ShapeInstance(category=category, class_id=class_id, seed=seed, mesh=unit,
                         size=size, scale=_u(rng, lo, hi), appearance=app,
                         hull_normals=normals, model_id=f'{category}_{seed}',
                         vertex_normals=vertex_normals(unit))


@functools.lru_cache(maxsize=512)
def make_shape(category: str, seed: int) -> ShapeInstance:
    """Build (and cache) the instance ``seed`` of a category.

    Args:
        category: one of CATEGORIES.
        seed: instance seed >= 0; the same seed always gives the same instance.

    Raises:
        ValueError: for an unknown category or a negative seed.
    """
    if category not in _GENERATORS:
        raise ValueError(f'unknown category {category!r}; expected one of {", ".join(CATEGORIES)}')
    if int(seed) < 0:
        raise ValueError(f'instance seed must be >= 0; got {seed}')
    rng = np.random.default_rng([category_id(category), int(seed)])
    mesh, app = _GENERATORS[category](rng)
    return _finish(category, category_id(category), int(seed), mesh, app, rng)


@functools.lru_cache(maxsize=256)
def make_distractor(seed: int) -> ShapeInstance:
    """Build (and cache) distractor instance ``seed`` (class id 0)."""
    if int(seed) < 0:
        raise ValueError(f'instance seed must be >= 0; got {seed}')
    rng = np.random.default_rng([0, int(seed)])
    mesh, app = _distractor(rng)
    return _finish('distractor', 0, int(seed), mesh, app, rng)
