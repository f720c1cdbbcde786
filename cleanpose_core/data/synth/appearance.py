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

"""Instance appearance: the :class:`Appearance` record and its random draws.

Colours come from a small palette per category, jittered in brightness and hue;
the texture pattern, its second colour, stripe frequency, label band and smooth
noise are drawn with them. The shape generators call :func:`random_appearance`
once per instance, after the geometry, from the same random stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cleanpose_core.data.synth.primitives import PART_BODY

__all__ = ['Appearance', 'random_appearance', 'random_colour', 'uniform']

_PATTERNS = ('plain', 'stripes', 'label', 'noise')


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


def uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """Draw one float uniformly from [lo, hi)."""
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


def random_colour(rng: np.random.Generator, category: str) -> np.ndarray:
    """Draw a jittered palette colour of a category: (3,) float64 in [0.02, 1]."""
    pal = _PALETTES[category]
    base = np.asarray(pal[rng.integers(len(pal))], np.float64)
    return np.clip(base * rng.uniform(0.8, 1.15) + rng.normal(0.0, 0.04, 3), 0.02, 1.0)


def random_appearance(rng: np.random.Generator, category: str, trim, detail, pattern_probs,
                      label_axis=(0.0, 1.0, 0.0)) -> Appearance:
    """Draw the colours and texture of one instance.

    Args:
        rng: the instance's random stream.
        category: category name or 'distractor' (selects the palette).
        trim: (3,) colour of the trim part.
        detail: (3,) colour of the detail part.
        pattern_probs: (4,) probabilities of 'plain', 'stripes', 'label', 'noise'.
        label_axis: (3,) direction the pattern varies along.

    Returns:
        The appearance; body and handle share the body colour.
    """
    body = random_colour(rng, category)
    colours = np.stack([body, np.asarray(trim, np.float64), body,
                        np.asarray(detail, np.float64)]).astype(np.float32)
    pattern = _PATTERNS[rng.choice(len(_PATTERNS), p=pattern_probs)]
    lo = uniform(rng, -0.35, 0.0)
    dirs = rng.normal(size=(3, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    return Appearance(
        part_colours=colours, pattern=pattern,
        colour2=rng.uniform(0.05, 1.0, 3).astype(np.float32),
        axis=np.asarray(label_axis, np.float32), freq=uniform(rng, 4.0, 20.0),
        band=(lo, lo + uniform(rng, 0.15, 0.45)), noise_amp=uniform(rng, 0.0, 0.25),
        noise_dirs=(dirs * rng.uniform(3.0, 15.0, (3, 1))).astype(np.float32),
        noise_phase=rng.uniform(0, 2 * np.pi, 3).astype(np.float32))
