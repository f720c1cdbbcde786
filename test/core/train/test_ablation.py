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

"""The ablation command: four variants with a (tiny) teacher, the reference, the table."""

from __future__ import annotations

import dataclasses
import json

from conftest import make_tiny_dataset, TINY_MODEL
import pytest

from cleanpose_core.config import load_config
from cleanpose_core.errors import ConfigError
from cleanpose_core.eval.ablation import run_ablation, VARIANTS
from cleanpose_core.eval.evaluate import METRIC_KEYS
from cleanpose_core.model.teacher import save_teacher, TeacherConfig, TeacherEncoder
from cleanpose_core.model.weights import read_weights_metadata


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('ablation')
    data = make_tiny_dataset(root / 'data')
    teacher = save_teacher(root / 'teacher.safetensors',
                           TeacherEncoder(TeacherConfig(dim=16, width=16, num_points=32)))
    overrides = [o for o in TINY_MODEL if o != 'model.distill=false']
    cfg = load_config(None, [f'data.root={data}', *overrides, f'model.teacher={teacher}',
                             'model.teacher_dim=16', 'train.batch_size=8', 'train.device=cpu',
                             'train.warmup_steps=1'])
    return cfg, root


@pytest.mark.slow
def test_ablation_trains_every_variant_and_writes_the_table(setup):
    cfg, root = setup
    out = root / 'out'
    summary = run_ablation(cfg, out, epochs=1, seeds=[0], split='test', max_frames=1)
    assert list(summary['variants']) == [v.name for v in VARIANTS]
    for variant in VARIANTS:
        row = summary['variants'][variant.name]
        assert (row['front_door'], row['distill']) == (variant.front_door, variant.distill)
        assert set(row['mean']) == set(METRIC_KEYS) and row['std'] == {k: 0.0
                                                                       for k in METRIC_KEYS}
        weights = row['seeds']['0']['weights']
        meta = json.loads(read_weights_metadata(weights)['model_config'])
        assert (meta['front_door'], meta['distill']) == (variant.front_door, variant.distill)
    assert summary['budget']['epochs'] == 1 and summary['budget']['steps_per_run'] >= 1
    assert set(summary['reference']['metrics']) == set(METRIC_KEYS)
    assert json.loads((out / 'summary.json').read_text()) == summary
    table = (out / 'ablation.md').read_text()
    for name in ('baseline', '+front-door', '+distillation', 'full', 'geometric reference'):
        assert f'| {name} |' in table
    assert 'Budget per run: 1 epochs' in table

    # A restart reuses the finished runs instead of training them again.
    stamp = (out / 'runs' / 'full-s0' / 'weights' / 'last.safetensors').stat().st_mtime_ns
    again = run_ablation(cfg, out, epochs=1, seeds=[0], split='test', max_frames=1)
    assert (out / 'runs' / 'full-s0' / 'weights' / 'last.safetensors').stat().st_mtime_ns \
        == stamp
    assert again['variants']['full']['mean'] == summary['variants']['full']['mean']
    assert summary['scoring']['upright_snap'] == cfg.pipeline.upright_snap > 0
    assert 'scored with the table priors (upright_snap=' in table


def test_ablation_scores_finished_runs_again_with_other_settings(setup):
    cfg, root = setup
    first = root / 'first'
    run_ablation(cfg, first, epochs=1, seeds=[0], split='test', max_frames=1,
                 variants=VARIANTS[:1])
    weights = first / 'runs' / 'baseline-s0' / 'weights' / 'last.safetensors'
    stamp = weights.stat().st_mtime_ns
    raw = dataclasses.replace(
        cfg, pipeline=dataclasses.replace(cfg.pipeline, upright_snap=0.0),
        model=dataclasses.replace(cfg.model, box_grow=0.0))
    summary = run_ablation(raw, root / 'raw', epochs=1, seeds=[0], split='test',
                           max_frames=1, variants=VARIANTS[:1], runs=first / 'runs')
    assert weights.stat().st_mtime_ns == stamp and not (root / 'raw' / 'runs').exists()
    assert summary['scoring']['upright_snap'] == 0 and summary['scoring']['box_grow'] == 0
    assert 'no table priors (pipeline.upright_snap=0), model.box_grow=0' in \
        (root / 'raw' / 'ablation.md').read_text()
    info = json.loads((root / 'raw' / 'eval' / 'baseline-s0' / 'summary.json').read_text())
    assert info['upright_snap'] == 0 and info['box_grow'] == 0

    # Finished runs of another budget are refused, not reported under this one.
    with pytest.raises(ConfigError, match='trained 1 epochs; this ablation asks for 2'):
        run_ablation(raw, root / 'raw2', epochs=2, seeds=[0], split='test', max_frames=1,
                     variants=VARIANTS[:1], runs=first / 'runs')
