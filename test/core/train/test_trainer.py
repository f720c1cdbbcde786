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

"""Training loop: data order, schedule, outputs, and exact resume (tiny model, tiny data)."""

from __future__ import annotations

import json

from conftest import assert_same_state, make_tiny_dataset, TINY_MODEL
import pytest
from safetensors.torch import load_file

from cleanpose_core.config import load_config, LossWeights
from cleanpose_core.errors import ConfigError, DataError
from cleanpose_core.model.weights import load_weights
from cleanpose_core.train.checkpoint import load_checkpoint
from cleanpose_core.train.runtime import EpochSampler, FINAL_LR_FRACTION, lr_factor
from cleanpose_core.train.trainer import train


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    """Dataset root with 4 train and 2 test frames at 160x120."""
    return make_tiny_dataset(tmp_path_factory.mktemp('tiny_data'))


def _cfg(root, *extra):
    return load_config(None, [f'data.root={root}', *TINY_MODEL, 'train.epochs=2',
                              'train.batch_size=8', 'train.checkpoint_every=3',
                              'train.warmup_steps=2', 'train.device=cpu', 'train.eval_every=0',
                              *extra])


@pytest.mark.parametrize('world_size', [1, 3], ids=['single', 'ddp3'])
def test_sampler_order_is_a_function_of_seed_and_epoch(world_size):
    shards = [EpochSampler(10, seed=5, rank=r, world_size=world_size) for r in range(world_size)]
    for s in shards:
        s.set_epoch(2)
    orders = [list(s) for s in shards]
    assert all(len(o) == len(orders[0]) == len(s) for o, s in zip(orders, shards))
    assert set().union(*map(set, orders)) == set(range(10))  # every instance, padded evenly
    again = EpochSampler(10, seed=5, rank=0, world_size=world_size)
    again.set_epoch(2)
    assert list(again) == orders[0]
    again.set_epoch(3)
    assert list(again) != orders[0]


def test_sampler_skip_drops_consumed_indices():
    s = EpochSampler(12, seed=0)
    s.set_epoch(1)
    full = list(s)
    s.set_epoch(1, skip=8)
    assert list(s) == full[8:]
    assert len(s) == 4


def test_lr_schedule_warms_up_then_decays():
    values = [lr_factor(s, total=100, warmup=10) for s in range(100)]
    assert values[0] == pytest.approx(0.1)
    assert values[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(values[10:], values[11:]))
    assert lr_factor(100, total=100, warmup=10) == pytest.approx(FINAL_LR_FRACTION)


def test_train_writes_run_outputs(tiny_data, tmp_path):
    run = tmp_path / 'run'
    result = train(_cfg(tiny_data, 'train.eval_every=1', 'data.max_val_frames=1'), run)
    lines = [json.loads(x) for x in (run / 'metrics.jsonl').read_text().splitlines()]
    assert result.epochs == 2 and result.steps == 2 * lines[0]['step'] > 0
    kinds = [(line['type'], line['epoch']) for line in lines]
    assert kinds == [('train', 1), ('eval', 1), ('train', 2), ('eval', 2)]
    assert lines[-1]['step'] == result.steps
    assert set(lines[1]['metrics']) == {'iou25', 'iou50', 'iou75', '5deg2cm', '5deg5cm',
                                        '10deg2cm', '10deg5cm'}
    assert lines[0]['loss']['total'] > 0 and lines[0]['instances_per_s'] > 0
    assert load_config(run / 'config.yaml') == _cfg(tiny_data, 'train.eval_every=1',
                                                    'data.max_val_frames=1')
    net = load_weights(result.last_weights)
    assert net.cfg.dim == 16
    assert result.best_weights.is_file()
    state = load_checkpoint(run / 'checkpoints' / 'last.pt')
    assert (state['step'], state['epoch'], state['batch_in_epoch']) == (result.steps, 2, 0)


