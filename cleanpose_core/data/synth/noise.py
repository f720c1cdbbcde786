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

"""Depth sensor noise of a structured-light / active-stereo camera.

Depth z and disparity d are tied by ``d = f * b / z`` (focal length f in pixels,
baseline b). The model perturbs the disparity, so the depth error grows with
z squared:

- Gaussian disparity noise (per pixel plus a smooth low-frequency part),
  ``sigma_z ~ z^2 * sigma_d / (f * b)``;
- quantisation of the disparity to sub-pixel steps;
- missing data at depth discontinuities (edges), at grazing angles between the
  surface normal and the viewing ray, on dark (low albedo) surfaces, random
  speckle, and outside the working range.

``DepthNoise(enabled=False)`` returns the depth unchanged (exactness tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

__all__ = ['DepthNoise', 'add_depth_noise']


@dataclass(frozen=True)
class DepthNoise:
    """Parameters of the depth noise model.

    Attributes:
        enabled: False returns the clean depth.
        baseline_m: stereo / projector baseline, metres.
        disparity_sigma_px: per-pixel disparity noise, pixels (0.04-0.12 typical).
        lowfreq_ratio: smooth noise sigma relative to disparity_sigma_px.
        disparity_step_px: disparity quantisation step, pixels (0 = off).
        edge_jump: relative depth jump |dz|/z between neighbours that marks an edge.
        edge_width_px: edge band dilation, pixels.
        edge_dropout: probability of losing an edge pixel.
        grazing_start_deg, grazing_full_deg: incidence angles where the dropout
            probability starts rising from 0 and reaches 1 (linear in the cosine).
        dark_luma: albedo luma below which pixels may be lost.
        dark_dropout: dropout probability of a black surface (linear up to dark_luma).
        speckle: probability of a random missing pixel.
        min_depth_m, max_depth_m: working range; depth outside it is missing.
    """

    enabled: bool = True
    baseline_m: float = 0.05
    disparity_sigma_px: float = 0.07
    lowfreq_ratio: float = 0.5
    disparity_step_px: float = 1.0 / 12.0
    edge_jump: float = 0.04
    edge_width_px: int = 1
    edge_dropout: float = 0.6
    grazing_start_deg: float = 72.0
    grazing_full_deg: float = 87.0
    dark_luma: float = 0.1
    dark_dropout: float = 0.6
    speckle: float = 0.002
    min_depth_m: float = 0.15
    max_depth_m: float = 4.0

    def __post_init__(self) -> None:
        if self.baseline_m <= 0.0:
            raise ValueError(f'baseline_m must be > 0; got {self.baseline_m}')
        if self.disparity_sigma_px < 0.0 or self.disparity_step_px < 0.0:
            raise ValueError('disparity_sigma_px and disparity_step_px must be >= 0')
        if not self.grazing_start_deg < self.grazing_full_deg <= 90.0:
            raise ValueError('need grazing_start_deg < grazing_full_deg <= 90')

    def depth_sigma(self, z: np.ndarray, focal_px: float) -> np.ndarray:
        """Return the depth standard deviation at depth z (metres) of the Gaussian part."""
        total = self.disparity_sigma_px * np.sqrt(1.0 + self.lowfreq_ratio ** 2)
        return np.asarray(z) ** 2 * total / (focal_px * self.baseline_m)


def _edges(depth: np.ndarray, valid: np.ndarray, jump: float, width: int) -> np.ndarray:
    """Pixels within ``width`` (+1) pixels of a relative depth jump larger than ``jump``.

    A missing neighbour counts as a jump, so holes grow by the band too.
    """
    z = np.where(valid, depth, np.float32(0.0)).astype(np.float32)
    kernel = np.ones((2 * width + 3, 2 * width + 3), np.uint8)
    z_max = cv2.dilate(z, kernel)
    z_min = cv2.erode(z, kernel)
    return (z_max - z_min) > np.float32(jump) * z_min


def add_depth_noise(depth: np.ndarray, cos_incidence: np.ndarray, albedo_luma: np.ndarray,
                    focal_px: float, rng: np.random.Generator,
                    params: DepthNoise = DepthNoise(),
                    gauss: Optional[np.ndarray] = None) -> np.ndarray:
    """Apply the sensor model to a clean z-depth image.

    Args:
        depth: (H, W) float32 clean z-depth, metres; 0 = no surface.
        cos_incidence: (H, W) |cos| of the angle between surface normal and viewing ray.
        albedo_luma: (H, W) surface albedo luma in [0, 1].
        focal_px: focal length of the depth camera, pixels.
        rng: random generator.
        params: the noise parameters.
        gauss: optional (H, W) standard normal samples to use for the per-pixel
            disparity noise instead of drawing them from ``rng`` (faster).

    Returns:
        (H, W) float32 noisy depth, metres; 0 marks missing data.

    Raises:
        ValueError: if the three images differ in shape.
    """
    if depth.ndim != 2 or cos_incidence.shape != depth.shape or albedo_luma.shape != depth.shape:
        raise ValueError(f'depth {depth.shape}, cos_incidence {cos_incidence.shape} and '
                         f'albedo_luma {albedo_luma.shape} must be the same (H, W)')
    if not params.enabled:
        return depth.astype(np.float32, copy=True)
    H, W = depth.shape
    valid = depth > 0.0
    fb = focal_px * params.baseline_m
    disp = np.where(valid, np.float32(fb) / np.maximum(depth, np.float32(1e-6)), np.float32(0))
    sigma = params.disparity_sigma_px
    if sigma > 0.0:
        if gauss is None:
            gauss = rng.standard_normal((H, W), dtype=np.float32)
        elif gauss.shape != depth.shape:
            raise ValueError(f'gauss {gauss.shape} must have the shape of depth {depth.shape}')
        disp += gauss * np.float32(sigma)
        low = rng.standard_normal((max(H // 16, 2), max(W // 16, 2)), dtype=np.float32)
        low *= np.float32(sigma * params.lowfreq_ratio)
        disp += cv2.resize(low, (W, H), interpolation=cv2.INTER_CUBIC)
    if params.disparity_step_px > 0.0:
        step = np.float32(params.disparity_step_px)
        disp = np.round(disp / step) * step
    noisy = np.where(valid & (disp > 0.0), np.float32(fb) / np.maximum(disp, np.float32(1e-6)),
                     np.float32(0))
    edges = _edges(depth, valid, params.edge_jump, params.edge_width_px)
    drop = np.float32(params.edge_dropout) * edges
    c0 = np.float32(np.cos(np.deg2rad(params.grazing_start_deg)))
    c1 = np.float32(np.cos(np.deg2rad(params.grazing_full_deg)))
    drop = np.maximum(drop, np.clip((c0 - cos_incidence) / (c0 - c1), 0.0, 1.0))
    if params.dark_luma > 0.0:
        dark = np.clip(1.0 - albedo_luma / np.float32(params.dark_luma), 0.0, 1.0)
        drop = np.maximum(drop, dark * np.float32(params.dark_dropout))
    drop = np.maximum(drop, np.float32(params.speckle))
    lost = rng.random((H, W), dtype=np.float32) < drop
    out = ~lost & (noisy >= params.min_depth_m) & (noisy <= params.max_depth_m)
    return np.where(out, noisy, 0.0).astype(np.float32)
