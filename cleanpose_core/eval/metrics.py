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

"""NOCS-benchmark metrics: 3D IoU and (degree, cm) average precision per category.

Follows ``compute_degree_cm_mAP`` of the NOCS code (Wang et al., CVPR 2019) step by step:

1. Per frame and category, predictions are sorted by score and greedily matched to the
   ground truth of the same class, once per IoU threshold: each prediction takes the
   free ground truth of highest IoU, provided IoU > threshold (a ground truth below the
   threshold ends the search).
2. Pose matching uses only the pairs matched at IoU > 0.1 (``iou_pose_thres=0.1``,
   ``use_matches_for_pose=True``): unmatched predictions and ground truths are dropped
   from the pose evaluation. Among those, each prediction (by score) takes the free ground
   truth of smallest (degree + cm) error that is within both thresholds.
3. AP per category pools all frames: predictions sorted by score, the VOC precision
   envelope, integrated over the recall steps (recall padded with 0 and 1).
4. mAP is the mean over the categories that have ground truth, in percent.

Thresholds as in NOCS: IoU 0..1 in 0.01 steps; rotation 0..60 degrees in 1-degree steps
plus 360; translation 0..15 cm in 0.5 cm steps plus 100 cm. The rotation curve holds
translation at 100 cm and the translation curve holds rotation at 360 degrees, as NOCS
plots them. Errors: rotation is the geodesic angle (the angle between the Y axes for
bottle, bowl, can, and mugs whose handle is not visible); translation is the distance
of the box centres in cm.

Two deliberate departures, both more exact than the original: the 3D IoU is the exact
IoU of the oriented boxes (NOCS takes axis-aligned boxes around the transformed corners),
and for symmetric instances it is the best over SYMMETRY_STEPS = 20 turns of the
prediction about its Y axis (i * 2 pi / 20, as NOCS) plus the turn that best aligns the
prediction with the ground truth, so a box turned by any angle about Y scores IoU 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import logging
from typing import Any, Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from cleanpose_core.categories import CATEGORIES, NUM_CATEGORIES, SYMMETRIC_CATEGORIES
from cleanpose_core.eval.results_layout import read_result_frame, ResultFrame
from cleanpose_core.geometry.boxes import oriented_box_iou

log = logging.getLogger(__name__)

__all__ = [
    'DEGREE_THRESHOLDS', 'IOU_POSE_THRESHOLD', 'IOU_THRESHOLDS', 'METRIC_KEYS', 'NocsCurves',
    'NocsMetrics', 'SHIFT_THRESHOLDS_CM', 'SYMMETRY_STEPS', 'average_precision',
    'compute_nocs_metrics', 'is_symmetric', 'pair_iou', 'pose_errors', 'per_instance_errors',
]

IOU_THRESHOLDS = np.round(np.linspace(0.0, 1.0, 101), 2)
DEGREE_THRESHOLDS = np.concatenate((np.arange(61, dtype=np.float64), [360.0]))
SHIFT_THRESHOLDS_CM = np.concatenate((np.linspace(0.0, 15.0, 31), [100.0]))
IOU_POSE_THRESHOLD = 0.1
SYMMETRY_STEPS = 20
METRIC_KEYS = ('iou25', 'iou50', 'iou75', '5deg2cm', '5deg5cm', '10deg2cm', '10deg5cm')
_IOU_KEYS = {'iou25': 0.25, 'iou50': 0.50, 'iou75': 0.75}
_POSE_KEYS = {'5deg2cm': (5.0, 2.0), '5deg5cm': (5.0, 5.0), '10deg2cm': (10.0, 2.0),
              '10deg5cm': (10.0, 5.0)}
_MUG_ID = CATEGORIES.index('mug') + 1
_SYM_IDS = frozenset(CATEGORIES.index(c) + 1 for c in SYMMETRIC_CATEGORIES)
# Pose threshold pairs evaluated: the rotation curve, the translation curve, the reported ones.
_POSE_DEG = np.concatenate((DEGREE_THRESHOLDS, np.full(len(SHIFT_THRESHOLDS_CM), 360.0),
                            [d for d, _ in _POSE_KEYS.values()]))
_POSE_CM = np.concatenate((np.full(len(DEGREE_THRESHOLDS), 100.0), SHIFT_THRESHOLDS_CM,
                           [c for _, c in _POSE_KEYS.values()]))


@dataclass(frozen=True)
class NocsCurves:
    """AP curves in percent, keyed by category name and 'mean' (categories with ground truth).

    Attributes:
        iou_thresholds: (101,) IoU thresholds 0..1.
        iou_ap: name -> (101,) AP at each IoU threshold.
        degree_thresholds: (61,) rotation thresholds 0..60 degrees.
        degree_ap: name -> (61,) AP at each rotation threshold, translation within 100 cm.
        shift_thresholds_cm: (31,) translation thresholds 0..15 cm.
        shift_ap: name -> (31,) AP at each translation threshold, any rotation.
    """

    iou_thresholds: np.ndarray
    iou_ap: dict
    degree_thresholds: np.ndarray
    degree_ap: dict
    shift_thresholds_cm: np.ndarray
    shift_ap: dict


@dataclass(frozen=True)
class NocsMetrics:
    """NOCS-benchmark scores.

    Attributes:
        metrics: METRIC_KEYS -> mAP in percent over the categories with ground truth.
        per_category: category name -> METRIC_KEYS -> AP in percent; only categories
            that have ground truth.
        curves: the AP curves for plotting.
        num_gt: category name -> number of ground-truth instances.
        num_pred: category name -> number of predictions.
    """

    metrics: dict
    per_category: dict
    curves: NocsCurves
    num_gt: dict = field(default_factory=dict)
    num_pred: dict = field(default_factory=dict)


def is_symmetric(class_id: int, handle_visible: int) -> bool:
    """Whether an instance's pose is scored up to turns about Y (NOCS's symmetric set)."""
    return class_id in _SYM_IDS or (class_id == _MUG_ID and handle_visible == 0)


def _rot_y(theta: np.ndarray) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    out = np.zeros(np.shape(theta) + (3, 3))
    out[..., 0, 0] = c
    out[..., 0, 2] = s
    out[..., 1, 1] = 1.0
    out[..., 2, 0] = -s
    out[..., 2, 2] = c
    return out


def pair_iou(R_pred: np.ndarray, t_pred: np.ndarray, extents_pred: np.ndarray,
             R_gt: np.ndarray, t_gt: np.ndarray, extents_gt: np.ndarray,
             symmetric: bool) -> float:
    """Return the 3D IoU of a predicted and a ground-truth box (exact, oriented).

    For symmetric instances the prediction may turn about its own Y axis: the best
    IoU over SYMMETRY_STEPS turns (as NOCS) and the turn best aligning it to R_gt.

    Args:
        R_pred: (3, 3) predicted rotation, object->camera.
        t_pred: (3,) predicted centre, metres.
        extents_pred: (3,) predicted metric extents, metres.
        R_gt: (3, 3) ground-truth rotation.
        t_gt: (3,) ground-truth centre, metres.
        extents_gt: (3,) ground-truth metric extents, metres.
        symmetric: whether the instance is symmetric about Y.

    Returns:
        IoU in [0, 1].
    """
    if not symmetric:
        return oriented_box_iou(R_pred, t_pred, extents_pred, R_gt, t_gt, extents_gt)
    M = R_gt.T @ R_pred
    best = np.arctan2(M[2, 0] - M[0, 2], M[0, 0] + M[2, 2])
    thetas = np.concatenate(([best], 2 * np.pi * np.arange(SYMMETRY_STEPS) / SYMMETRY_STEPS))
    turned = R_pred @ _rot_y(thetas)
    return max(oriented_box_iou(R, t_pred, extents_pred, R_gt, t_gt, extents_gt)
               for R in turned)


def pose_errors(R_pred: np.ndarray, t_pred: np.ndarray, R_gt: np.ndarray, t_gt: np.ndarray,
                symmetric: bool) -> tuple:
    """Return (rotation error in degrees, translation error in cm) of one prediction.

    Args:
        R_pred: (3, 3) predicted rotation, object->camera.
        t_pred: (3,) predicted translation, metres.
        R_gt: (3, 3) ground-truth rotation.
        t_gt: (3,) ground-truth translation, metres.
        symmetric: compare only the Y axes (NOCS rule for symmetric instances).

    Returns:
        (degrees in [0, 180], centimetres).
    """
    # atan2 forms of NOCS's arccos: the same angle, accurate near 0 as well.
    if symmetric:
        y_p, y_g = R_pred[:, 1], R_gt[:, 1]
        cos, sin = float(y_p @ y_g), float(np.linalg.norm(np.cross(y_p, y_g)))
    else:
        R = R_pred @ R_gt.T
        cos = (float(np.trace(R)) - 1.0) / 2.0
        sin = float(np.linalg.norm([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0],
                                    R[1, 0] - R[0, 1]])) / 2.0
    deg = float(np.degrees(np.arctan2(sin, cos)))
    return deg, float(np.linalg.norm(np.asarray(t_pred) - np.asarray(t_gt)) * 100.0)


def _match_iou(overlaps: np.ndarray, thresholds: np.ndarray) -> tuple:
    """Greedy NOCS IoU matching for all thresholds; predictions already in score order."""
    n_pred, n_gt = overlaps.shape
    pred_m = -np.ones((len(thresholds), n_pred), dtype=np.int64)
    gt_m = -np.ones((len(thresholds), n_gt), dtype=np.int64)
    for i in range(n_pred):
        stopped = np.zeros(len(thresholds), dtype=bool)
        for j in np.argsort(-overlaps[i], kind='stable'):
            iou = overlaps[i, j]
            free = ~stopped & (gt_m[:, j] < 0)
            hit = free & (iou > thresholds)
            stopped |= (free & (iou < thresholds)) | hit
            gt_m[hit, j] = i
            pred_m[hit, i] = j
            if stopped.all():
                break
    return pred_m, gt_m


def _match_pose(errors: np.ndarray, deg: np.ndarray, cm: np.ndarray) -> np.ndarray:
    """Greedy NOCS (degree, cm) matching for all threshold pairs; returns pred matches."""
    n_pred, n_gt = errors.shape[:2]
    pred_m = -np.ones((len(deg), n_pred), dtype=np.int64)
    gt_m = -np.ones((len(deg), n_gt), dtype=np.int64)
    for i in range(n_pred):
        done = np.zeros(len(deg), dtype=bool)
        for j in np.argsort(errors[i].sum(-1), kind='stable'):
            ok = ~done & (gt_m[:, j] < 0) & (errors[i, j, 0] <= deg) & (errors[i, j, 1] <= cm)
            gt_m[ok, j] = i
            pred_m[ok, i] = j
            done |= ok
    return pred_m


def average_precision(pred_matched: np.ndarray, scores: np.ndarray, num_gt: int) -> float:
    """Return the VOC-style AP (fraction) of scored predictions, as NOCS computes it.

    Args:
        pred_matched: (N,) bool, True where the prediction is a true positive.
        scores: (N,) confidence of each prediction.
        num_gt: number of ground-truth instances, > 0.

    Returns:
        The area under the precision envelope over the recall steps, in [0, 1].

    Raises:
        ValueError: if num_gt < 1 or the lengths differ.
    """
    pred_matched = np.asarray(pred_matched, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if num_gt < 1:
        raise ValueError(f'num_gt must be >= 1; got {num_gt}')
    if pred_matched.shape != scores.shape or pred_matched.ndim != 1:
        raise ValueError(f'pred_matched {pred_matched.shape} and scores {scores.shape} must be '
                         'equal-length vectors')
    tp = pred_matched[np.argsort(-scores, kind='stable')]
    cum = np.cumsum(tp)
    precision = np.concatenate(([0.0], cum / np.arange(1, len(tp) + 1), [0.0]))
    recall = np.concatenate(([0.0], cum / num_gt, [1.0]))
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[:-1] != recall[1:]) + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


@dataclass
class _Pool:
    """Per-category matches and scores pooled over frames."""

    iou_matched: list = field(default_factory=list)    # (T, n) bool per frame
    iou_scores: list = field(default_factory=list)
    pose_matched: list = field(default_factory=list)   # (C, n) bool per frame
    pose_scores: list = field(default_factory=list)
    num_gt: int = 0
    num_gt_pose: int = 0
    num_pred: int = 0


def _score_category(f: ResultFrame, cid: int, pool: _Pool) -> None:
    p_idx = np.flatnonzero(f.pred_ids == cid)
    g_idx = np.flatnonzero(f.gt_ids == cid)
    pool.num_gt += len(g_idx)
    pool.num_pred += len(p_idx)
    if len(p_idx) == 0:
        return
    p_idx = p_idx[np.argsort(-f.scores[p_idx], kind='stable')]
    scores = f.scores[p_idx]
    handle = f.handle[g_idx] if cid == _MUG_ID else np.ones(len(g_idx), dtype=np.int64)
    sym = [is_symmetric(cid, int(h)) for h in handle]
    overlaps = np.zeros((len(p_idx), len(g_idx)))
    for a, i in enumerate(p_idx):
        for b, j in enumerate(g_idx):
            overlaps[a, b] = pair_iou(f.pred_R[i], f.pred_t[i], f.pred_s[i] * f.pred_size[i],
                                      f.gt_R[j], f.gt_t[j], f.gt_s[j] * f.gt_size[j], sym[b])
    pred_m, gt_m = _match_iou(overlaps, IOU_THRESHOLDS)
    pool.iou_matched.append(pred_m > -1)
    pool.iou_scores.append(scores)
    # NOCS use_matches_for_pose: only pairs matched at IoU > 0.1 enter the pose metrics.
    k = int(np.flatnonzero(np.isclose(IOU_THRESHOLDS, IOU_POSE_THRESHOLD))[0])
    keep_p = np.flatnonzero(pred_m[k] > -1)
    keep_g = np.flatnonzero(gt_m[k] > -1)
    pool.num_gt_pose += len(keep_g)
    errors = np.zeros((len(keep_p), len(keep_g), 2))
    for a, pa in enumerate(keep_p):
        i = p_idx[pa]
        for b, gb in enumerate(keep_g):
            j = g_idx[gb]
            errors[a, b] = pose_errors(f.pred_R[i], f.pred_t[i], f.gt_R[j], f.gt_t[j], sym[gb])
    pool.pose_matched.append(_match_pose(errors, _POSE_DEG, _POSE_CM) > -1)
    pool.pose_scores.append(scores[keep_p])


def _aps(matched: list, scores: list, num_gt: int, rows: int) -> np.ndarray:
    """AP in percent for each threshold row; 0 when nothing was matchable."""
    if num_gt == 0:
        return np.zeros(rows)
    m = np.concatenate(matched, axis=1) if matched else np.zeros((rows, 0), dtype=bool)
    s = np.concatenate(scores) if scores else np.zeros(0)
    return np.array([100.0 * average_precision(m[r], s, num_gt) for r in range(rows)])


def compute_nocs_metrics(results: Sequence[Mapping[str, Any]]) -> NocsMetrics:
    """Score predictions against ground truth with the NOCS benchmark protocol.

    Args:
        results: one dict per frame in the NOCS results layout (numpy arrays):
            pred_class_ids (N,) 1..6, pred_scores (N,), pred_RTs (N, 4, 4) with s*R
            top-left and t (metres) in the last column, pred_scales (N, 3) normalised
            extents; gt_class_ids (M,), gt_RTs (M, 4, 4), gt_scales (M, 3), and optional
            gt_handle_visibility (M,) (mugs; 0 = handle hidden, default visible).
            Class ids outside 1..6 are ignored.

    Returns:
        NocsMetrics with the mAP values, per-category AP and the AP curves, in percent.

    Raises:
        ValueError: naming the frame and key of a missing or malformed array.
        TypeError: if a frame is not a mapping.
    """
    pools = {cid: _Pool() for cid in range(1, NUM_CATEGORIES + 1)}
    for k, result in enumerate(results):
        frame = read_result_frame(result, k)
        for cid, pool in pools.items():
            _score_category(frame, cid, pool)
    n_iou, n_pose = len(IOU_THRESHOLDS), len(_POSE_DEG)
    n_deg, n_cm = len(DEGREE_THRESHOLDS), len(SHIFT_THRESHOLDS_CM)
    per_category, iou_ap, degree_ap, shift_ap = {}, {}, {}, {}
    for cid, pool in pools.items():
        if pool.num_gt == 0:
            continue
        name = CATEGORIES[cid - 1]
        iou = _aps(pool.iou_matched, pool.iou_scores, pool.num_gt, n_iou)
        pose = _aps(pool.pose_matched, pool.pose_scores, pool.num_gt_pose, n_pose)
        iou_ap[name] = iou
        degree_ap[name] = pose[:n_deg - 1]               # translation held at 100 cm
        shift_ap[name] = pose[n_deg:n_deg + n_cm - 1]    # rotation held at 360 degrees
        row = {key: float(iou[np.flatnonzero(np.isclose(IOU_THRESHOLDS, thr))[0]])
               for key, thr in _IOU_KEYS.items()}
        for r, key in enumerate(_POSE_KEYS):
            row[key] = float(pose[n_deg + n_cm + r])
        per_category[name] = row
    if per_category:
        metrics = {key: float(np.mean([row[key] for row in per_category.values()]))
                   for key in METRIC_KEYS}
        for curves in (iou_ap, degree_ap, shift_ap):
            curves['mean'] = np.mean(list(curves.values()), axis=0)
    else:
        log.warning('compute_nocs_metrics: no ground-truth instance of %s in %d frames; '
                    'all mAP values are 0', '/'.join(CATEGORIES), len(results))
        metrics = {key: 0.0 for key in METRIC_KEYS}
    curves = NocsCurves(IOU_THRESHOLDS.copy(), iou_ap, DEGREE_THRESHOLDS[:-1].copy(), degree_ap,
                        SHIFT_THRESHOLDS_CM[:-1].copy(), shift_ap)
    return NocsMetrics(metrics=metrics, per_category=per_category, curves=curves,
                       num_gt={CATEGORIES[c - 1]: p.num_gt for c, p in pools.items()},
                       num_pred={CATEGORIES[c - 1]: p.num_pred for c, p in pools.items()})


def _pair_frame(f: ResultFrame, result: Mapping[str, Any]) -> list:
    """Return (pred index, gt index) pairs: one prediction per ground-truth instance."""
    if 'pred_gt_index' in result:
        idx = np.asarray(result['pred_gt_index'], dtype=np.int64).reshape(-1)
        return [(i, int(j)) for i, j in enumerate(idx)
                if 0 <= j < len(f.gt_ids) and f.gt_ids[j] == f.pred_ids[i]]
    pairs = []
    for cid in np.unique(f.gt_ids):
        p_idx = np.flatnonzero(f.pred_ids == cid)
        g_idx = np.flatnonzero(f.gt_ids == cid)
        if len(p_idx) == 0:
            continue
        cost = np.linalg.norm(f.pred_t[p_idx, None] - f.gt_t[None, g_idx], axis=-1)
        rows, cols = linear_sum_assignment(cost)
        pairs += [(int(p_idx[r]), int(g_idx[c])) for r, c in zip(rows, cols)]
    return sorted(pairs, key=lambda p: p[1])


def per_instance_errors(results: Sequence[Mapping[str, Any]]) -> list:
    """Return the pose errors of each ground-truth instance and its one prediction.

    Pairing per frame: by ``pred_gt_index`` (N,) (ground-truth row of each
    prediction, -1 for none) when the frame has it; else one-to-one within each class
    by least total centre distance (Hungarian). Ground truth without a prediction
    gets no row.

    Args:
        results: frames in the NOCS results layout (see compute_nocs_metrics).

    Returns:
        One dict per pair: frame (index into results), gt_index, pred_index,
        class_id, symmetric (bool), rot_deg, trans_cm, iou.

    Raises:
        ValueError: naming the frame and key of a malformed array.
    """
    rows = []
    for k, result in enumerate(results):
        f = read_result_frame(result, k)
        for i, j in _pair_frame(f, result):
            cid = int(f.gt_ids[j])
            sym = is_symmetric(cid, int(f.handle[j]) if cid == _MUG_ID else 1)
            rot, trans = pose_errors(f.pred_R[i], f.pred_t[i], f.gt_R[j], f.gt_t[j], sym)
            iou = pair_iou(f.pred_R[i], f.pred_t[i], f.pred_s[i] * f.pred_size[i],
                           f.gt_R[j], f.gt_t[j], f.gt_s[j] * f.gt_size[j], sym)
            rows.append({'frame': k, 'gt_index': j, 'pred_index': i, 'class_id': cid,
                         'symmetric': sym, 'rot_deg': rot, 'trans_cm': trans, 'iou': iou})
    return rows
