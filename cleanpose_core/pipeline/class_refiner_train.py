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

"""Train the class refiner of a segmenter (pipeline/class_refiner.py).

    cleanpose train-refiner --data DIR [--split train] [--segmenter S] [--frames N]
        --out FILE

runs the segmenter of the pipeline (the shipped one unless --segmenter) over the frames
of a NOCS-layout split it never trained on, with the pipeline's own mask clean-up,
labels each detection with the category of the ground-truth mask it overlaps (mask
IoU >= 0.5; 0 = none), fits the refiner on the detections' features and writes it as
safetensors, with a JSON summary (sample counts, accuracies) next to it.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path
import time
from typing import Any

import numpy as np

from cleanpose_core.config import load_config, PipelineConfig
from cleanpose_core.errors import ConfigError, DataError

__all__ = ['add_arguments', 'run', 'collect_samples', 'label_detections']

log = logging.getLogger(__name__)

# The segmenter confidence the samples are collected at: the lowest that evaluation uses.
COLLECT_CONF = 0.1


def label_detections(masks: np.ndarray, gt_mask: np.ndarray, instance_ids: np.ndarray,
                     class_ids: np.ndarray, min_iou: float = 0.5) -> np.ndarray:
    """The category of the ground-truth instance each mask overlaps by min_iou, else 0.

    Args:
        masks: (M, H, W) bool detection masks.
        gt_mask: (H, W) instance id per pixel.
        instance_ids: (n,) labelled instance ids.
        class_ids: (n,) their categories.
        min_iou: smallest mask IoU that counts as the same object.

    Returns:
        (M,) int64 labels.
    """
    labels = np.zeros(len(masks), np.int64)
    for iid, cid in zip(instance_ids, class_ids):
        if int(cid) < 1:
            continue
        g = gt_mask == iid
        inter = (masks & g).sum(axis=(1, 2))
        union = (masks | g).sum(axis=(1, 2))
        iou = inter / np.maximum(union, 1)
        labels[(iou >= min_iou) & (labels == 0)] = int(cid)
    return labels


def collect_samples(pipeline: Any, split: Any, max_frames: int = 0) -> tuple:
    """Features and labels of the pipeline's detections over a split.

    Args:
        pipeline: a PosePipeline with a segmenter (its refiner is not used).
        split: a NocsSplit with ground-truth masks.
        max_frames: at most this many frames, spread evenly; 0 = all.

    Returns:
        (features (N, F), labels (N,), frames used); the features computed with the
        pipeline's depth_gap.
    """
    from cleanpose_core.eval.evaluate import select_frames
    from cleanpose_core.log import progress
    from cleanpose_core.pipeline.class_refiner import detection_features
    from cleanpose_core.pipeline.pipeline import check_frame
    from cleanpose_core.pipeline.results import Frame

    rows, labels, used = [], [], 0
    for i in progress(select_frames(len(split), max_frames), desc='refiner samples'):
        try:
            record = split[i]
        except DataError as err:
            log.warning('skipping unreadable frame: %s', err)
            continue
        frame = Frame(record.color, record.depth, record.K, frame_id=record.frame_id)
        if check_frame(frame) is not None:
            continue
        dets, plane = pipeline.detect(frame, refine=False)
        used += 1
        if not dets or plane is None:
            continue
        lab = label_detections(np.stack([d.mask for d in dets]), record.mask,
                               record.instance_ids, record.class_ids)
        for det, y in zip(dets, lab):
            f = detection_features(frame.depth, frame.K, det.mask, plane, det.category_id,
                                   det.score, pipeline.cfg.depth_gap)
            if f is not None:
                rows.append(f)
                labels.append(y)
    features = np.stack(rows) if rows else np.zeros((0, 0))
    return features, np.asarray(labels, np.int64), used


def _read_samples(path: Path, depth_gap: float) -> tuple:
    """Features, labels and frame count from an .npz written by this command.

    Raises:
        DataError: not such a file, or its features were computed with another depth_gap.
    """
    from cleanpose_core.pipeline.class_refiner import FEATURE_NAMES

    try:
        with np.load(path, allow_pickle=False) as z:
            features, labels, frames = z['features'], z['labels'], int(z['frames'])
            gap = float(z['depth_gap']) if 'depth_gap' in z else 0.0
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f'{path}: not a samples file of train-refiner ({err})') from None
    if gap != depth_gap:
        raise DataError(f'{path}: features computed with pipeline.depth_gap={gap}, not '
                        f'{depth_gap}; pass that setting or collect new samples')
    if features.ndim != 2 or features.shape[1] != len(FEATURE_NAMES) \
            or labels.shape != (len(features),):
        raise DataError(f'{path}: features {features.shape} and labels {labels.shape} do not '
                        f'fit {len(FEATURE_NAMES)} features per detection')
    return features.astype(np.float64), labels.astype(np.int64), frames


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `cleanpose train-refiner`."""
    parser.add_argument('--data', required=True, help='NOCS-layout dataset root')
    parser.add_argument('--split', default='train', help='split folder (default train)')
    parser.add_argument('--segmenter', default=None,
                        help='segmenter weights (default the shipped one)')
    parser.add_argument('--frames', type=int, default=0,
                        help='use at most this many frames, spread evenly (0 = all)')
    parser.add_argument('--epochs', type=int, default=60, help='passes over the samples')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--samples', default=None,
                        help='.npz of collected features and labels: read when it exists '
                             '(no segmenter run), else written after collecting')
    parser.add_argument('--out', required=True, help='refiner weights to write (.safetensors)')
    parser.add_argument('overrides', nargs='*', metavar='pipeline.KEY=VALUE',
                        help='pipeline settings of the segment stage (defaults as the '
                             f'node, segmenter_conf={COLLECT_CONF}, min_score=0)')


