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

"""From an RGB-D frame to tracked poses: segment -> instances -> network -> track.

``PosePipeline(frame) -> FrameResult``: numpy on the CPU at both ends, torch inside,
no file I/O. A bad frame (sizes that differ, wrong dtypes, no valid depth, bad
intrinsics) gives an empty result with the reason counted in ``skipped``; it never
raises. Each stage is timed into ``timings_ms``.
"""

from __future__ import annotations

from dataclasses import replace
import logging
from pathlib import Path
import time
from typing import Any, Optional

import numpy as np
import torch

from cleanpose_core.categories import category_id
from cleanpose_core.config import DEFAULT_CLASS_REFINER, DEFAULT_SEGMENTER, DEFAULT_WEIGHTS, \
    PipelineConfig, resolve_device
from cleanpose_core.data.instances import extract_instance, stack_instances
from cleanpose_core.errors import ConfigError, WeightsError
from cleanpose_core.geometry.masks import mask_box
from cleanpose_core.geometry.resting import (
    apply_box_priors, fit_frame_plane)
from cleanpose_core.model.traced import traced_or_eager
from cleanpose_core.model.weights import load_weights
from cleanpose_core.pipeline.class_refiner import ClassRefiner, load_class_refiner, \
    refine_frame
from cleanpose_core.pipeline.results import Frame, FrameResult
from cleanpose_core.pipeline.segmenter import (Detection2D, Segmentation, Segmenter,
                                               YoloSegmenter)
from cleanpose_core.pipeline.table import clear_table
from cleanpose_core.pipeline.tracker import Tracker

__all__ = ['PosePipeline', 'check_frame', 'STAGES', 'RUNTIME_KEYS']

log = logging.getLogger(__name__)

STAGES = ('segment', 'instances', 'network', 'track', 'total')
# PipelineConfig keys that update_config may change while running.
RUNTIME_KEYS = ('min_score', 'segmenter_conf', 'categories', 'min_points', 'max_instances',
                'track', 'smoothing', 'track_max_distance', 'track_max_missed',
                'table_clearance', 'depth_gap', 'upright_snap', 'footprint_yaw',
                'table_contact', 'top_trim', 'side_trim', 'fit_score')
DUPLICATE_MASK_IOU = 0.5   # same-category segmenter masks overlapping more: one object
_WARN_EVERY_S = 5.0


def check_frame(frame: Any) -> Optional[str]:
    """Return why a frame cannot be processed, or None when it is fine.

    Reasons: 'frame_bad_color', 'frame_bad_depth', 'frame_size_mismatch',
    'frame_bad_intrinsics', 'frame_no_valid_depth'. (Per-instance reasons counted by the
    pipeline: 'unmapped_class', 'category_disabled', 'low_score', 'bad_mask',
    'max_instances', 'duplicate', 'segmenter_error' and data.instances' 'empty_mask',
    'invalid_depth', 'too_few_points'.)
    """
    color, depth, K = (getattr(frame, 'color', None), getattr(frame, 'depth', None),
                       getattr(frame, 'K', None))
    if not isinstance(color, np.ndarray) or color.ndim != 3 or color.shape[2] != 3 \
            or color.dtype != np.uint8 or color.size == 0:
        return 'frame_bad_color'
    if not isinstance(depth, np.ndarray) or depth.ndim != 2 \
            or depth.dtype not in (np.float32, np.float64):
        return 'frame_bad_depth'
    if depth.shape != color.shape[:2]:
        return 'frame_size_mismatch'
    K = np.asarray(K) if K is not None else None
    if K is None or K.shape != (3, 3) or not np.issubdtype(K.dtype, np.number) \
            or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
        return 'frame_bad_intrinsics'
    if not np.any(np.isfinite(depth) & (depth > 0)):
        return 'frame_no_valid_depth'
    return None


def _count(skipped: dict, reason: str, n: int = 1) -> None:
    if n:
        skipped[reason] = skipped.get(reason, 0) + int(n)


