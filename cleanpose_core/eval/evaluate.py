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

"""Score a pose predictor on a NOCS-layout split the way the NOCS benchmark does.

``evaluate(predict_frame, split)`` asks a predictor for the poses of each frame,
adds the frame's ground truth, writes one pickle per frame in the NOCS results
layout (``predictions/<scene>/<NNNN>.pkl``), and scores all frames with
``eval.metrics.compute_nocs_metrics``. A predictor is any callable
``predict_frame(record) -> dict`` returning the ``pred_*`` fields of the NOCS results
layout (build it with ``make_prediction``) plus ``skipped`` (reason -> count).
Training's periodic evaluation and ``cleanpose eval`` call this same function.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
import logging
from pathlib import Path
import pickle
import time
from typing import Any, Callable, Optional

import numpy as np
import torch

from cleanpose_core.categories import CATEGORIES, NUM_CATEGORIES
from cleanpose_core.config import PipelineConfig
from cleanpose_core.data.dataset import gt_batch, gt_results_fields
from cleanpose_core.data.nocs import FrameRecord, NocsSplit
from cleanpose_core.errors import DataError
from cleanpose_core.eval.metrics import compute_nocs_metrics, METRIC_KEYS, per_instance_errors
from cleanpose_core.fileio import atomic_path, atomic_write_json
from cleanpose_core.geometry.resting import apply_box_priors, fit_frame_plane
from cleanpose_core.log import progress

__all__ = ['evaluate', 'EvalSummary', 'PredictFrame', 'make_prediction', 'empty_prediction',
           'network_predictor', 'select_frames', 'write_pickle', 'frame_seed',
           'orthonormalize_rts',
           'METRIC_KEYS', 'PRED_KEYS', 'GT_KEYS']

log = logging.getLogger(__name__)

PRED_KEYS = ('pred_class_ids', 'pred_scores', 'pred_RTs', 'pred_scales', 'pred_bboxes')
GT_KEYS = ('gt_class_ids', 'gt_RTs', 'gt_scales', 'gt_handle_visibility', 'gt_bboxes')

PredictFrame = Callable[[FrameRecord], dict]


def _similarity_matrices(R: np.ndarray, t: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """(N, 4, 4) NOCS RTs: top-left s*R (object -> camera), last column t (metres)."""
    n = len(R)
    RTs = np.zeros((n, 4, 4), dtype=np.float64)
    RTs[:, :3, :3] = np.asarray(R, dtype=np.float64) * np.asarray(scales,
                                                                  dtype=np.float64)[:, None, None]
    RTs[:, :3, 3] = t
    RTs[:, 3, 3] = 1.0
    return RTs


def orthonormalize_rts(RTs: np.ndarray) -> np.ndarray:
    """Project the rotation part of (N, 4, 4) s*R | t matrices onto SO(3), keeping s and t.

    Labels and network outputs hold float32 rotations (orthonormal to ~1e-7); scoring
    uses exact box intersections, which such residuals can upset, so the rotations are
    cleaned first (polar decomposition; the change is below float32 precision).
    """
    out = np.array(RTs, dtype=np.float64, copy=True)
    if len(out) == 0:
        return out
    M = out[:, :3, :3]
    s = np.cbrt(np.linalg.det(M))
    U, _, Vt = np.linalg.svd(M / np.where(np.abs(s) > 0, s, 1.0)[:, None, None])
    R = U @ Vt
    flip = np.linalg.det(R) < 0
    U[flip, :, -1] *= -1
    R = U @ Vt
    out[:, :3, :3] = R * s[:, None, None]
    return out


def make_prediction(category_ids: Any, scores: Any, R_cam_obj: Any, t_cam_obj: Any,
                    scales: Any, sizes: Any, bboxes: Any,
                    skipped: Optional[dict] = None, gt_index: Any = None) -> dict:
    """Pack N poses into the pred_* fields of the NOCS results layout.

    Args:
        category_ids: (N,) NOCS class ids 1..6.
        scores: (N,) confidences in [0, 1].
        R_cam_obj: (N, 3, 3) rotations, object -> camera.
        t_cam_obj: (N, 3) box centres, metres, camera frame.
        scales: (N,) metric bounding-box diagonals, metres.
        sizes: (N, 3) normalised extents (diagonal 1).
        bboxes: (N, 4) 2D boxes [y1, x1, y2, x2], pixels.
        skipped: reason -> number of instances the predictor dropped.
        gt_index: (N,) ground-truth row each prediction was made for (ground-truth
            masks), or None; lets per-instance errors pair them without guessing.

    Returns:
        dict with pred_class_ids (N,) int32, pred_scores (N,) float32, pred_RTs (N, 4, 4),
        pred_scales (N, 3), pred_bboxes (N, 4) int32, skipped, and pred_gt_index (N,)
        int64 when gt_index is given.

    Raises:
        ValueError: arrays of inconsistent lengths or shapes.
    """
    ids = np.asarray(category_ids, dtype=np.int64).reshape(-1)
    n = len(ids)
    arrays = {'scores': (np.asarray(scores, dtype=np.float64).reshape(-1), (n,)),
              'R_cam_obj': (np.asarray(R_cam_obj, dtype=np.float64).reshape(-1, 3, 3), (n, 3, 3)),
              't_cam_obj': (np.asarray(t_cam_obj, dtype=np.float64).reshape(-1, 3), (n, 3)),
              'scales': (np.asarray(scales, dtype=np.float64).reshape(-1), (n,)),
              'sizes': (np.asarray(sizes, dtype=np.float64).reshape(-1, 3), (n, 3)),
              'bboxes': (np.asarray(bboxes, dtype=np.float64).reshape(-1, 4), (n, 4))}
    for name, (value, shape) in arrays.items():
        if value.shape != shape:
            raise ValueError(f'{name} must have shape {shape} for {n} category ids; '
                             f'got {value.shape}')
    if n and (ids.min() < 1 or ids.max() > NUM_CATEGORIES):
        raise ValueError(f'category_ids must be in 1..{NUM_CATEGORIES}; got '
                         f'{sorted(set(ids.tolist()))}')
    out = {
        'pred_class_ids': ids.astype(np.int32),
        'pred_scores': arrays['scores'][0].astype(np.float32),
        'pred_RTs': _similarity_matrices(arrays['R_cam_obj'][0], arrays['t_cam_obj'][0],
                                         arrays['scales'][0]),
        'pred_scales': arrays['sizes'][0].copy(),
        'pred_bboxes': np.rint(arrays['bboxes'][0]).astype(np.int32),
        'skipped': dict(skipped or {}),
    }
    if gt_index is not None:
        index = np.asarray(gt_index, dtype=np.int64).reshape(-1)
        if index.shape != (n,):
            raise ValueError(f'gt_index must have shape ({n},); got {index.shape}')
        out['pred_gt_index'] = index
    return out


def empty_prediction(skipped: Optional[dict] = None) -> dict:
    """The pred_* fields of a frame without predictions."""
    return make_prediction(np.zeros(0), np.zeros(0), np.zeros((0, 3, 3)), np.zeros((0, 3)),
                           np.zeros(0), np.zeros((0, 3)), np.zeros((0, 4)), skipped)


def select_frames(num_frames: int, max_frames: int = 0) -> list[int]:
    """Indices of the frames to score: all, or max_frames spread evenly over the split."""
    if max_frames <= 0 or max_frames >= num_frames:
        return list(range(num_frames))
    return sorted(set(np.linspace(0, num_frames - 1, max_frames).round().astype(int).tolist()))


def write_pickle(path: Path, value: dict) -> None:
    """Pickle a dict of numpy arrays atomically (protocol 4, readable by the NOCS tools)."""
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        pickle.dump(value, f, protocol=4)


@dataclass(frozen=True)
class EvalSummary:
    """What evaluate() measured.

    Attributes:
        metrics: the seven mAP values in percent (keys METRIC_KEYS), mean over categories.
        per_category: category name -> the same keys (categories without ground truth
            are left out).
        frames: frames scored.
        instances: ground-truth instances in those frames.
        predictions: predictions made.
        skipped: reason -> instances (or frames, for 'unreadable_frame') not predicted.
        errors: per-category summary of the per-instance errors (rotation degrees,
            translation centimetres, 3D IoU) of predictions matched to ground truth.
        info: caller facts copied into summary.json (weights, masks, method, ...).
        seconds_per_frame: mean prediction time per frame.
        out_dir: where files went, or None.
        plots: PNG files of the AP curves.
    """

    metrics: dict
    per_category: dict
    frames: int
    instances: int
    predictions: int
    skipped: dict
    errors: dict
    info: dict = field(default_factory=dict)
    seconds_per_frame: float = 0.0
    out_dir: Optional[Path] = None
    plots: tuple = ()

    def to_dict(self) -> dict:
        """The summary.json content."""
        return {'metrics': self.metrics, 'per_category': self.per_category,
                'frames': self.frames, 'instances': self.instances,
                'predictions': self.predictions, 'skipped': self.skipped,
                **self.info, 'seconds_per_frame': round(self.seconds_per_frame, 5),
                'errors': self.errors, 'plots': [str(p) for p in self.plots]}


def _float_dict(values: dict) -> dict:
    return {k: round(float(values[k]), 4) for k in METRIC_KEYS if k in values}


def _summarise_errors(results: list[dict]) -> dict:
    """Median/mean rotation error, translation error and IoU per category."""
    errors = per_instance_errors(results)
    by_cat: dict = {}
    for row in errors:
        by_cat.setdefault(CATEGORIES[int(row['class_id']) - 1], []).append(row)
    out = {}
    for name in CATEGORIES:
        rows = by_cat.get(name)
        if not rows:
            continue
        rot = np.array([r['rot_deg'] for r in rows], dtype=np.float64)
        trans = np.array([r['trans_cm'] for r in rows], dtype=np.float64)
        iou = np.array([r['iou'] for r in rows], dtype=np.float64)
        out[name] = {'count': len(rows),
                     'rot_deg_median': round(float(np.median(rot)), 3),
                     'rot_deg_mean': round(float(np.mean(rot)), 3),
                     'trans_cm_median': round(float(np.median(trans)), 3),
                     'trans_cm_mean': round(float(np.mean(trans)), 3),
                     'iou_median': round(float(np.median(iou)), 4),
                     'iou_mean': round(float(np.mean(iou)), 4)}
    return out


def evaluate(predict_frame: PredictFrame, split: NocsSplit, out_dir: Optional[str | Path] = None,
             max_frames: int = 0, info: Optional[dict] = None,
             show_progress: bool = False, plots: bool = True) -> EvalSummary:
    """Predict and score the frames of a split.

    Args:
        predict_frame: record -> dict with the pred_* fields (see make_prediction) and
            optionally 'skipped' (reason -> count).
        split: the frames to score.
        out_dir: where predictions/<scene>/<NNNN>.pkl, summary.json and the AP plots go;
            None writes nothing.
        max_frames: score at most this many frames, spread evenly; 0 = all.
        info: facts added to summary.json (e.g. weights, masks, method).
        show_progress: tqdm bar (CLI only).
        plots: write the AP curve plots (only with out_dir).

    Returns:
        The EvalSummary; with out_dir, also written as out_dir/summary.json.

    Raises:
        DataError: the split has no frames.
    """
    if len(split) == 0:
        raise DataError(f'{split.split_dir}: no complete frames to evaluate (each frame needs '
                        '_color.png, _depth.png, _mask.png, _meta.txt and _label.pkl)')
    out = Path(out_dir) if out_dir is not None else None
    indices = select_frames(len(split), max_frames)
    results: list[dict] = []
    skipped: dict = {}
    instances = predictions = 0
    predict_s = 0.0
    for i in progress(indices, desc='eval', disable=not show_progress or None):
        scene, index = split.frames[i]
        try:
            record = split[i]
        except DataError as err:
            log.warning('skipping unreadable frame %s/%04d: %s', scene, index, err)
            skipped['unreadable_frame'] = skipped.get('unreadable_frame', 0) + 1
            continue
        start = time.perf_counter()
        pred = predict_frame(record)
        predict_s += time.perf_counter() - start
        for reason, count in (pred.get('skipped') or {}).items():
            skipped[reason] = skipped.get(reason, 0) + int(count)
        result = {k: pred[k] for k in PRED_KEYS + ('pred_gt_index',) if k in pred}
        result.update(gt_results_fields(record))
        result['image_path'] = f'{scene}/{index:04d}'
        results.append({**result, 'pred_RTs': orthonormalize_rts(result['pred_RTs']),
                        'gt_RTs': orthonormalize_rts(result['gt_RTs'])})
        instances += len(record)
        predictions += len(result['pred_class_ids'])
        if out is not None:
            write_pickle(out / 'predictions' / scene / f'{index:04d}.pkl', result)
    scored = compute_nocs_metrics(results)
    per_category = {name: _float_dict(values) for name, values in scored.per_category.items()}
    summary = EvalSummary(metrics=_float_dict(scored.metrics), per_category=per_category,
                          frames=len(results), instances=instances, predictions=predictions,
                          skipped=dict(sorted(skipped.items())), errors=_summarise_errors(results),
                          info=dict(info or {}),
                          seconds_per_frame=predict_s / max(len(results), 1), out_dir=out)
    if out is not None:
        png = ()
        if plots:
            from cleanpose_core.eval.plots import plot_ap_curves

            png = tuple(plot_ap_curves(scored, out))
        summary = dataclasses.replace(summary, plots=png)
        atomic_write_json(out / 'summary.json', summary.to_dict())
    log.info('eval: %d frames, %d instances, %d predictions; IoU50 %.1f IoU75 %.1f 5°2cm %.1f '
             '10°5cm %.1f', summary.frames, instances, predictions,
             summary.metrics.get('iou50', 0.0), summary.metrics.get('iou75', 0.0),
             summary.metrics.get('5deg2cm', 0.0), summary.metrics.get('10deg5cm', 0.0))
    return summary


def frame_seed(seed: int, scene: str, index: int) -> int:
    """A per-frame seed from (seed, scene, index) that is the same in every process."""
    value = int(seed) % (2 ** 31 - 1)
    for ch in f'{scene}/{int(index)}'.encode():
        value = (value * 131 + ch) % (2 ** 31 - 1)
    return value


def network_predictor(net: torch.nn.Module, device: str | torch.device = 'cpu',
                      seed: int = 0, priors: Optional[PipelineConfig] = None) -> PredictFrame:
    """Predict with a CleanPoseNet from ground-truth masks: one batched call per frame.

    Each labelled instance (class 1..6) goes through data.dataset.gt_batch (the same
    preprocessing as training and the pipeline); instances it refuses are counted by
    reason and get no prediction. Every prediction scores 1.0. The point sampling of a
    frame is seeded from (seed, scene, index), so repeated evaluations agree.

    Args:
        net: a CleanPoseNet.
        device: where the network runs.
        seed: seed of the per-frame point sampling.
        priors: the pipeline's table priors to apply, as the pipeline does
            (geometry.resting.apply_box_priors with its upright_snap, footprint_yaw,
            table_contact, top_trim and right_side_up; the table plane fitted around the frame's
            labelled masks); None or upright_snap 0 = none.
    """
    cfg = net.cfg
    device = torch.device(device)

    def predict_frame(record: FrameRecord) -> dict:
        batch = gt_batch(record, cfg.num_points, cfg.crop_size,
                         seed=frame_seed(seed, record.scene, record.index))
        if len(batch.gt_index) == 0:
            return empty_prediction(batch.skipped)
        out = net.predict(batch.inputs.to(device))
        idx = batch.gt_index
        R = out.R_cam_obj.double().cpu().numpy()
        t = out.t_cam_obj.double().cpu().numpy()
        scales, sizes = out.scales.double().cpu().numpy(), out.sizes.double().cpu().numpy()
        if priors is not None and priors.upright_snap > 0:
            masks = [record.mask == i for i in record.instance_ids]
            plane = fit_frame_plane(record.depth, record.K, masks, np.random.default_rng(seed))
            R, t, scales, sizes = apply_box_priors(
                R, t, scales, sizes, batch.inputs.points.double().cpu().numpy(),
                record.class_ids[idx], plane, priors)
        return make_prediction(record.class_ids[idx], np.ones(len(idx)), R, t, scales, sizes,
                               record.bboxes[idx], batch.skipped, gt_index=idx)

    return predict_frame
