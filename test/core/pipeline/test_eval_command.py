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

"""`cleanpose eval --masks segmenter` scores the full pipeline, detection included."""

from __future__ import annotations

import json

from pipeline_helpers import save_tiny_net, save_tiny_segmenter, write_box_split
import pytest

from cleanpose_core.cli import main


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp('eval_seg')
    write_box_split(root / 'data', 'test', frames=2)
    save_tiny_net(root / 'net.safetensors')
    save_tiny_segmenter(root / 'seg.safetensors')
    return root


def test_segmenter_masks_run_the_pipeline(tiny, capsys):
    out = tiny / 'eval'
    rc = main(['eval', '--data', str(tiny / 'data'), '--split', 'test', '--masks', 'segmenter',
               '--weights', str(tiny / 'net.safetensors'),
               '--segmenter', str(tiny / 'seg.safetensors'), '--device', 'cpu',
               '--out', str(out), 'pipeline.mask_erode=1', 'pipeline.max_instances=30'])
    assert rc == 0
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['masks'] == 'segmenter' and summary['frames'] == 2
    settings = summary['pipeline']
    assert (settings['mask_erode'], settings['max_instances']) == (1, 30)
    assert (settings['min_score'], settings['segmenter_conf'], settings['track']) == (0.0, 0.05,
                                                                                      False)
    assert summary['segmenter'] == str(tiny / 'seg.safetensors')
    assert len(list((out / 'predictions').rglob('*.pkl'))) == 2
    assert f'results saved to {out}' in capsys.readouterr().out


def test_segmenter_masks_refuse_the_baseline(tiny, tmp_path):
    assert main(['eval', '--data', str(tiny / 'data'), '--masks', 'segmenter',
                 '--method', 'baseline', '--out', str(tmp_path)]) == 1


@pytest.mark.parametrize('extra, message', [
    (['--masks', 'segmenter', 'model.dim=8'], 'model.box_grow=VALUE'),
    (['--masks', 'gt', 'model.box_grow=2'], 'box_grow must be in [0, 1]'),
    (['--masks', 'gt', 'model.box_grow=wide'], 'must be a number'),
    (['--masks', 'gt', 'pipeline.mask_erode=1'], 'segmenter only'),
    (['--masks', 'gt', '--method', 'baseline', 'pipeline.top_trim=0'], 'network only'),
    (['--masks', 'gt', 'pipeline.upright_snap=60'], 'upright_snap'),
    (['--masks', 'gt', 'pipeline.footprint_yaw=50'], 'footprint_yaw'),
    (['--masks', 'segmenter', 'pipeline.mask_erode=-1'], 'mask_erode')])
def test_bad_settings_are_refused(tiny, tmp_path, extra, message, caplog):
    assert main(['eval', '--data', str(tiny / 'data'), '--out', str(tmp_path),
                 '--weights', str(tiny / 'net.safetensors'), '--device', 'cpu', *extra]) == 1
    assert message in caplog.text


@pytest.mark.parametrize('masks', ['gt', 'segmenter'])
def test_box_grow_is_an_inference_setting_of_either_masks(tiny, tmp_path, masks):
    scores = {}
    for grow in ('0', '1'):
        out = tmp_path / grow
        assert main(['eval', '--data', str(tiny / 'data'), '--masks', masks,
                     '--weights', str(tiny / 'net.safetensors'),
                     '--segmenter', str(tiny / 'seg.safetensors'), '--device', 'cpu',
                     '--out', str(out), f'model.box_grow={grow}']) == 0
        summary = json.loads((out / 'summary.json').read_text())
        assert summary['box_grow'] == float(grow)
        scores[grow] = sorted((out / 'predictions').rglob('*.pkl'))
    assert len(scores['0']) == len(scores['1']) == 2


def test_the_upright_prior_applies_to_ground_truth_masks_too(tiny, tmp_path):
    for snap in ('0', '30'):
        out = tmp_path / snap
        assert main(['eval', '--data', str(tiny / 'data'), '--masks', 'gt',
                     '--weights', str(tiny / 'net.safetensors'), '--device', 'cpu',
                     '--out', str(out), f'pipeline.upright_snap={snap}']) == 0
        summary = json.loads((out / 'summary.json').read_text())
        assert (summary['upright_snap'], summary['footprint_yaw']) == (float(snap), 25.0)