def test_stopped_run_resumes_to_the_same_weights(tiny_data, tmp_path):
    full = train(_cfg(tiny_data), tmp_path / 'full')
    stopped = train(_cfg(tiny_data, 'train.max_steps=3'), tmp_path / 'resumed')
    assert stopped.steps == 3
    state = load_checkpoint(tmp_path / 'resumed' / 'checkpoints' / 'last.pt')
    steps_per_epoch = full.steps // 2
    assert state['step'] == state['epoch'] * steps_per_epoch + state['batch_in_epoch'] == 3
    resumed = train(_cfg(tiny_data, 'train.max_steps=0'), tmp_path / 'resumed', resume=True)
    assert resumed.steps == full.steps
    assert_same_state(load_file(full.last_weights), load_file(resumed.last_weights))
    lines = (tmp_path / 'resumed' / 'metrics.jsonl').read_text().splitlines()
    assert [json.loads(x)['epoch'] for x in lines] == [1, 2]  # the partial line was replaced


def test_resume_refuses_another_model(tiny_data, tmp_path):
    train(_cfg(tiny_data, 'train.max_steps=2'), tmp_path / 'run')
    with pytest.raises(ConfigError, match='model config differs'):
        train(_cfg(tiny_data, 'model.dim=24'), tmp_path / 'run', resume=True)


def test_resume_without_checkpoint(tmp_path):
    with pytest.raises(DataError, match='nothing to resume'):
        train(_cfg(tmp_path), tmp_path / 'empty', resume=True)


def test_missing_data_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match='split directory does not exist'):
        train(_cfg(tmp_path / 'nothing'), tmp_path / 'run')


def test_init_starts_from_the_given_weights(tiny_data, tmp_path):
    first = train(_cfg(tiny_data, 'train.max_steps=2'), tmp_path / 'first')
    start = load_file(first.last_weights)
    tuned = train(_cfg(tiny_data, f'train.init={first.last_weights}', 'train.lr=1e-9',
                       'train.max_steps=1'), tmp_path / 'tuned')
    after = load_file(tuned.last_weights)
    fresh = load_file(train(_cfg(tiny_data, 'train.max_steps=1', 'train.lr=1e-9'),
                            tmp_path / 'fresh').last_weights)
    params = [k for k in start if 'dictionary' not in k and start[k].is_floating_point()]
    assert params
    assert max((after[k] - start[k]).abs().max().item() for k in params) < 1e-6
    assert max((fresh[k] - start[k]).abs().max().item() for k in params) > 1e-3


def test_init_refuses_another_architecture(tiny_data, tmp_path):
    first = train(_cfg(tiny_data, 'train.max_steps=1'), tmp_path / 'first')
    with pytest.raises(ConfigError, match=r"differs from the run config in \['dim'"):
        train(_cfg(tiny_data, 'model.dim=24', f'train.init={first.last_weights}'),
              tmp_path / 'tuned')


def test_float_override_in_exponent_notation():
    # YAML 1.1 reads 5e-4 (no dot) as a string; the config must still take it.
    assert load_config(None, ['train.lr=5e-4']).train.lr == pytest.approx(5e-4)
    with pytest.raises(ConfigError, match='train.lr must be a float'):
        load_config(None, ['train.lr=fast'])


def test_mask_noise_trains_from_its_own_cache(tiny_data, tmp_path):
    """data.mask_noise builds (and names) a separate instance cache; the clean one stays."""
    cache_dir = tmp_path / 'cache'
    train(_cfg(tiny_data, 'train.epochs=1', f'train.cache_dir={cache_dir}',
               'data.mask_noise=0.5'), tmp_path / 'run')
    assert [p.name for p in cache_dir.iterdir()] == ['train_p128_s16_mn0.5.npz']
    with pytest.raises(ConfigError, match='mask_noise'):
        _cfg(tiny_data, 'data.mask_noise=2')


def test_loss_weights_come_from_the_config(tiny_data, tmp_path):
    """train.loss.<term>=0 takes that term out of the logged total."""
    run = tmp_path / 'run'
    train(_cfg(tiny_data, 'train.epochs=1', 'train.loss.rot=0', 'train.loss.point_nocs=0'), run)
    line = json.loads((run / 'metrics.jsonl').read_text().splitlines()[0])
    loss = line['loss']
    others = sum(value * getattr(LossWeights(), name) for name, value in loss.items()
                 if name not in ('total', 'rot', 'point_nocs'))
    assert loss['rot'] > 0 and loss['total'] == pytest.approx(others, rel=1e-3)
    with pytest.raises(ConfigError, match='>= 0'):
        _cfg(tiny_data, 'train.loss.trans=-1')