class PosePipeline:
    """Poses of every object of the enabled categories in an RGB-D frame.

    Args:
        net: a CleanPoseNet (from model.weights.load_weights).
        cfg: thresholds, categories, tracking.
        segmenter: anything callable as ``segmenter(color) -> Segmentation``; None for a
            pipeline that is always handed its masks (ground-truth evaluation).
        device: where the network runs.
        refiner: a class refiner trained for this segmenter (pipeline.class_refiner);
            None = the segmenter's categories stand.
    """

    def __init__(self, net: torch.nn.Module, cfg: PipelineConfig = PipelineConfig(),
                 segmenter: Optional[Segmenter] = None,
                 device: torch.device | str = 'cpu',
                 refiner: Optional[ClassRefiner] = None) -> None:
        self.net = net.to(device).eval()
        # The network never changes here, so a frozen trace of it can serve (faster on
        # the CPU); traced_or_eager falls back to the network itself when tracing fails.
        self.predictor = traced_or_eager(self.net) if cfg.trace_network else self.net
        self.cfg = cfg
        self.segmenter = segmenter
        self.refiner = refiner
        self.device = torch.device(device)
        self.model_cfg = net.cfg
        self.enabled_ids = frozenset(category_id(c) for c in cfg.categories)
        self.tracker = Tracker(max_distance_m=cfg.track_max_distance,
                               max_missed=cfg.track_max_missed, smoothing=cfg.smoothing)
        self._rng = np.random.default_rng(cfg.seed)
        self._last_warning: dict[str, float] = {}

    @classmethod
    def from_config(cls, cfg: PipelineConfig = PipelineConfig(),
                    gt_masks: bool = False) -> 'PosePipeline':
        """Load the pose weights and the segmenter named by a config.

        Args:
            cfg: weights '' = the shipped default (config.DEFAULT_WEIGHTS); segmenter
                weights '' = config.DEFAULT_SEGMENTER.
            gt_masks: load no segmenter; every call must pass ``segmentation``.

        Raises:
            WeightsError: missing or corrupt weights.
            ConfigError: bad device.
        """
        device = resolve_device(cfg.device, 'pipeline.device')
        weights = Path(cfg.weights) if cfg.weights else DEFAULT_WEIGHTS
        if not weights.is_file():
            raise WeightsError(f'pose weights {weights} not found; set pipeline.weights or '
                               'train them with `cleanpose train`')
        net = load_weights(weights, device=device)
        segmenter = None
        if not gt_masks:
            seg_path = Path(cfg.segmenter_weights) if cfg.segmenter_weights \
                else DEFAULT_SEGMENTER
            segmenter = YoloSegmenter.from_weights(
                seg_path, class_map=cfg.class_map, conf=cfg.segmenter_conf,
                imgsz=cfg.segmenter_imgsz, device=str(device),
                max_det=max(50, 2 * cfg.max_instances), erode=cfg.mask_erode)
        refiner = None if gt_masks else _load_refiner(cfg)
        log.info('pipeline: pose weights %s on %s, %s%s', weights, device,
                 'ground-truth masks' if gt_masks else f'segmenter {seg_path}',
                 ', class refiner' if refiner is not None else '')
        return cls(net, cfg, segmenter, device, refiner)

    def update_config(self, **changes: Any) -> None:
        """Change thresholds at runtime (e.g. from a ROS parameter callback).

        Args:
            **changes: any of RUNTIME_KEYS, e.g. min_score=0.5.

        Raises:
            ConfigError: a key that needs a restart (weights, device, ...) or an invalid
                value (the old config stays).
        """
        fixed = sorted(set(changes) - set(RUNTIME_KEYS))
        if fixed:
            raise ConfigError(f'pipeline keys {fixed} cannot change at runtime; restart with '
                              f'the new value (runtime keys: {", ".join(RUNTIME_KEYS)})')
        cfg = replace(self.cfg, **changes)
        self.cfg = cfg
        self.enabled_ids = frozenset(category_id(c) for c in cfg.categories)
        self.tracker.smoothing = cfg.smoothing
        self.tracker.max_distance_m = cfg.track_max_distance
        self.tracker.max_missed = cfg.track_max_missed
        if isinstance(self.segmenter, YoloSegmenter):
            self.segmenter.conf = cfg.segmenter_conf

    def reset(self) -> None:
        """Forget the tracks (start of a new sequence) and re-seed the point sampling."""
        self.tracker.reset()
        self._rng = np.random.default_rng(self.cfg.seed)

    def warmup(self, height: int = 480, width: int = 640) -> None:
        """Run one synthetic frame so the first real frame is not slow (lazy set-up)."""
        color = np.full((height, width, 3), 127, np.uint8)
        depth = np.full((height, width), 1.0, np.float32)
        K = np.array([[600.0, 0.0, width / 2], [0.0, 600.0, height / 2], [0.0, 0.0, 1.0]])
        frame = Frame(color, depth, K)
        mask = np.zeros((height, width), bool)
        mask[height // 3:height // 2, width // 3:width // 2] = True
        det = Detection2D(mask, 1, 1.0, np.array([width / 3, height / 3, width / 2,
                                                  height / 2]))
        if self.segmenter is not None:
            self.segmenter(color)
        self(frame, Segmentation((det,)))
        self.reset()

    def detect(self, frame: Frame, segmentation: Optional[Segmentation] = None,
               skipped: Optional[dict] = None, refine: bool = True
               ) -> tuple[list, Optional[Any]]:
        """The segment stage: instances to lift, and the table plane.

        Segments the colour image (unless handed a segmentation), drops disabled
        categories, low scores and malformed masks, keeps the max_instances best, fits
        the table plane and, for segmenter masks, clears the table from the masks and
        lets the class refiner (when there is one) relabel and rescore them.

        Args:
            frame: a frame that passed check_frame.
            segmentation: masks to use instead of the segmenter's (ground truth).
            skipped: reason -> count, added to in place.
            refine: let the class refiner act (False: the segmenter's categories, e.g.
                to collect the refiner's training samples).

        Returns:
            (detections, highest score first; the plane or None).
        """
        skipped = {} if skipped is None else skipped
        from_segmenter = segmentation is None
        if segmentation is None:
            if self.segmenter is None:
                raise ValueError('this pipeline has no segmenter; pass segmentation= '
                                 '(e.g. GtMaskSegmenter()(record))')
            try:
                segmentation = self.segmenter(frame.color)
            except Exception as err:  # a node must survive a failing segmenter call
                self._warn('segmenter_error', f'segmenter failed on frame '
                           f'{frame.frame_id!r}: {type(err).__name__}: {err}')
                segmentation = Segmentation(skipped={'segmenter_error': 1})
        for key, n in segmentation.skipped.items():
            _count(skipped, key, n)
        # With a class refiner the category is decided after it, so not filtered here.
        refine = refine and from_segmenter and self.refiner is not None
        dets = []
        for det in segmentation.detections:
            if not refine and det.category_id not in self.enabled_ids:
                _count(skipped, 'category_disabled')
            elif det.score < self.cfg.min_score:
                _count(skipped, 'low_score')
            elif det.mask.shape != frame.depth.shape or det.mask.dtype != np.bool_:
                _count(skipped, 'bad_mask')
            else:
                dets.append(det)
        dets.sort(key=lambda d: -d.score)
        _count(skipped, 'max_instances', max(0, len(dets) - self.cfg.max_instances))
        dets = dets[:self.cfg.max_instances]
        # The table plane serves the mask clean-up and the class refiner (segmenter
        # masks) and the upright prior.
        clear = from_segmenter and self.cfg.table_clearance > 0
        plane = None
        if dets and (clear or refine or self.cfg.upright_snap > 0):
            plane = fit_frame_plane(frame.depth, frame.K, [d.mask for d in dets],
                                    np.random.default_rng(self.cfg.seed))
        if clear and plane is not None:
            masks, _ = clear_table(frame.depth, frame.K, [d.mask for d in dets],
                                   self.cfg.table_clearance, None, plane=plane)
            dets = [replace(d, mask=m) for d, m in zip(dets, masks)]
        if refine:
            if plane is not None:
                dets = refine_frame(self.refiner, frame.depth, frame.K, dets, plane,
                                    self.cfg.depth_gap)
            kept = [d for d in dets if d.category_id in self.enabled_ids]
            _count(skipped, 'category_disabled', len(dets) - len(kept))
            low = [d for d in kept if d.score < self.cfg.min_score]
            _count(skipped, 'low_score', len(low))
            dets = sorted((d for d in kept if d.score >= self.cfg.min_score),
                          key=lambda d: -d.score)
        if from_segmenter:
            n = len(dets)
            dets = suppress_duplicates(dets, DUPLICATE_MASK_IOU)
            _count(skipped, 'duplicate', n - len(dets))
        return dets, plane

    def _warn(self, reason: str, text: str) -> None:
        now = time.monotonic()
        if now - self._last_warning.get(reason, -np.inf) >= _WARN_EVERY_S:
            self._last_warning[reason] = now
            log.warning('%s', text)

    def __call__(self, frame: Frame, segmentation: Optional[Segmentation] = None,
                 rng: Optional[np.random.Generator] = None) -> FrameResult:
        """Estimate and track the poses in one frame.

        Args:
            frame: colour (H, W, 3) uint8 RGB, depth (H, W) float metres, K (3, 3).
            segmentation: instances to use instead of running the segmenter (e.g.
                ground-truth masks); required when the pipeline has no segmenter.
            rng: generator of the point sampling; default the pipeline's own.

        Returns:
            FrameResult (possibly empty, with the reasons counted in ``skipped``).

        Raises:
            ValueError: no segmentation given to a pipeline without a segmenter.
        """
        start = time.perf_counter()
        timings = dict.fromkeys(STAGES, 0.0)
        skipped: dict = {}
        reason = check_frame(frame)
        if reason is not None:
            self._warn(reason, f'skipping frame {getattr(frame, "frame_id", "")!r}: {reason} '
                       f'({_describe_frame(frame)})')
            timings['total'] = (time.perf_counter() - start) * 1e3
            return FrameResult(skipped={reason: 1}, timings_ms=timings)

        # segment
        t0 = time.perf_counter()
        dets, plane = self.detect(frame, segmentation, skipped)
        t1 = time.perf_counter()
        timings['segment'] = (t1 - t0) * 1e3

        # instances: the preprocessing used at training time
        rng = self._rng if rng is None else rng
        depth = frame.depth.astype(np.float32, copy=False)
        K = np.asarray(frame.K, dtype=np.float64)
        depth_gap = self.cfg.depth_gap if segmentation is None else 0.0
        samples, kept = [], []
        for det in dets:
            sample = extract_instance(frame.color, depth, det.mask, K,
                                      self.model_cfg.num_points, self.model_cfg.crop_size,
                                      rng=rng, min_points=self.cfg.min_points,
                                      depth_gap=depth_gap)
            if isinstance(sample, str):
                _count(skipped, sample)
                continue
            samples.append(sample)
            kept.append(det)
        t2 = time.perf_counter()
        timings['instances'] = (t2 - t1) * 1e3

        # network: one batched call for all instances
        n = len(kept)
        cat_ids = np.array([d.category_id for d in kept], np.int64)
        if n:
            inp = stack_instances(samples, cat_ids.tolist()).to(self.device)
            with torch.inference_mode():
                out = self.predictor.predict(inp)
                R = out.R_cam_obj.double().cpu().numpy()
                t = out.t_cam_obj.double().cpu().numpy()
                scales = out.scales.double().cpu().numpy()
                sizes = out.sizes.double().cpu().numpy()
                residual = None if out.fit_residual is None else \
                    out.fit_residual.double().cpu().numpy()
            R, t, scales, sizes = apply_box_priors(
                R, t, scales, sizes, inp.points.double().cpu().numpy(), cat_ids, plane,
                self.cfg)
        else:
            R, t = np.zeros((0, 3, 3)), np.zeros((0, 3))
            scales, sizes, residual = np.zeros(0), np.zeros((0, 3)), None
        t3 = time.perf_counter()
        timings['network'] = (t3 - t2) * 1e3

        # track
        scores = np.array([d.score for d in kept], np.float64)
        if n and self.cfg.fit_score > 0 and residual is not None:
            # How well the points fit the predicted canonical shape ranks the poses:
            # a mislabelled or badly segmented object fits its category's shape worse.
            scores = scores * np.exp(-residual / self.cfg.fit_score)
        boxes = np.array([d.box_xyxy for d in kept], np.float64).reshape(n, 4)
        if self.cfg.track:
            tracked = self.tracker.update(cat_ids, R, t, scales, sizes, boxes, scores)
            track_ids, cat_ids = tracked.track_ids, tracked.category_ids
            R, t, scales, sizes = tracked.R_cam_obj, tracked.t_cam_obj, tracked.scales, \
                tracked.sizes
        else:
            track_ids = np.arange(1, n + 1, dtype=np.int64)
        masks = np.stack([d.mask for d in kept]) if n else \
            np.zeros((0, *frame.depth.shape), bool)
        t4 = time.perf_counter()
        timings['track'] = (t4 - t3) * 1e3
        timings['total'] = (t4 - start) * 1e3
        return FrameResult(category_ids=cat_ids, scores=scores, R_cam_obj=R, t_cam_obj=t,
                           scales=scales, sizes=sizes, boxes_xyxy=boxes, track_ids=track_ids,
                           skipped=skipped, timings_ms=timings, masks=masks)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Return the IoU of two (H, W) bool masks, computed inside their joint box."""
    box_a, box_b = mask_box(a), mask_box(b)
    if box_a is None or box_b is None:
        return 0.0
    rows = slice(min(box_a[0].start, box_b[0].start), max(box_a[0].stop, box_b[0].stop))
    cols = slice(min(box_a[1].start, box_b[1].start), max(box_a[1].stop, box_b[1].stop))
    a, b = a[rows, cols], b[rows, cols]
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 0.0


def suppress_duplicates(dets: list, max_iou: float) -> list:
    """Drop each detection whose mask overlaps a higher-scoring one of its category.

    The segmenter's NMS works on boxes per class, and the class refiner can give two
    detections of one object the same category: one object, one detection.

    Args:
        dets: detections, highest score first.
        max_iou: mask IoU above which the lower-scoring detection goes.
    """
    kept: list = []
    for det in dets:
        if all(k.category_id != det.category_id or mask_iou(k.mask, det.mask) <= max_iou
               for k in kept):
            kept.append(det)
    return kept


def _load_refiner(cfg: PipelineConfig) -> Optional[ClassRefiner]:
    """Load the class refiner a config names.

    '' = the shipped one, but only with the shipped segmenter (it was trained on that
    segmenter's mistakes); 'none' = none.
    """
    if cfg.class_refiner == 'none':
        return None
    if cfg.class_refiner:
        return load_class_refiner(cfg.class_refiner)
    if cfg.segmenter_weights or not DEFAULT_CLASS_REFINER.is_file():
        return None
    return load_class_refiner(DEFAULT_CLASS_REFINER)


def _describe_frame(frame: Any) -> str:
    parts = []
    for name in ('color', 'depth', 'K'):
        value = getattr(frame, name, None)
        if isinstance(value, np.ndarray):
            parts.append(f'{name} {"x".join(map(str, value.shape))} {value.dtype}')
        else:
            parts.append(f'{name} {type(value).__name__}')
    return ', '.join(parts)
