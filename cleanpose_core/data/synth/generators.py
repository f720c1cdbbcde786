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

"""Procedural generators: one per NOCS category plus the class-0 distractors.

Each generator draws its parameters from ``rng`` and returns a mesh in the NOCS
canonical frame of DESIGN.md (+Y up; mug handle toward +X; laptop hinge along X,
screen rising on the -Z side, front edge +Z; camera lens toward +Z), at an
arbitrary size (:func:`shapes.make_shape` centres it and scales it to unit
diagonal), plus the instance's :class:`Appearance`. Parameters and ranges are
listed in each generator's docstring (and in README.md).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from cleanpose_core.data.synth.appearance import (
    Appearance, random_appearance, random_colour, uniform)
from cleanpose_core.data.synth.primitives import (
    box, extrude, lathe, merge, PART_BODY, PART_DETAIL, PART_HANDLE, PART_TRIM, rot_x,
    rounded_rect, TriMesh, tube)

__all__ = ['GENERATORS', 'generate_distractor']

_SEGMENTS = 40


def _bottle(rng: np.random.Generator) -> tuple[TriMesh, Appearance]:
    """Bottle: lathe profile with body, shoulder, neck and cap.

    Parameters (body radius 1): height/diameter 2.2-4.5; body 45-70 % of the height
    with a waist or bulge of -8..+8 % of the radius at a random height; shoulder
    8-22 % of the height with a superellipse exponent 0.7-3 (concave to round);
    neck radius 0.18-0.45; cap 4-10 % of the height, radius 1.0-1.3 x neck; base
    bevel 2-10 %. Metric diagonal 0.18-0.36 m.
    """
    R = 1.0
    H = 2.0 * R * uniform(rng, 2.2, 4.5)
    hb, hs = H * uniform(rng, 0.45, 0.70), H * uniform(rng, 0.08, 0.22)
    rn = R * uniform(rng, 0.18, 0.45)
    hc = H * uniform(rng, 0.04, 0.10)
    rc = rn * uniform(rng, 1.0, 1.3)
    bev = R * uniform(rng, 0.02, 0.10)
    waist, wy = uniform(rng, -0.08, 0.08), uniform(rng, 0.3, 0.7)
    p = uniform(rng, 0.7, 3.0)
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
    app = random_appearance(rng, 'bottle', trim=random_colour(rng, 'can'), detail=(0.1, 0.1, 0.1),
                            pattern_probs=(0.3, 0.15, 0.45, 0.1))
    return mesh, app


def _can(rng: np.random.Generator, ends: str = 'lid') -> tuple[TriMesh, Appearance]:
    """Can: cylinder with tapered neck, recessed lid and optional ribs.

    Parameters (radius 1): height/diameter 0.8-2.3; neck taper to 82-97 % of the
    radius over 3-12 % of the height; lid recess 2-6 %; bottom bevel 5-15 %;
    ribs (35 % of cans) 3-12 ribs of 0.5-2 % radius. Metric diagonal 0.10-0.20 m.
    Ends: 'lid' (the default) gives the lid the metal trim colour, the bottom the
    body's; 'varied' gives half the cans both ends in metal (a drink can), a quarter only
    the lid, a quarter neither (a painted can), so the colour of an end does not tell
    the top from the bottom (the same geometry and colours as 'lid' otherwise).
    """
    R = 1.0
    H = 2.0 * R * uniform(rng, 0.8, 2.3)
    rt = R * uniform(rng, 0.82, 0.97)
    ht = H * uniform(rng, 0.03, 0.12)
    rec = R * uniform(rng, 0.02, 0.06)
    bev = R * uniform(rng, 0.05, 0.15)
    ys = np.linspace(bev, H - ht, 16)
    r = np.full_like(ys, R)
    if rng.random() < 0.35:
        r = r + R * uniform(rng, 0.005, 0.02) * np.sin(2 * np.pi * rng.integers(3, 13) * ys / H)
    prof = [(0.0, 0.3 * bev), (R - bev, 0.0)] + list(zip(r, ys))
    prof += [(rt, H), (rt * 0.94, H), (rt * 0.92, H - rec), (0.0, H - rec)]
    n = len(prof)
    parts = [PART_BODY] * (n - 4) + [PART_TRIM] * 3
    mesh = lathe(np.asarray(prof), parts, _SEGMENTS)
    app = random_appearance(rng, 'can', trim=(0.75, 0.75, 0.78), detail=(0.1, 0.1, 0.1),
                            pattern_probs=(0.15, 0.3, 0.4, 0.15))
    if ends == 'lid':
        return mesh, app
    draw = rng.random()                   # drawn last: the geometry above stays the same
    if draw < 0.5:                        # both ends metal: the bottom and its bevel too
        bottom = mesh.vertices[mesh.faces][:, :, 1].max(axis=1) <= bev + 1e-9
        mesh = TriMesh(mesh.vertices, mesh.faces,
                       np.where(bottom, PART_TRIM, mesh.parts).astype(np.uint8))
    elif draw >= 0.75:                    # no metal ends: the lid in the body colour
        colours = app.part_colours.copy()
        colours[PART_TRIM] = colours[PART_BODY]
        app = dataclasses.replace(app, part_colours=colours)
    return mesh, app


def _bowl(rng: np.random.Generator) -> tuple[TriMesh, Appearance]:
    """Bowl: outer and inner walls of a lathe profile with a rounded rim and foot.

    Parameters (rim radius 1): height 0.3-0.8; bottom radius 0.25-0.6; wall
    exponent 1-3.5 (conical to round); wall thickness 0.03-0.08; foot ring 0-8 %
    of the height. Metric diagonal 0.12-0.28 m.
    """
    h = uniform(rng, 0.3, 0.8)
    rb = uniform(rng, 0.25, 0.6)
    p = uniform(rng, 1.0, 3.5)
    th = uniform(rng, 0.03, 0.08)
    foot = h * uniform(rng, 0.0, 0.08)
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
    inner = (0.95, 0.95, 0.93) if rng.random() < 0.5 else random_colour(rng, 'bowl')
    app = random_appearance(rng, 'bowl', trim=inner, detail=(0.1, 0.1, 0.1),
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
    H = 2.0 * uniform(rng, 0.7, 1.4)
    rt = uniform(rng, 0.85, 1.2)
    bulge = uniform(rng, -0.05, 0.10)
    th = uniform(rng, 0.05, 0.10)
    tb = uniform(rng, 0.06, 0.15)
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
    yb, yt = H * uniform(rng, 0.15, 0.35), H * uniform(rng, 0.65, 0.85)
    reach = uniform(rng, 0.45, 0.9)
    e = uniform(rng, 0.35, 1.0)
    a, b = uniform(rng, 0.07, 0.14), uniform(rng, 0.10, 0.20)
    ang = np.linspace(0.5 * np.pi, -0.5 * np.pi, 20)
    yc, ha = 0.5 * (yt + yb), 0.5 * (yt - yb)
    x0 = r_outer(np.array([(yt + yb) / (2 * H)]))[0] - 0.5 * th
    cx, sy = np.cos(ang), np.sin(ang)
    path = np.column_stack([x0 + reach * np.abs(cx) ** e,
                            yc + ha * np.sign(sy) * np.abs(sy) ** e, np.zeros_like(ang)])
    handle = tube(path, (a, b), sides=10, part=PART_HANDLE)
    inner = (0.95, 0.95, 0.93) if rng.random() < 0.6 else random_colour(rng, 'mug')
    app = random_appearance(rng, 'mug', trim=inner, detail=(0.1, 0.1, 0.1),
                            pattern_probs=(0.4, 0.2, 0.2, 0.2))
    return merge(body, handle), app


def _laptop(rng: np.random.Generator) -> tuple[TriMesh, Appearance]:
    """Laptop: base and screen slabs hinged along X at the back (-Z) edge of the base.

    Parameters (width 1): depth 0.62-0.78; base thickness 0.02-0.05; screen
    thickness 0.01-0.03 and depth 0.88-1.0 x base depth; opening angle 0°
    (closed, 15 % of instances) or 60-135°; keyboard field and display panel as
    dark detail parts. Metric diagonal 0.35-0.55 m.
    """
    W, D = 1.0, uniform(rng, 0.62, 0.78)
    tb, ts = uniform(rng, 0.02, 0.05), uniform(rng, 0.01, 0.03)
    Ds = D * uniform(rng, 0.88, 1.0)
    ang = 0.0 if rng.random() < 0.15 else np.deg2rad(uniform(rng, 60.0, 135.0))
    kb = 0.003
    base = box((-W / 2, 0.0, -D / 2), (W / 2, tb, D / 2), PART_BODY)
    keys = box((-0.42 * W, tb, -D / 2 + 0.06 * D), (0.42 * W, tb + kb, 0.05 * D), PART_DETAIL)
    # Screen built lying closed on the base (from the hinge toward +Z), then opened.
    shell = box((-W / 2, kb, 0.0), (W / 2, kb + ts, Ds), PART_TRIM)
    panel = box((-0.46 * W, 0.0, 0.04 * Ds), (0.46 * W, kb, 0.94 * Ds), PART_DETAIL)
    screen = merge(shell, panel).transformed(rot_x(-ang), t=(0.0, tb, -D / 2))
    colour = random_colour(rng, 'laptop')
    app = random_appearance(rng, 'laptop', trim=colour, detail=(0.03, 0.03, 0.035),
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
    Hb, Db = uniform(rng, 0.5, 0.8), uniform(rng, 0.25, 0.6)
    body = extrude(rounded_rect(1.0, Hb, uniform(rng, 0.03, 0.15)), -Db / 2, Db / 2, PART_BODY)
    parts = [body]
    rl = min(uniform(rng, 0.18, 0.36), 0.45 * Hb)
    xo = uniform(rng, -0.1, 0.15)
    rings = int(rng.integers(1, 4))
    length = uniform(rng, 0.08, 0.9)
    z = Db / 2
    r = rl
    to_z = rot_x(np.pi / 2)
    for k in range(rings):
        seg = length / rings
        prof = [(0.0, 0.0), (r, 0.0), (r, seg), (0.0 if k < rings - 1 else 0.8 * r, seg)]
        parts.append(lathe(np.asarray(prof), PART_TRIM, 32).transformed(
            to_z, t=(xo, 0.0, z)))
        z += seg
        r = min(r * uniform(rng, 0.85, 1.1), 0.48 * Hb)
    r_last = r
    glass = [(0.0, 0.0), (0.8 * r_last, 0.0)]
    parts.append(lathe(np.asarray(glass), PART_DETAIL, 32).transformed(
        to_z, t=(xo, 0.0, z - 1e-4)))
    if rng.random() < 0.6:
        gw, gz = uniform(rng, 0.15, 0.25), uniform(rng, 0.05, 0.25)
        parts.append(box((-0.5, -0.45 * Hb, -0.45 * Db), (-0.5 + gw, 0.4 * Hb, Db / 2 + gz),
                         PART_BODY))
    if rng.random() < 0.7:
        bw, bh = uniform(rng, 0.2, 0.35), uniform(rng, 0.08, 0.25) * Hb
        bump = np.array([[-bw / 2, 0.0], [bw / 2, 0.0], [0.3 * bw, bh], [-0.3 * bw, bh]])
        parts.append(extrude(bump + (xo, Hb / 2 - 0.01), -0.3 * Db, 0.3 * Db, PART_BODY))
    app = random_appearance(rng, 'camera', trim=(0.05, 0.05, 0.05), detail=(0.02, 0.03, 0.06),
                            pattern_probs=(0.6, 0.0, 0.0, 0.4))
    return merge(*parts), app


def generate_distractor(rng: np.random.Generator) -> tuple[TriMesh, Appearance]:
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
        h = 2.0 * uniform(rng, 0.3, 2.0)
        mesh = lathe(np.array([(0.0, 0.0), (1.0, 0.0), (1.0, h), (0.0, h)]), PART_BODY, 32)
    else:
        a = np.linspace(0.0, np.pi, 16)
        prof = np.column_stack([np.sin(a), -np.cos(a)])
        mesh = lathe(prof, PART_BODY, 24)
        if kind == 3:
            v = mesh.vertices
            d = rng.normal(size=(3, 3)) * 2.0
            disp = 1.0 + sum(uniform(rng, 0.05, 0.25) * np.sin(v @ d[k] + uniform(rng, 0, 6.28))
                             for k in range(3))
            mesh = TriMesh(v * disp[:, None], mesh.faces, mesh.parts)
    app = random_appearance(rng, 'distractor', trim=random_colour(rng, 'distractor'),
                            detail=(0.1,) * 3, pattern_probs=(0.4, 0.3, 0.0, 0.3),
                            label_axis=rng.normal(size=3) / np.sqrt(3))
    return mesh, app


# category name -> generator; each draws the geometry, then the appearance, from rng
GENERATORS = {'bottle': _bottle, 'bowl': _bowl, 'camera': _camera, 'can': _can,
              'laptop': _laptop, 'mug': _mug}
