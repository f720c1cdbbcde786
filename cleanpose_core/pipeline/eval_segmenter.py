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

"""Frame predictors for eval.evaluate that run the full pipeline.

``predict_frame_fn(cfg)`` returns ``predict_frame(record) -> dict`` with the pred_*
fields of the NOCS results layout and 'skipped', as eval.evaluate.evaluate expects:
masks from the segmenter (``cleanpose eval --masks segmenter``: detection included in
the score) or from the ground truth through the same pipeline.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import numpy as np

from cleanpose_core.config import PipelineConfig
from cleanpose_core.pipeline.pipeline import PosePipeline
from cleanpose_core.pipeline.results import Frame, FrameResult
from cleanpose_core.pipeline.segmenter import GtMaskSegmenter

__all__ = ['predict_frame_fn', 'result_to_prediction']

log = logging.getLogger(__name__)


def result_to_prediction(result: FrameResult) -> dict:
    """The pred_* fields (NOCS results layout, boxes as y1, x1, y2, x2) of a FrameResult."""
    from cleanpose_core.eval.evaluate import make_prediction

    return make_prediction(result.category_ids, result.scores, result.R_cam_obj,
                           result.t_cam_obj, result.scales, result.sizes,
                           result.boxes_xyxy[:, [1, 0, 3, 2]], result.skipped)


def _frame_rng(seed: int, scene: str, index: int) -> np.random.Generator:
    from cleanpose_core.eval.evaluate import frame_seed

    return np.random.default_rng(frame_seed(seed, scene, index))


def predict_frame_fn(cfg: PipelineConfig, masks: str = 'segmenter',
                     pipeline: PosePipeline | None = None) -> Callable[[Any], dict]:
    """Build a predictor that scores the full pipeline on NOCS-layout frames.

    Frames are independent unless the pipeline tracks (cfg.track): then the frames of
    a scene go through one tracker in the order given (reset at each new scene), as the
    node would see them, and each prediction carries its track's voted category and
    pose. Each frame's point sampling is seeded from (cfg.seed, scene, index), so
    repeated evaluations agree.

    Args:
        cfg: pipeline config (weights, segmenter, thresholds, device, track).
        masks: 'segmenter' (detection included) or 'gt' (ground-truth masks).
        pipeline: an already built pipeline to use instead of loading one from cfg.

    Returns:
        predict_frame(record: data.nocs.FrameRecord) -> dict.

    Raises:
        ValueError: unknown masks mode.
        WeightsError: missing weights.
    """
    if masks not in ('segmenter', 'gt'):
        raise ValueError(f"masks must be 'segmenter' or 'gt'; got {masks!r}")
    if pipeline is None:
        pipeline = PosePipeline.from_config(cfg, gt_masks=masks == 'gt')
    gt_segmenter = GtMaskSegmenter()
    last_scene = None

    def predict_frame(record: Any) -> dict:
        nonlocal last_scene
        frame = Frame(record.color, record.depth, record.K, stamp_ns=int(record.index),
                      frame_id=record.frame_id)
        if not pipeline.cfg.track or record.scene != last_scene:
            pipeline.tracker.reset()
        last_scene = record.scene
        result = pipeline(frame, gt_segmenter(record) if masks == 'gt' else None,
                          rng=_frame_rng(pipeline.cfg.seed, record.scene, record.index))
        return result_to_prediction(result)

    return predict_frame
