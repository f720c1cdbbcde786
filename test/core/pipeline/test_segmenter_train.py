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

"""`cleanpose train-segmenter`: a one-epoch smoke run on a few tiny images."""

from __future__ import annotations

import json

from pipeline_helpers import write_box_split
import pytest
from safetensors.torch import load_file
import torch

from cleanpose_core.categories import CATEGORIES
from cleanpose_core.cli import main
from cleanpose_core.pipeline.segmenter import YoloSegmenter
from cleanpose_core.pipeline.segmenter_weights import read_segmenter_metadata


@pytest.mark.slow
def test_train_segmenter_smoke(tmp_path, capsys):
    data = tmp_path / 'data'
    write_box_split(data, 'train', frames=3, n_objects=3, height=96, width=128)
    write_box_split(data, 'test', frames=2, n_objects=3, height=96, width=128)
    out = tmp_path / 'seg'
    code = main(['train-segmenter', '--data', str(data), '--epochs', '1', '--imgsz', '64',
                 '--batch', '2', '--out', str(out), 'yolo.mosaic=0.0'])
    assert code == 0
    summary = json.loads((out / 'summary.json').read_text())
    for key in ('mask_map50', 'mask_map50_95', 'box_map50', 'box_map50_95'):
        assert 0.0 <= summary[key] <= 1.0
    # The safetensors file scores what ultralytics' own best.pt scored.
    assert summary['mask_map50'] == pytest.approx(summary['trainer_best_pt_mask_map50'],
                                                  abs=1e-3)
    weights = out / 'segmenter.safetensors'
    meta = read_segmenter_metadata(weights)
    assert meta['names'] == list(CATEGORIES) and meta['epochs'] == 1
    assert meta['mask_map50'] == summary['mask_map50']
    assert len(load_file(str(weights))) > 100
    seg = YoloSegmenter.from_weights(weights, imgsz=64)
    assert seg.class_to_category == {i: i + 1 for i in range(6)}
    assert str(weights) in capsys.readouterr().out

    # Fine-tuning starts from that file: with a zero learning rate its convolutions
    # come out unchanged (batch-norm statistics still move), unlike a fresh start.
    tuned = tmp_path / 'tuned'
    code = main(['train-segmenter', '--data', str(data), '--epochs', '1', '--imgsz', '64',
                 '--batch', '2', '--out', str(tuned), '--init', str(weights), 'yolo.mosaic=0.0',
                 'yolo.lr0=0.0', 'yolo.warmup_epochs=0.0', 'yolo.optimizer=SGD'])
    assert code == 0
    before, after = load_file(str(weights)), load_file(str(tuned / 'segmenter.safetensors'))
    conv = [k for k in before if k.endswith('conv.weight')]
    assert len(conv) > 50
    assert all(torch.equal(before[k], after[k]) for k in conv)
    assert json.loads((tuned / 'summary.json').read_text())['model'] == str(weights)


@pytest.mark.parametrize('argv,match', [
    (['--imgsz', '100'], 'multiple of 32'),
    (['--epochs', '0'], '--epochs and --batch'),
    (['--device', 'tpu'], '--device must be'),
    (['mosaic=0'], 'yolo.KEY=VALUE'),
    (['--init', 'shipped', '--resume'], 'exclude each other'),
], ids=['imgsz', 'epochs', 'device', 'override', 'init-resume'])
def test_train_segmenter_rejects_bad_arguments(tmp_path, argv, match, caplog):
    write_box_split(tmp_path / 'data', 'train', frames=1)
    code = main(['train-segmenter', '--data', str(tmp_path / 'data'), '--out',
                 str(tmp_path / 'o'), *argv])
    assert code == 1
    assert match in caplog.text
