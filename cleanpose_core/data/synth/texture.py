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

"""Procedural textures: stripes, labels and smooth noise evaluated on texture coordinates.

Objects use their canonical (NOCS) coordinates as texture coordinates, so the texture
moves with the object; background surfaces use world coordinates.
"""

from __future__ import annotations

import numpy as np

from cleanpose_core.data.synth.appearance import Appearance

__all__ = ['linear', 'texture_factors', 'texture_albedo']


def linear(a: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Return a @ M in float32 for (N, 3) a and (3, k) or (3,) M."""
    return a @ np.asarray(M, np.float32)


def texture_factors(app: Appearance, tex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate the pattern of an appearance (on its pattern parts) at texture coordinates.

    Args:
        app: the appearance.
        tex: (N, 3) float32 texture coordinates (canonical or world frame).

    Returns:
        (N,) float32 weight of colour2 in [0, 1] and (N,) float32 brightness factor.
    """
    mix = np.zeros(len(tex), np.float32)
    if app.pattern == 'stripes':
        s = linear(tex, app.axis * np.float32(app.freq))
        mix[(s - np.floor(s)) < 0.5] = 1.0
    elif app.pattern == 'label':
        s = linear(tex, app.axis)
        fine = (s * np.float32(app.freq * 4.0)) % 1.0 < 0.12
        mix[(s > app.band[0]) & (s < app.band[1]) & ~fine] = 1.0
    if app.noise_amp > 0.0:
        w = np.sin(linear(tex, app.noise_dirs.T) + app.noise_phase)
        mult = np.float32(1.0) + (w[:, 0] + w[:, 1] + w[:, 2]) * np.float32(app.noise_amp / 3.0)
    else:
        mult = np.ones(len(tex), np.float32)
    return mix, mult


def texture_albedo(app: Appearance, tex: np.ndarray, parts: np.ndarray) -> np.ndarray:
    """Evaluate an appearance at texture coordinates.

    Args:
        app: the appearance.
        tex: (N, 3) float32 texture coordinates (canonical or world frame).
        parts: (N,) uint8 part ids.

    Returns:
        (N, 3) float32 albedo in [0, 1].
    """
    rgb = app.part_colours[parts]
    lut = np.zeros(256, np.float32)
    lut[list(app.pattern_parts)] = 1.0
    mix, mult = texture_factors(app, tex)
    mix *= lut[parts]
    rgb += mix[:, None] * (app.colour2 - rgb)
    rgb *= mult[:, None]
    return np.clip(rgb, 0.0, 1.0, out=rgb)
