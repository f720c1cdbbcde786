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

"""PosePipeline plumbing with tiny untrained models: shapes, timings, reasons, robustness."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
from pipeline_helpers import box_scene, save_tiny_net, save_tiny_segmenter
import pytest
import torch

from cleanpose_core.config import PipelineConfig
from cleanpose_core.errors import ConfigError, WeightsError
from cleanpose_core.model.traced import TracedPredictor
from cleanpose_core.pipeline.draw import draw_result
from cleanpose_core.pipeline.pipeline import check_frame, PosePipeline, STAGES
from cleanpose_core.pipeline.results import Frame
from cleanpose_core.pipeline.segmenter import Detection2D, Segmentation


@pytest.fixture(scope='module')
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp('pipeline')
    return {'net': save_tiny_net(root / 'net.safetensors'),
            'seg': save_tiny_segmenter(root / 'seg.safetensors'),
            'coco': save_tiny_segmenter(root / 'coco.safetensors', ['person', 'cup', 'bottle'])}


def _cfg(paths, **kw):
    base = dict(weights=str(paths['net']), segmenter_weights=str(paths['seg']), device='cpu',
                segmenter_imgsz=64, segmenter_conf=0.0, min_score=0.0, min_points=16)
    base.update(kw)
    return PipelineConfig(**base)


@pytest.fixture(scope='module')
def gt_pipeline(paths):
    return PosePipeline.from_config(_cfg(paths), gt_masks=True)


@pytest.fixture(scope='module')
def yolo_pipeline(paths):
    return PosePipeline.from_config(_cfg(paths, max_instances=4))


@pytest.mark.parametrize('n', [1, 3, 6], ids=['1obj', '3obj', '6obj'])
def test_gt_masks_give_one_pose_per_instance(gt_pipeline, n):
    gt_pipeline.reset()
    frame, seg = box_scene(n, width=240)
    res = gt_pipeline(frame, seg)
    assert len(res) == n
    assert res.category_ids.tolist() == [i % 6 + 1 for i in range(n)]
    assert res.R_cam_obj.shape == (n, 3, 3) and res.t_cam_obj.shape == (n, 3)
    np.testing.assert_allclose(res.R_cam_obj @ res.R_cam_obj.transpose(0, 2, 1),
                               np.tile(np.eye(3), (n, 1, 1)), atol=1e-4)
    assert np.all(res.scales > 0)
    assert np.all((res.scores > 0) & (res.scores <= 0.9))     # 0.9 x the fit quality
    assert res.track_ids.tolist() == list(range(1, n + 1))
    assert res.masks.shape == (n, 120, 240)
    np.testing.assert_array_equal(res.boxes_xyxy[0], seg.detections[0].box_xyxy)
    assert res.skipped == {}


def test_scores_are_the_detection_scores_times_the_fit_quality(gt_pipeline):
    # score = 0.9 exp(-r / fit_score): halving fit_score squares the fit factor.
    frame, seg = box_scene(3, width=240)
    scores = {}
    for fit_score in (0.0, 0.2, 0.1):
        gt_pipeline.reset()
        gt_pipeline.update_config(fit_score=fit_score)
        scores[fit_score] = gt_pipeline(frame, seg).scores
    gt_pipeline.update_config(fit_score=PipelineConfig.fit_score)
    np.testing.assert_allclose(scores[0.0], 0.9)
    assert np.all(scores[0.2] < 0.9)
    np.testing.assert_allclose(scores[0.1] / 0.9, (scores[0.2] / 0.9) ** 2, rtol=1e-6)


def test_timings_cover_every_stage(gt_pipeline):
    frame, seg = box_scene(3)
    res = gt_pipeline(frame, seg)
    assert set(res.timings_ms) == set(STAGES)
    assert all(v >= 0.0 for v in res.timings_ms.values())
    stages = sum(v for k, v in res.timings_ms.items() if k != 'total')
    assert res.timings_ms['network'] > 0.0
    assert stages <= res.timings_ms['total'] + 1e-6


def test_one_network_call_per_frame(gt_pipeline, monkeypatch):
    calls = []
    predict = gt_pipeline.predictor.predict
    monkeypatch.setattr(gt_pipeline.predictor, 'predict',
                        lambda inp: calls.append(len(inp)) or predict(inp))
    frame, seg = box_scene(5, width=200)
    gt_pipeline(frame, seg)
    assert calls == [5]


def test_pipeline_runs_the_traced_network_unless_told_not_to(gt_pipeline):
    assert isinstance(gt_pipeline.predictor, TracedPredictor)
    eager = PosePipeline(gt_pipeline.net, replace(gt_pipeline.cfg, trace_network=False))
    assert eager.predictor is eager.net
    frame, seg = box_scene(3)
    gt_pipeline.reset()
    a, b = gt_pipeline(frame, seg), eager(frame, seg)
    np.testing.assert_allclose(a.t_cam_obj, b.t_cam_obj, atol=1e-5)
    np.testing.assert_allclose(a.R_cam_obj, b.R_cam_obj, atol=1e-4)


def test_track_ids_stable_over_repeated_frames(gt_pipeline):
    gt_pipeline.reset()
    frame, seg = box_scene(3)
    first = gt_pipeline(frame, seg).track_ids.tolist()
    second = gt_pipeline(frame, seg).track_ids.tolist()
    assert first == second == [1, 2, 3]


def _bad_frames():
    frame, _ = box_scene(2)
    nan_depth = np.full_like(frame.depth, np.nan)
    return {
        'size_mismatch': (replace(frame, depth=frame.depth[:-10]), 'frame_size_mismatch'),
        'all_zero_depth': (replace(frame, depth=np.zeros_like(frame.depth)),
                           'frame_no_valid_depth'),
        'nan_depth': (replace(frame, depth=nan_depth), 'frame_no_valid_depth'),
        'uint16_depth': (replace(frame, depth=(frame.depth * 1000).astype(np.uint16)),
                         'frame_bad_depth'),
        'float_color': (replace(frame, color=frame.color.astype(np.float32)), 'frame_bad_color'),
        'gray_color': (replace(frame, color=frame.color[..., 0]), 'frame_bad_color'),
        'zero_K': (replace(frame, K=np.zeros((3, 3))), 'frame_bad_intrinsics'),
        'nan_K': (replace(frame, K=np.full((3, 3), np.nan)), 'frame_bad_intrinsics'),
        'K_2x2': (replace(frame, K=np.eye(2)), 'frame_bad_intrinsics'),
        'none_depth': (replace(frame, depth=None), 'frame_bad_depth'),
    }


@pytest.mark.parametrize('name', list(_bad_frames()))
def test_bad_frame_gives_empty_result_with_reason(gt_pipeline, yolo_pipeline, name):
    frame, reason = _bad_frames()[name]
    assert check_frame(frame) == reason
    for pipe in (gt_pipeline, yolo_pipeline):
        res = pipe(frame, box_scene(2)[1] if pipe is gt_pipeline else None)
        assert len(res) == 0
        assert res.skipped == {reason: 1}
        assert 'total' in res.timings_ms


def test_few_pixel_and_invalid_depth_masks_are_counted(gt_pipeline):
    frame, seg = box_scene(3)
    dets = list(seg.detections)
    tiny = np.zeros_like(dets[0].mask)
    tiny[2:4, 2:4] = True                                   # 4 pixels < min_points
    dets[0] = Detection2D(tiny, dets[0].category_id, 0.9, np.array([2.0, 2, 4, 4]))
    depth = frame.depth.copy()
    depth[dets[1].mask] = np.nan                            # no valid depth on object 2
    empty = Detection2D(np.zeros_like(tiny), 4, 0.9, np.zeros(4))
    res = gt_pipeline(replace(frame, depth=depth), Segmentation(tuple(dets) + (empty,)))
    assert len(res) == 1
    assert res.category_ids.tolist() == [dets[2].category_id]
    assert res.skipped == {'too_few_points': 1, 'invalid_depth': 1, 'empty_mask': 1}


def test_nan_depth_pixels_inside_a_mask_are_ignored(gt_pipeline):
    frame, seg = box_scene(1)
    depth = frame.depth.copy()
    depth[::2, ::2] = np.nan
    depth[1::2, 1::2] = np.inf
    res = gt_pipeline(replace(frame, depth=depth), seg)
    assert len(res) == 1 and np.all(np.isfinite(res.t_cam_obj))


def test_filters_are_counted(paths):
    enabled = ('bottle', 'bowl', 'camera', 'can', 'laptop')
    pipe = PosePipeline.from_config(
        _cfg(paths, min_score=0.5, max_instances=2, categories=enabled), gt_masks=True)
    frame, seg = box_scene(6, width=300)
    dets = list(seg.detections)
    dets[4] = replace(dets[4], score=0.2)                   # laptop, low score
    res = pipe(frame, Segmentation(tuple(dets), {'unmapped_class': 2}))
    # mug (class 6) disabled, laptop below min_score, 4 left -> 2 kept
    assert len(res) == 2
    assert res.skipped == {'unmapped_class': 2, 'category_disabled': 1, 'low_score': 1,
                           'max_instances': 2}


def test_mask_of_wrong_size_is_counted(gt_pipeline):
    frame, seg = box_scene(2)
    bad = replace(seg.detections[0], mask=seg.detections[0].mask[:-1])
    res = gt_pipeline(frame, Segmentation((bad, seg.detections[1])))
    assert len(res) == 1 and res.skipped == {'bad_mask': 1}


def test_empty_segmentation(gt_pipeline):
    frame, _ = box_scene(2)
    res = gt_pipeline(frame, Segmentation())
    assert len(res) == 0 and res.skipped == {}
    assert res.masks.shape == (0, 120, 160)


def test_yolo_pipeline_runs_end_to_end(yolo_pipeline):
    frame, _ = box_scene(3)
    res = yolo_pipeline(frame)
    # An untrained segmenter at conf 0 finds boxes anywhere; the plumbing must hold.
    kept_or_skipped = len(res) + sum(res.skipped.values())
    assert kept_or_skipped >= 1 and len(res) <= 4
    assert set(res.timings_ms) == set(STAGES) and res.timings_ms['segment'] > 0
    assert all(1 <= c <= 6 for c in res.category_ids)


def test_segmenter_returning_nothing(paths):
    pipe = PosePipeline.from_config(_cfg(paths, segmenter_conf=1.0))
    frame, _ = box_scene(2)
    res = pipe(frame)
    assert len(res) == 0 and res.skipped == {}


def test_unknown_class_names_are_counted(paths):
    pipe = PosePipeline.from_config(_cfg(paths, segmenter_weights=str(paths['coco']),
                                         class_map={'cup': 'mug'}))
    frame, _ = box_scene(2)
    raw = pipe.segmenter(frame.color)
    res = pipe(frame)
    assert res.skipped.get('unmapped_class', 0) == raw.skipped.get('unmapped_class', 0)
    assert set(res.category_ids.tolist()) <= {1, 6}


def test_tracking_off_numbers_instances(paths):
    pipe = PosePipeline.from_config(_cfg(paths, track=False), gt_masks=True)
    frame, seg = box_scene(3)
    assert pipe(frame, seg).track_ids.tolist() == [1, 2, 3]
    assert pipe(frame, seg).track_ids.tolist() == [1, 2, 3]


def test_no_segmenter_and_no_masks_is_a_usage_error(gt_pipeline):
    frame, _ = box_scene(1)
    with pytest.raises(ValueError, match='no segmenter; pass segmentation='):
        gt_pipeline(frame)


def test_missing_weights(tmp_path):
    with pytest.raises(WeightsError, match='pose weights .* not found'):
        PosePipeline.from_config(PipelineConfig(weights=str(tmp_path / 'none.safetensors')))


def test_missing_segmenter_weights(paths, tmp_path):
    with pytest.raises(WeightsError, match='segmenter weights .* not found'):
        PosePipeline.from_config(_cfg(paths, segmenter_weights=str(tmp_path / 'x.safetensors')))


@pytest.mark.skipif(torch.cuda.is_available(), reason='CUDA is present')
def test_cuda_without_cuda_is_a_config_error(paths):
    with pytest.raises(ConfigError, match='CUDA is not available'):
        PosePipeline.from_config(_cfg(paths, device='cuda'), gt_masks=True)


def test_auto_device_picks_what_is_there(paths):
    pipe = PosePipeline.from_config(_cfg(paths, device='auto'), gt_masks=True)
    expected = 'cuda' if torch.cuda.is_available() else 'cpu'
    assert pipe.device.type == expected
    assert next(pipe.net.parameters()).device.type == expected


def test_draw_result_marks_the_objects(gt_pipeline):
    frame, seg = box_scene(2)
    res = gt_pipeline(frame, seg)
    image = draw_result(frame.color, frame.K, res)
    assert image.shape == frame.color.shape and image.dtype == np.uint8
    changed = np.any(image != frame.color, axis=-1)
    assert changed[seg.detections[0].mask].mean() > 0.5     # the mask tint
    assert np.array_equal(frame.color, box_scene(2)[0].color)  # input untouched


def test_draw_empty_result_is_a_copy():
    frame, _ = box_scene(1)
    from cleanpose_core.pipeline.results import FrameResult

    image = draw_result(frame.color, frame.K, FrameResult())
    assert np.array_equal(image, frame.color) and image is not frame.color


def test_frame_defaults():
    frame = Frame(np.zeros((4, 4, 3), np.uint8), np.ones((4, 4), np.float32), np.eye(3))
    assert check_frame(frame) is None


def test_warmup_runs_every_stage_and_forgets_its_tracks(yolo_pipeline):
    yolo_pipeline.warmup(height=96, width=128)
    assert yolo_pipeline.tracker.live_track_ids == []
    frame, seg = box_scene(2)
    assert yolo_pipeline(frame, seg).track_ids.tolist() == [1, 2]
    yolo_pipeline.reset()


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a machine without CUDA')
def test_failing_segmenter_is_counted_not_raised(paths):
    pipe = PosePipeline.from_config(_cfg(paths))
    pipe.segmenter.device = 'cuda'         # ultralytics raises: no CUDA here
    frame, _ = box_scene(2)
    res = pipe(frame)
    assert len(res) == 0 and res.skipped == {'segmenter_error': 1}


def test_update_config_changes_thresholds_at_runtime(paths):
    pipe = PosePipeline.from_config(_cfg(paths))
    frame, seg = box_scene(3)
    assert len(pipe(frame, seg)) == 3
    pipe.update_config(min_score=0.95, segmenter_conf=0.5, smoothing=0.5)
    assert pipe.cfg.min_score == 0.95 and pipe.segmenter.conf == 0.5
    assert pipe.tracker.smoothing == 0.5
    res = pipe(frame, seg)
    assert len(res) == 0 and res.skipped == {'low_score': 3}
    pipe.update_config(min_score=0.0, categories=('bottle',))
    assert pipe(frame, seg).category_ids.tolist() == [1]


@pytest.mark.parametrize('changes,match', [
    (dict(weights='x.safetensors'), 'cannot change at runtime'),
    (dict(device='cpu'), 'cannot change at runtime'),
    (dict(min_score=2.0), r'pipeline.min_score must be in \[0.0, 1.0\]'),
], ids=['weights', 'device', 'range'])
def test_update_config_rejects(gt_pipeline, changes, match):
    before = gt_pipeline.cfg
    with pytest.raises(ConfigError, match=match):
        gt_pipeline.update_config(**changes)
    assert gt_pipeline.cfg is before


@pytest.mark.parametrize('clearance', [0.0, 0.005])
def test_table_clearance_trims_segmenter_masks_only(paths, clearance):
    """Mask bleed onto the supporting plane (box_scene's wall) goes; given masks stay."""
    from cleanpose_core.model.weights import load_weights

    frame, exact = box_scene(2)
    kernel = np.ones((7, 7), np.uint8)
    bleeding = Segmentation(tuple(
        Detection2D(cv2.dilate(d.mask.view(np.uint8), kernel) > 0, d.category_id, d.score,
                    d.box_xyxy) for d in exact.detections))
    pipe = PosePipeline(load_weights(paths['net']), _cfg(paths, table_clearance=clearance),
                        segmenter=lambda color: bleeding)
    got = pipe(frame).masks
    want = exact if clearance else bleeding
    for mask, det in zip(got, want.detections):
        np.testing.assert_array_equal(mask, det.mask)
    for mask, det in zip(pipe(frame, bleeding).masks, bleeding.detections):
        np.testing.assert_array_equal(mask, det.mask)   # masks handed in are used as given


def test_depth_gap_drops_a_segmenter_masks_bled_layer_only(paths):
    """A strip of the first object's mask lies on an occluder 30 cm in front: with
    depth layers the pipeline poses the object nearly as from the mask without the strip
    (the same points; only the RGB crop, taken around the whole mask, differs); without
    them, or for masks handed in, the strip's points count."""
    from cleanpose_core.model.weights import load_weights

    frame, exact = box_scene(2)
    first = exact.detections[0]
    rows, cols = np.nonzero(first.mask)
    strip = np.zeros_like(first.mask)
    strip[rows[rows < rows.min() + 3], cols[rows < rows.min() + 3]] = True
    depth = frame.depth.copy()
    depth[strip] -= 0.3
    frame = Frame(frame.color, depth, frame.K, stamp_ns=1, frame_id='cam')
    without = Segmentation((replace(first, mask=first.mask & ~strip), *exact.detections[1:]))
    net = load_weights(paths['net'])

    def run(depth_gap, masks, handed=False):
        # top_trim off: the untrained net's boxes stand at random heights, and a
        # slightly different pose can put a top above or below the highest point.
        pipe = PosePipeline(net, _cfg(paths, depth_gap=depth_gap, table_clearance=0.0,
                                      track=False, top_trim=0.0),
                            segmenter=lambda color: masks)
        result = pipe(frame, masks if handed else None, rng=np.random.default_rng(0))
        return result.t_cam_obj, result.scales

    t_ref, s_ref = run(0.0, without)
    t_gap, s_gap = run(0.05, exact)
    t_off, s_off = run(0.0, exact)
    assert np.abs(t_gap[0] - t_ref[0]).max() < 0.01 < 0.03 < np.abs(t_off[0] - t_ref[0]).max()
    assert abs(s_gap[0] - s_ref[0]) < abs(s_off[0] - s_ref[0]) / 4
    np.testing.assert_allclose(t_gap[1], t_ref[1], atol=1e-6)      # the other object
    t_handed, _ = run(0.05, exact, handed=True)
    np.testing.assert_allclose(t_handed, t_off, atol=1e-6)
