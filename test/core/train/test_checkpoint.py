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

"""Checkpoints: atomic, weights_only-loadable, exact round trip of optimiser and RNG state."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from cleanpose_core.errors import DataError
from cleanpose_core.train.checkpoint import (capture_rng_state, increment_path, load_checkpoint,
                                             restore_rng_state, save_checkpoint)


def _draws(generator: torch.Generator) -> tuple:
    return (random.random(), float(np.random.rand()), float(torch.rand(1)),
            float(torch.rand(1, generator=generator)), float(np.random.randn()))


def _model_and_optimizer(seed: int):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
    return net, opt, sched


def _train_steps(net, opt, sched, n: int) -> None:
    for _ in range(n):
        x = torch.randn(5, 4)
        loss = net(x).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()


def test_round_trip_restores_model_optimizer_and_rng(tmp_path):
    net, opt, sched = _model_and_optimizer(0)
    gen = torch.Generator().manual_seed(3)
    _train_steps(net, opt, sched, 3)
    random.random(), np.random.randn()  # leave a cached numpy gaussian in the state
    rng = capture_rng_state()
    rng['generator'] = gen.get_state()
    path = save_checkpoint(tmp_path / 'ck' / 'last.pt',
                           {'model': net.state_dict(), 'optimizer': opt.state_dict(),
                            'scheduler': sched.state_dict(), 'rng': rng, 'step': 3})
    expected_draws = _draws(gen)
    _train_steps(net, opt, sched, 2)
    expected_params = [p.detach().clone() for p in net.parameters()]

    state = load_checkpoint(path)
    net2, opt2, sched2 = _model_and_optimizer(1)  # different init: everything must come back
    net2.load_state_dict(state['model'])
    opt2.load_state_dict(state['optimizer'])
    sched2.load_state_dict(state['scheduler'])
    restore_rng_state(state['rng'])
    gen2 = torch.Generator()
    gen2.set_state(state['rng']['generator'])
    assert state['step'] == 3
    assert _draws(gen2) == expected_draws
    _train_steps(net2, opt2, sched2, 2)
    for a, b in zip(expected_params, net2.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert sched2.get_last_lr() == sched.get_last_lr()


def test_checkpoint_leaves_no_temp_file_and_replaces_atomically(tmp_path):
    path = tmp_path / 'last.pt'
    save_checkpoint(path, {'step': 1})
    save_checkpoint(path, {'step': 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ['last.pt']
    assert load_checkpoint(path)['step'] == 2


def test_refuses_state_that_weights_only_loading_would_refuse(tmp_path):
    with pytest.raises(TypeError, match=r"state\['extra'\] \(set\)"):
        save_checkpoint(tmp_path / 'x.pt', {'extra': {1, 2}})
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize('content', [b'', b'not a checkpoint', None],
                         ids=['empty', 'garbage', 'truncated'])
def test_corrupt_checkpoint_is_a_data_error(tmp_path, content):
    path = tmp_path / 'last.pt'
    if content is None:
        save_checkpoint(path, {'step': 1, 'x': torch.zeros(1000)})
        content = path.read_bytes()[:200]
    path.write_bytes(content)
    with pytest.raises(DataError, match='cannot read the checkpoint'):
        load_checkpoint(path)


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / 'evil.pt'
    torch.save({'format': 1, 'fn': np.random.default_rng}, path)  # a global, not plain data
    with pytest.raises(DataError, match='cannot read the checkpoint'):
        load_checkpoint(path)


def test_other_format_is_refused(tmp_path):
    path = tmp_path / 'old.pt'
    torch.save({'format': 0, 'step': 1}, path)
    with pytest.raises(DataError, match='found 0'):
        load_checkpoint(path)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(DataError, match='does not exist'):
        load_checkpoint(tmp_path / 'nope.pt')


def test_increment_path(tmp_path):
    assert increment_path(tmp_path / 'exp') == tmp_path / 'exp'
    (tmp_path / 'exp').mkdir()
    assert increment_path(tmp_path / 'exp') == tmp_path / 'exp-2'
    (tmp_path / 'exp-2').mkdir()
    assert increment_path(tmp_path / 'exp') == tmp_path / 'exp-3'
    assert increment_path(tmp_path / 'exp', exist_ok=True) == tmp_path / 'exp'
