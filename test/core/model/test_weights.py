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

"""Weights files: round trip and every refusal path."""

from __future__ import annotations

from dataclasses import replace
import json

from model_fixtures import make_batch, tiny_config, tiny_teacher
import pytest
from safetensors import safe_open
from safetensors.torch import save_file
import torch

from cleanpose_core.config import ModelConfig
from cleanpose_core.errors import WeightsError
from cleanpose_core.model import CleanPoseNet, load_weights, save_teacher, save_weights
from cleanpose_core.model.weights import read_weights_metadata


@pytest.fixture
def trained(tmp_path):
    torch.manual_seed(0)
    net = CleanPoseNet(tiny_config())
    net.attach_teacher(tiny_teacher())
    inp, tgt = make_batch(4)
    opt = torch.optim.SGD(net.parameters(), lr=1e-2)
    net.training_step(inp, tgt).total.backward()
    opt.step()
    net.training_step(inp, tgt)                       # dictionary holds entries now
    path = save_weights(tmp_path / 'net.safetensors', net, {'note': 'test', 'epochs': 3})
    return net, path, inp


def _read(path):
    with safe_open(str(path), framework='pt') as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())


def test_round_trip_gives_identical_outputs(trained):
    net, path, inp = trained
    loaded = load_weights(path)
    assert not loaded.training
    assert loaded.cfg == net.cfg
    assert int(loaded.front_door.dictionary.count.sum()) > 0
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    a, b = net.predict(inp), loaded.predict(inp)
    for name in ('R_cam_obj', 't_cam_obj', 'scales', 'sizes'):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def test_metadata(trained):
    _, path, _ = trained
    meta = read_weights_metadata(path)
    assert meta['kind'] == 'cleanpose_net'
    assert meta['format_version'] == '1'
    assert json.loads(meta['model_config'])['name'] == 'tiny'
    assert meta['note'] == 'test' and meta['epochs'] == '3'
    assert 'git_commit' in meta and 'package_version' in meta
    assert not list(path.parent.glob('*.tmp'))


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match='does not exist'):
        load_weights(tmp_path / 'nope.safetensors')


@pytest.mark.parametrize('damage', ['truncate', 'garbage', 'empty'])
def test_corrupt_file(trained, damage):
    _, path, _ = trained
    data = path.read_bytes()
    path.write_bytes({'truncate': data[:len(data) // 2], 'garbage': b'\x00\xff' * 64,
                      'empty': b''}[damage])
    with pytest.raises(WeightsError, match='not a readable safetensors file'):
        load_weights(path)


def test_wrong_kind(tmp_path):
    path = save_teacher(tmp_path / 'teacher.safetensors', tiny_teacher())
    with pytest.raises(WeightsError, match="holds 'cleanpose_teacher' weights; expected "
                                           "'cleanpose_net'"):
        load_weights(path)


def _rewrite(path, tensors=None, **meta_changes):
    old_tensors, meta = _read(path)
    meta.update(meta_changes)
    save_file(old_tensors if tensors is None else tensors, str(path), metadata=meta)


def test_newer_format_version(trained):
    _, path, _ = trained
    _rewrite(path, format_version='2')
    with pytest.raises(WeightsError, match='weights format 2 .* upgrade cleanpose'):
        load_weights(path)


def test_config_from_newer_version(trained):
    _, path, _ = trained
    cfg = json.loads(_read(path)[1]['model_config'])
    cfg['fancy_new_option'] = 3
    _rewrite(path, model_config=json.dumps(cfg))
    with pytest.raises(WeightsError, match="incompatible .*unknown key 'model.fancy_new_option'"):
        load_weights(path)


def test_file_from_before_the_dense_nocs_head_loads_without_it(trained):
    net, path, inp = trained
    tensors, _ = _read(path)
    cfg = json.loads(_read(path)[1]['model_config'])
    del cfg['dense_nocs'], cfg['box_grow']
    old = {k: v for k, v in tensors.items() if not k.startswith('point_nocs_head.')}
    assert len(old) < len(tensors)
    _rewrite(path, old, model_config=json.dumps(cfg))
    loaded = load_weights(path)
    assert not loaded.cfg.dense_nocs and loaded.point_nocs_head is None
    # box_grow, an inference setting newer than such files, takes its default
    assert loaded.cfg.box_grow == ModelConfig().box_grow
    # the regressed centre is the same (box growth, which follows the rotation, off)
    shared_cfg = net.cfg
    try:
        net.cfg = replace(net.cfg, box_grow=0.0)
        loaded.cfg = replace(loaded.cfg, box_grow=0.0)
        assert torch.equal(loaded.predict(inp).t_cam_obj, net.predict(inp).t_cam_obj)
    finally:
        net.cfg = shared_cfg


def test_missing_and_unexpected_keys(trained):
    _, path, _ = trained
    tensors, _ = _read(path)
    tensors.pop('pose_head.out.0.weight')
    tensors['extra.weight'] = torch.zeros(2)
    _rewrite(path, tensors)
    with pytest.raises(WeightsError, match=r"missing keys \['pose_head.out.0.weight'\]; "
                                           r"unexpected keys \['extra.weight'\]"):
        load_weights(path)


def test_shape_mismatch(trained):
    _, path, _ = trained
    cfg = json.loads(_read(path)[1]['model_config'])
    cfg['num_keypoints'] += 1
    _rewrite(path, model_config=json.dumps(cfg))
    with pytest.raises(WeightsError, match=r'shape mismatch \[.detector.queries \(6, 32\) vs '
                                           r'\(7, 32\)'):
        load_weights(path)


def test_save_rejects_non_network(tmp_path):
    with pytest.raises(TypeError, match='CleanPoseNet'):
        save_weights(tmp_path / 'x.safetensors', torch.nn.Linear(2, 2))
