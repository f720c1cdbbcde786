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


"""Reading one frame of the NOCS results layout (the pickles of the NOCS evaluation code)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

__all__ = ['ResultFrame', 'read_result_frame']


def _array(result: Mapping[str, Any], key: str, tail: tuple, frame: int,
           dtype: type = np.float64) -> np.ndarray:
    if key not in result:
        raise ValueError(f'results[{frame}] has no {key!r}; NOCS results need pred_class_ids, '
                         'pred_scores, pred_RTs, pred_scales, gt_class_ids, gt_RTs, gt_scales')
    arr = np.asarray(result[key], dtype=dtype)
    if arr.size == 0:
        arr = arr.reshape((0,) + tail)
    if arr.ndim != 1 + len(tail) or arr.shape[1:] != tail:
        want = '(N' + ''.join(f', {d}' for d in tail) + ')'
        raise ValueError(f'results[{frame}][{key!r}] must have shape {want}; got {arr.shape}')
    return arr


def _split_rt(RTs: np.ndarray, key: str, frame: int) -> tuple:
    """Split (N, 4, 4) s*R|t matrices into R (N, 3, 3), s (N,), t (N, 3)."""
    sR = RTs[:, :3, :3]
    det = np.linalg.det(sR) if len(sR) else np.zeros(0)
    if np.any(~(det > 0)):
        bad = int(np.flatnonzero(~(det > 0))[0])
        raise ValueError(f'results[{frame}][{key!r}][{bad}]: the top-left 3x3 must be s*R with '
                         f's > 0 and R a rotation; got determinant {det[bad]:.3g}')
    s = np.cbrt(det)
    return sR / s[:, None, None], s, RTs[:, :3, 3]


@dataclass(frozen=True)
class ResultFrame:
    """One frame of NOCS results, validated and split into R, s, t (prediction and truth)."""

    pred_ids: np.ndarray
    scores: np.ndarray
    pred_R: np.ndarray
    pred_s: np.ndarray
    pred_t: np.ndarray
    pred_size: np.ndarray
    gt_ids: np.ndarray
    gt_R: np.ndarray
    gt_s: np.ndarray
    gt_t: np.ndarray
    gt_size: np.ndarray
    handle: np.ndarray


def read_result_frame(result: Mapping[str, Any], k: int) -> ResultFrame:
    """Validate results[k] (NOCS results layout) and read it.

    Raises:
        TypeError: not a mapping. ValueError: missing key, bad shape, row counts that
            disagree, or a pose whose 3x3 part is not s*R with s > 0.
    """
    if not isinstance(result, Mapping):
        raise TypeError(f'results[{k}] must be a dict in the NOCS results layout; '
                        f'got {type(result).__name__}')
    pred_ids = _array(result, 'pred_class_ids', (), k, np.int64)
    scores = _array(result, 'pred_scores', (), k)
    pred_RTs = _array(result, 'pred_RTs', (4, 4), k)
    pred_size = _array(result, 'pred_scales', (3,), k)
    gt_ids = _array(result, 'gt_class_ids', (), k, np.int64)
    gt_RTs = _array(result, 'gt_RTs', (4, 4), k)
    gt_size = _array(result, 'gt_scales', (3,), k)
    if 'gt_handle_visibility' in result:
        handle = _array(result, 'gt_handle_visibility', (), k, np.int64)
    else:
        handle = np.ones(len(gt_ids), dtype=np.int64)
    for name, n_pred in (('pred_scores', len(scores)), ('pred_RTs', len(pred_RTs)),
                         ('pred_scales', len(pred_size))):
        if n_pred != len(pred_ids):
            raise ValueError(f'results[{k}][{name!r}] has {n_pred} rows but pred_class_ids has '
                             f'{len(pred_ids)}')
    for name, n_gt in (('gt_RTs', len(gt_RTs)), ('gt_scales', len(gt_size)),
                       ('gt_handle_visibility', len(handle))):
        if n_gt != len(gt_ids):
            raise ValueError(f'results[{k}][{name!r}] has {n_gt} rows but gt_class_ids has '
                             f'{len(gt_ids)}')
    pred_R, pred_s, pred_t = _split_rt(pred_RTs, 'pred_RTs', k)
    gt_R, gt_s, gt_t = _split_rt(gt_RTs, 'gt_RTs', k)
    return ResultFrame(pred_ids, scores, pred_R, pred_s, pred_t, pred_size,
                       gt_ids, gt_R, gt_s, gt_t, gt_size, handle)
