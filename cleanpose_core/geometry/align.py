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

"""Least-squares similarity alignment of corresponding point sets (Umeyama 1991)."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from cleanpose_core.geometry.checks import check_shapes
from cleanpose_core.geometry.transforms import Similarity

__all__ = ['Similarity', 'umeyama']


def umeyama(src: Tensor, dst: Tensor, weights: Optional[Tensor] = None,
            with_scale: bool = True) -> Similarity:
    """Find s, R, t minimising sum_i w_i |dst_i - (s R src_i + t)|^2.

    Umeyama, "Least-squares estimation of transformation parameters between two
    point patterns", TPAMI 1991: the SVD of the weighted cross-covariance, with
    the sign correction that keeps R a proper rotation when the best orthogonal
    fit would be a reflection (det R = +1 always).

    Args:
        src: (..., N, 3) source points (e.g. canonical NOCS coordinates).
        dst: (..., N, 3) corresponding target points (e.g. camera frame, metres).
        weights: optional (..., N) non-negative weights; uniform when None.
        with_scale: estimate s; when False s = 1 (a rigid fit).

    Returns:
        Similarity(s (...,), R (..., 3, 3), t (..., 3)) with dst ≈ s * R @ src + t.
        Degenerate input (all source points equal, or zero total weight) gives s = 0
        only through division guards; callers check N and weights beforehand.

    Raises:
        ValueError: if the shapes disagree, N < 3, or a weight is negative.
    """
    check_shapes(src=(src, ('...', 'N', 3)), dst=(dst, ('...', 'N', 3)))
    if src.shape != dst.shape:
        raise ValueError(f'src and dst must have the same shape; got {tuple(src.shape)} '
                         f'and {tuple(dst.shape)}')
    n = src.shape[-2]
    if n < 3:
        raise ValueError(f'umeyama needs N >= 3 corresponding points; got N={n}')
    if weights is None:
        w = torch.ones(src.shape[:-1], dtype=src.dtype, device=src.device)
    else:
        check_shapes(weights=(weights, src.shape[:-1]))
        if weights.numel() and bool((weights < 0).any()):
            raise ValueError('weights must be non-negative')
        w = weights.to(src.dtype)
    tiny = torch.finfo(src.dtype).tiny
    w = w / w.sum(-1, keepdim=True).clamp_min(tiny)
    mu_src = (w[..., None] * src).sum(-2)
    mu_dst = (w[..., None] * dst).sum(-2)
    xs = src - mu_src[..., None, :]
    xd = dst - mu_dst[..., None, :]
    cov = (xd * w[..., None]).transpose(-1, -2) @ xs  # (..., 3, 3) = sum w (dst)(src)^T
    var_src = (w * (xs * xs).sum(-1)).sum(-1)
    U, D, Vh = torch.linalg.svd(cov)
    sign = torch.sign(torch.linalg.det(U) * torch.linalg.det(Vh))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    S = torch.ones(sign.shape + (3,), dtype=src.dtype, device=src.device)
    S[..., 2] = sign
    R = (U * S[..., None, :]) @ Vh
    if with_scale:
        s = (D * S).sum(-1) / var_src.clamp_min(tiny)
    else:
        s = torch.ones_like(var_src)
    t = mu_dst - s[..., None] * (R @ mu_src[..., None])[..., 0]
    return Similarity(s, R, t)
