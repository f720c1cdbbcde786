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

"""predict / demo / bench commands and the eval predictors, with tiny untrained models."""

from __future__ import annotations

import json

import cv2
import numpy as np
from pipeline_helpers import (box_record, box_scene, save_tiny_net, save_tiny_segmenter,
                              write_box_split)
import pytest

from cleanpose_core.cli import main
from cleanpose_core.config import PipelineConfig
from cleanpose_core.data.nocs import NocsSplit, read_camera_file
from cleanpose_core.eval.evaluate import evaluate, network_predictor
from cleanpose_core.model.weights import load_weights
from cleanpose_core.pipeline.bench import (bench_frames, benchmark, format_table, percentiles,
                                           TimedGtSegmenter)
from cleanpose_core.pipeline.eval_segmenter import predict_frame_fn
from cleanpose_core.pipeline.pipeline import PosePipeline


@pytest.fixture(scope='module')
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp('commands')
    return {'net': save_tiny_net(root / 'net.safetensors'),
            'seg': save_tiny_segmenter(root / 'seg.safetensors')}


def _cfg(paths, **kw):
    base = dict(weights=str(paths['net']), segmenter_weights=str(paths['seg']), device='cpu',
                segmenter_imgsz=64, segmenter_conf=0.0, min_score=0.0)
    base.update(kw)
    return PipelineConfig(**base)


def _write_frame_files(tmp_path, depth_scale=1000.0, depth_rows=None):
    frame, _ = box_scene(2)
    cv2.imwrite(str(tmp_path / 'c.png'), frame.color[..., ::-1])
    depth = np.round(frame.depth * depth_scale).astype(np.uint16)
    if depth_rows is not None:
        depth = depth[:depth_rows]
    cv2.imwrite(str(tmp_path / 'd.png'), depth)
    K = frame.K
    (tmp_path / 'cam.json').write_text(json.dumps(
        {'fx': K[0, 0], 'fy': K[1, 1], 'cx': K[0, 2], 'cy': K[1, 2], 'width': 160,
         'height': 120, 'depth_scale': depth_scale}))
    return frame


def test_predict_command_writes_poses_and_image(paths, tmp_path, capsys):
    frame = _write_frame_files(tmp_path)
    out = tmp_path / 'out'
    code = main(['predict', '--color', str(tmp_path / 'c.png'), '--depth',
                 str(tmp_path / 'd.png'), '--camera', str(tmp_path / 'cam.json'),
                 '--weights', str(paths['net']), '--segmenter', str(paths['seg']),
                 '--out', str(out), 'pipeline.segmenter_imgsz=64',
                 'pipeline.segmenter_conf=0.0', 'pipeline.min_score=0.0',
                 'pipeline.device=cpu', 'pipeline.max_instances=3'])
    assert code == 0
    poses = json.loads((out / 'poses.json').read_text())
    assert 1 <= len(poses['objects']) <= 3
    obj = poses['objects'][0]
    assert obj['category'] in ('bottle', 'bowl', 'camera', 'can', 'laptop', 'mug')
    assert np.asarray(obj['T_cam_obj']).shape == (4, 4)
    np.testing.assert_allclose(np.asarray(obj['T_cam_obj'])[:3, 3], obj['t_cam_obj'],
                               atol=1e-5)
    np.testing.assert_allclose(obj['extents_m'], obj['scale'] * np.asarray(obj['size']),
                               atol=1e-4)
    assert set(poses['timings_ms']) >= {'segment', 'instances', 'network', 'track', 'total'}
    image = cv2.imread(str(out / 'annotated.png'))
    assert image.shape == frame.color.shape
    assert str(out / 'poses.json') in capsys.readouterr().out


def test_predict_rejects_misaligned_depth(paths, tmp_path):
    _write_frame_files(tmp_path, depth_rows=100)
    code = main(['predict', '--color', str(tmp_path / 'c.png'), '--depth',
                 str(tmp_path / 'd.png'), '--camera', str(tmp_path / 'cam.json'),
                 '--weights', str(paths['net']), '--segmenter', str(paths['seg']),
                 '--out', str(tmp_path / 'out')])
    assert code == 1
    assert not (tmp_path / 'out' / 'poses.json').exists()


@pytest.mark.parametrize('content,match', [
    ('{"fx": 1, "fy": 1, "cx": 0}', r"missing keys \['cy'\]"),
    ('[1, 2]', 'must hold an object'),
    ('{"fx": 0, "fy": 1, "cx": 0, "cy": 0}', 'must be > 0'),
    ('not json', 'cannot read camera file'),
], ids=['missing-key', 'list', 'zero-fx', 'garbage'])
def test_read_camera_file_errors(tmp_path, content, match):
    from cleanpose_core.errors import DataError

    path = tmp_path / 'cam.json'
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        read_camera_file(path)


def test_read_camera_file_scale(tmp_path):
    _write_frame_files(tmp_path, depth_scale=4000.0)
    K, scale, size = read_camera_file(tmp_path / 'cam.json')
    assert scale == 4000.0 and size == (160, 120) and K[0, 0] == 150.0


@pytest.fixture(scope='module')
def split(tmp_path_factory):
    root = tmp_path_factory.mktemp('split')
    write_box_split(root, 'test', frames=2, n_objects=3)
    return NocsSplit(root, 'test')


