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

"""Analytic ray hits and texture of the background rectangles (table top, floor, walls).

The background is a handful of axis-aligned rectangles (:class:`scene.Surface`), so
rays are intersected with them in closed form instead of by the ray caster. Rays are
given as world-frame directions ``dW`` (3, N) from the camera centre ``t_wc``, scaled
so that the hit parameter ``t`` is the z-depth. Their textures vary slowly and are
evaluated on a coarse pixel grid that the renderer upsamples.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from cleanpose_core.data.synth.scene import Surface
from cleanpose_core.data.synth.texture import texture_factors

__all__ = ['BG_STEP', 'background_factors', 'intersect_background', 'intersect_room',
           'is_room_layout']

BG_STEP = 4   # background textures are evaluated on every BG_STEP-th pixel


def is_room_layout(surfaces: Sequence[Surface]) -> bool:
    """Tell whether the surfaces are scene.make_scene's table + floor + 4 walls room."""
    names = tuple((s.name, s.axis, tuple(s.normal)) for s in surfaces)
    return names == (
        ('table', 1, (0.0, 1.0, 0.0)), ('floor', 1, (0.0, 1.0, 0.0)),
        ('wall0', 0, (1.0, 0.0, 0.0)), ('wall1', 0, (-1.0, 0.0, 0.0)),
        ('wall2', 2, (0.0, 0.0, 1.0)), ('wall3', 2, (0.0, 0.0, -1.0)))


def intersect_background(surfaces: Sequence[Surface], dW: np.ndarray, t_wc: np.ndarray,
                         room_layout: bool) -> tuple:
    """Intersect rays with the background rectangles.

    Args:
        surfaces: the scene's background rectangles.
        dW: (3, N) float32 world-frame ray directions (unit z in the camera frame).
        t_wc: (3,) camera position in the world, metres.
        room_layout: True if ``surfaces`` pass :func:`is_room_layout`; enables the
            fast path while the camera is inside the room.

    Returns:
        (t (N,) float32 z-depth of the nearest hit, inf on a miss; surface index
        (N,) int16, -1 on a miss).
    """
    walls = surfaces[2:] if room_layout else ()
    inside = room_layout and (
        walls[0].value < t_wc[0] < walls[1].value and walls[2].value < t_wc[2] < walls[3].value
        and surfaces[0].value < t_wc[1] < walls[0].hi[1])
    if inside:
        return intersect_room(surfaces, dW, t_wc)
    inf = np.float32(np.inf)
    best_t = np.full(dW.shape[1], inf, np.float32)
    best_s = np.full(dW.shape[1], -1, np.int16)
    o = t_wc.astype(np.float32)
    with np.errstate(divide='ignore', invalid='ignore'):
        for k, s in enumerate(surfaces):
            d_ax = dW[s.axis]
            facing = d_ax * np.float32(s.normal[s.axis]) < 0
            t = np.where(facing, (np.float32(s.value) - o[s.axis]) / d_ax, inf)
            for b in range(3):
                if b == s.axis:
                    continue
                coord = o[b] + t * dW[b]
                t = np.where((coord >= s.lo[b]) & (coord <= s.hi[b]), t, inf)
            closer = t < best_t
            best_t = np.where(closer, t, best_t)
            best_s[closer] = k
    return best_t, best_s


def intersect_room(surfaces: Sequence[Surface], dW: np.ndarray, t_wc: np.ndarray) -> tuple:
    """Fast path of :func:`intersect_background` for a camera inside the room.

    The camera is inside the room, so a ray leaves it through the nearer of the
    two walls it faces (or the floor); a downward ray hits the table top first
    where it crosses the table rectangle. Arguments and result as there.
    """
    table, floor, wx0, wx1, wz0, wz1 = surfaces
    o = t_wc.astype(np.float32)
    dx, dy, dz = dW
    inf = np.float32(np.inf)
    f32 = np.float32
    with np.errstate(divide='ignore', invalid='ignore'):
        px, pz = dx > 0, dz > 0
        tx = (np.where(px, f32(wx1.value), f32(wx0.value)) - o[0]) / dx
        tz = (np.where(pz, f32(wz1.value), f32(wz0.value)) - o[2]) / dz
        use_x = tx <= tz
        t = np.where(use_x, tx, tz)
        s = np.where(use_x, px.astype(np.int16) + 2, pz.astype(np.int16) + 4)
        down = dy < 0
        t_floor = (f32(floor.value) - o[1]) / dy
        on_floor = down & (t_floor < t)
        t = np.where(on_floor, t_floor, t)
        s[on_floor] = 1
        above = (o[1] + t * dy) > f32(wx0.hi[1])
        t[above] = inf
        s[above] = -1
        t_tab = (f32(table.value) - o[1]) / dy
        x = o[0] + t_tab * dx
        zz = o[2] + t_tab * dz
        on_tab = (down & (x >= f32(table.lo[0])) & (x <= f32(table.hi[0]))
                  & (zz >= f32(table.lo[2])) & (zz <= f32(table.hi[2])))
        t = np.where(on_tab, t_tab, t)
        s[on_tab] = 0
    return t.astype(np.float32), s


def background_factors(surfaces: Sequence[Surface], z: np.ndarray, sid: np.ndarray,
                       dW: np.ndarray, t_wc: np.ndarray, width: int, height: int) -> tuple:
    """Pattern weight and brightness of the background on a grid of every 4th pixel.

    Args:
        surfaces: the scene's background rectangles.
        z: (H * W,) float32 z-depth of the hits, metres.
        sid: (H * W,) surface index per pixel, -1 where no surface is hit.
        dW: (3, H * W) float32 world-frame ray directions.
        t_wc: (3,) camera position in the world, metres.
        width, height: image size, pixels.

    Returns:
        (mix, mult): (ceil(H / 4), ceil(W / 4)) float32 weight of the second colour
        and brightness factor, sampled at the pixels (4i, 4j).
    """
    rows, cols = np.arange(0, height, BG_STEP), np.arange(0, width, BG_STEP)
    sub = (rows[:, None] * width + cols[None, :]).ravel()
    mix = np.zeros(len(sub), np.float32)
    mult = np.ones(len(sub), np.float32)
    s_sub = sid[sub]
    o32 = t_wc.astype(np.float32)
    for k, s in enumerate(surfaces):
        sel = np.flatnonzero(s_sub == k)
        if len(sel) and (s.appearance.pattern != 'plain' or s.appearance.noise_amp > 0):
            px = sub[sel]
            tex = np.ascontiguousarray((o32[:, None] + z[px] * dW[:, px]).T)
            mix[sel], mult[sel] = texture_factors(s.appearance, tex)
    # place the samples on the full-resolution pixel grid for cv2.resize
    shape = (len(rows), len(cols))
    return mix.reshape(shape), mult.reshape(shape)