def run(args: argparse.Namespace) -> int:
    """Collect (or read) the samples, train the refiner, write it and its summary."""
    from cleanpose_core.data.nocs import NocsSplit
    from cleanpose_core.fileio import atomic_path, atomic_write_json
    from cleanpose_core.pipeline.class_refiner import save_class_refiner, train_class_refiner
    from cleanpose_core.pipeline.pipeline import PosePipeline

    if args.frames < 0 or args.epochs < 1:
        raise ConfigError('--frames must be >= 0 and --epochs >= 1')
    wrong = [o for o in args.overrides if not o.startswith('pipeline.')]
    if wrong:
        raise ConfigError(f'train-refiner takes only pipeline.KEY=VALUE settings; got {wrong}')
    cfg: PipelineConfig = load_config(None, [f'pipeline.segmenter_conf={COLLECT_CONF}',
                                             'pipeline.min_score=0', 'pipeline.track=false',
                                             *args.overrides]).pipeline
    cfg = dataclasses.replace(cfg, segmenter_weights=args.segmenter or cfg.segmenter_weights,
                              class_refiner='none')
    start = time.perf_counter()
    samples = Path(args.samples) if args.samples else None
    if samples is not None and samples.is_file():
        features, labels, frames = _read_samples(samples, cfg.depth_gap)
    else:
        pipeline = PosePipeline.from_config(cfg)
        split = NocsSplit(args.data, args.split)
        features, labels, frames = collect_samples(pipeline, split, args.frames)
        if samples is not None:
            samples.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(samples) as tmp, open(tmp, 'wb') as f:
                np.savez(f, features=features, labels=labels, frames=frames,
                         depth_gap=cfg.depth_gap)
    if len(labels) < 50:
        raise DataError(f'{args.data}/{args.split}: only {len(labels)} detections in '
                        f'{frames} frames; a refiner needs more')
    collected = time.perf_counter() - start
    trained = train_class_refiner(features, labels, epochs=args.epochs, seed=args.seed)
    summary = {'data': str(args.data), 'split': args.split, 'frames': frames,
               'segmenter': cfg.segmenter_weights or 'shipped', 'depth_gap': cfg.depth_gap,
               'samples': int(len(labels)),
               'samples_per_label': {int(k): int((labels == k).sum())
                                     for k in np.unique(labels)},
               'holdout_objects': trained.holdout_objects,
               'holdout_category_accuracy': round(trained.refiner_accuracy, 4),
               'segmenter_holdout_category_accuracy': round(trained.segmenter_accuracy, 4),
               'seconds_collecting': round(collected, 1),
               'seconds_training': round(time.perf_counter() - start - collected, 1)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_class_refiner(trained.model, out, info=summary)
    atomic_write_json(out.with_suffix('.json'), summary)
    print(f'{summary["samples"]} detections from {frames} frames; category accuracy on '
          f'{trained.holdout_objects} held-out objects {trained.refiner_accuracy:.3f} (the '
          f'segmenter alone {trained.segmenter_accuracy:.3f}); wrote {out}')
    return 0