def test_gt_mask_pipeline_equals_the_network_predictor(paths, split):
    # Same preprocessing, same per-frame seeds, same priors: the pipeline over
    # ground-truth masks must reproduce eval's network_predictor exactly.
    cfg = _cfg(paths)
    ours = predict_frame_fn(cfg, masks='gt')
    theirs = network_predictor(load_weights(paths['net']), seed=0, priors=cfg)
    for i in range(len(split)):
        record = split[i]
        a, b = ours(record), theirs(record)
        np.testing.assert_array_equal(a['pred_class_ids'], b['pred_class_ids'])
        np.testing.assert_allclose(a['pred_RTs'], b['pred_RTs'], atol=1e-6)
        np.testing.assert_allclose(a['pred_scales'], b['pred_scales'], atol=1e-6)


def test_evaluate_with_the_segmenter_predictor(paths, split, tmp_path):
    summary = evaluate(predict_frame_fn(_cfg(paths, max_instances=2)), split,
                       out_dir=tmp_path / 'eval', plots=False, info={'masks': 'segmenter'})
    assert summary.frames == 2 and summary.instances == 6
    assert 0 < summary.predictions <= 4
    written = json.loads((tmp_path / 'eval' / 'summary.json').read_text())
    assert written['masks'] == 'segmenter' and set(written['metrics']) >= {'iou50', '10deg5cm'}


@pytest.mark.parametrize('track,resets', [(True, 2), (False, 3)])
def test_tracking_eval_resets_the_tracker_only_at_a_new_scene(paths, split, track, resets):
    import dataclasses

    pipeline = PosePipeline.from_config(_cfg(paths, track=track), gt_masks=True)
    calls = []
    reset = pipeline.tracker.reset
    pipeline.tracker.reset = lambda: (calls.append(1), reset())
    predict = predict_frame_fn(pipeline.cfg, 'gt', pipeline)
    first = split[0]
    for record in (first, split[1], dataclasses.replace(first, scene='other')):
        predict(record)
    assert len(calls) == resets


def test_predict_frame_fn_rejects_unknown_mode(paths):
    with pytest.raises(ValueError, match="masks must be 'segmenter' or 'gt'"):
        predict_frame_fn(_cfg(paths), masks='sam')


def test_demo_runs_and_scores(paths, tmp_path, capsys):
    out = tmp_path / 'demo'
    code = main(['demo', '--out', str(out), '--frames', '2', '--objects', '2', '--masks', 'gt',
                 f'pipeline.weights={paths["net"]}', 'pipeline.device=cpu'])
    assert code == 0
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['frames'] == 2 and summary['masks'] == 'gt'
    assert summary['ground_truth_instances'] >= 2
    assert summary['matched'] == summary['predictions'] == summary['ground_truth_instances']
    assert summary['tracking']['objects'] >= 1
    assert summary['errors']['rot_deg']['median'] is not None
    assert len(summary['images']) == 2 and (out / 'frames' / '0001.png').is_file()
    assert 'annotated frames' in capsys.readouterr().out


@pytest.mark.parametrize('args', [['--frames', '0'], ['--frames', '201'], ['--objects', '21']])
def test_demo_refuses_bad_sizes(tmp_path, caplog, args):
    assert main(['demo', '--out', str(tmp_path / 'demo'), *args]) == 1
    assert '--frames must be in 1..200 and --objects in 1..20' in caplog.text
    assert not (tmp_path / 'demo').exists()


def test_percentiles():
    assert percentiles(list(range(1, 11))) == {'median': 5.5, 'p90': 9.1}


def test_benchmark_row_and_table(paths):
    pipe = PosePipeline.from_config(_cfg(paths))
    pipe.segmenter = TimedGtSegmenter(pipe.segmenter)
    frames = [(*box_scene(3, seed=s), box_record(3, seed=s)) for s in range(2)]
    row = benchmark(pipe, frames, runs=4, warmup=1, use_gt=True)
    assert row['objects_found_mean'] == 3.0 and row['runs'] == 4
    assert set(row['stages']) == {'segment', 'instances', 'network', 'track'}
    assert row['stages']['segment']['median'] > 0.0         # the segmenter really ran
    assert row['end_to_end_ms']['median'] <= row['end_to_end_ms']['p90']
    # fps is rounded to 2 decimals, more than 1 % of a heavily loaded machine's 0.2 fps.
    assert row['fps'] == pytest.approx(1000.0 / row['end_to_end_ms']['median'], rel=1e-2,
                                       abs=0.006)
    table = format_table({'cpu': {'3': row}, 'info': {}})
    assert table.splitlines()[2].startswith('| cpu | 3 |')


def test_bench_frames_have_exactly_n_objects():
    frames = bench_frames(2, count=1, width=160, height=120)
    frame, seg, record = frames[0]
    assert len(seg) == 2 == len(record)
    assert frame.color.shape == (120, 160, 3) and frame.depth.dtype == np.float32


def test_synth_sequence_is_a_moving_camera_over_one_scene():
    from cleanpose_core.pipeline.demo import synth_sequence

    items = list(synth_sequence(2, objects=2, seed=3, width=160, height=120))
    (f0, r0), (f1, r1) = items
    assert f0.color.shape == (120, 160, 3) and f1.stamp_ns - f0.stamp_ns == 33_333_333
    assert sorted(r0.model_list) == sorted(r1.model_list)   # same objects
    assert not np.allclose(f0.depth, f1.depth)              # the camera moved
