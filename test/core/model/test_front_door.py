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

"""Confounder dictionary (FIFO) and the front-door encoder."""

from __future__ import annotations

from model_fixtures import make_batch, tiny_config
import pytest
import torch

from cleanpose_core.model import CleanPoseNet
from cleanpose_core.model.front_door import ConfounderDictionary, FrontDoorEncoder


def _rows(values, dim=2):
    return torch.tensor(values, dtype=torch.float32)[:, None].expand(-1, dim).clone()


def test_fifo_fills_then_wraps_replacing_the_oldest():
    d = ConfounderDictionary(size=3, dim=2)
    cats = torch.tensor([1, 1])
    d.enqueue(cats, _rows([1, 2]))
    assert d.count.tolist() == [0, 2, 0, 0, 0, 0] and int(d.pointer[1]) == 2
    d.enqueue(cats, _rows([3, 4]))                 # 4 overwrites slot 0 (entry 1, oldest)
    assert d.entries[1, :, 0].tolist() == [4, 2, 3]
    assert int(d.pointer[1]) == 1 and int(d.count[1]) == 3
    d.enqueue(torch.tensor([1]), _rows([5]))       # replaces 2, the oldest now
    assert d.entries[1, :, 0].tolist() == [4, 5, 3]
    assert int(d.pointer[1]) == 2
    assert float(d.entries[0].abs().sum()) == 0.0  # other categories untouched


def test_fifo_batch_larger_than_queue_keeps_the_newest():
    d = ConfounderDictionary(size=3, dim=2)
    d.enqueue(torch.tensor([4] * 5), _rows([1, 2, 3, 4, 5]))
    assert sorted(d.entries[4, :, 0].tolist()) == [3, 4, 5]
    assert int(d.count[4]) == 3 and int(d.pointer[4]) == 0


def test_enqueue_detaches():
    d = ConfounderDictionary(size=2, dim=2)
    x = torch.ones(1, 2, requires_grad=True)
    d.enqueue(torch.tensor([0]), x * 2)
    assert not d.entries.requires_grad


def test_select_eval_uses_all_valid_entries_in_slot_order():
    d = ConfounderDictionary(size=4, dim=2)
    d.enqueue(torch.tensor([2, 2]), _rows([7, 8]))
    entries, valid = d.select(torch.tensor([2, 0]))
    assert entries.shape == (2, 4, 2)
    assert valid.tolist() == [[True, True, False, False], [False] * 4]
    assert entries[0, :2, 0].tolist() == [7, 8]


def test_select_train_samples_valid_entries_only():
    d = ConfounderDictionary(size=6, dim=2)
    d.enqueue(torch.tensor([3] * 4), _rows([1, 2, 3, 4]))
    g = torch.Generator().manual_seed(0)
    entries, valid = d.select(torch.tensor([3, 3, 1]), sample=3, generator=g)
    assert entries.shape == (3, 3, 2)
    assert valid.tolist() == [[True] * 3, [True] * 3, [False] * 3]
    drawn = entries[0, :, 0].tolist()
    assert len(set(drawn)) == 3 and set(drawn) <= {1, 2, 3, 4}
    assert torch.equal(entries[0], entries[1])      # one draw per category and step


def test_front_door_eval_ignores_randomness_train_does_not():
    torch.manual_seed(0)
    fd = FrontDoorEncoder(dim=8, heads=2, dict_size=10, dict_sample=2)
    fd.dictionary.enqueue(torch.zeros(10, dtype=torch.long), torch.randn(10, 8))
    x = torch.randn(2, 5, 8)
    cats = torch.zeros(2, dtype=torch.long)
    fd.eval()
    assert torch.equal(fd(x, cats), fd(x, cats))
    fd.train()
    a = fd(x, cats, torch.Generator().manual_seed(1))
    b = fd(x, cats, torch.Generator().manual_seed(2))
    assert not torch.equal(a, b)


def test_empty_dictionary_is_finite():
    fd = FrontDoorEncoder(dim=8, heads=2, dict_size=4, dict_sample=2)
    out = fd(torch.randn(3, 5, 8), torch.tensor([0, 3, 5]))
    assert bool(torch.isfinite(out).all())


def test_training_step_enqueues_pooled_features():
    torch.manual_seed(0)
    net = CleanPoseNet(tiny_config(distill=False))
    inp, tgt = make_batch(3, category_ids=torch.tensor([2, 2, 5]))
    net.training_step(inp, tgt)
    d = net.front_door.dictionary
    assert d.count.tolist() == [0, 2, 0, 0, 1, 0]


def test_seed_dictionary():
    torch.manual_seed(0)
    net = CleanPoseNet(tiny_config(distill=False))
    inp, _ = make_batch(4, category_ids=torch.tensor([1, 1, 3, 6]))
    feats = net.dictionary_features(inp)
    assert feats.shape == (4, net.cfg.dim)
    net.seed_dictionary(inp.category_ids, feats)
    assert net.front_door.dictionary.count.tolist() == [2, 0, 1, 0, 0, 1]
    with pytest.raises(ValueError, match=r'feats must have shape \(B, 32\) with B=4'):
        net.seed_dictionary(inp.category_ids, feats[:, :5])
    off = CleanPoseNet(tiny_config(distill=False, front_door=False))
    with pytest.raises(ValueError, match='no confounder dictionary'):
        off.seed_dictionary(inp.category_ids, feats)
