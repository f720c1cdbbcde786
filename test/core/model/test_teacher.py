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

"""Teacher encoder, its pretraining, its files and `cleanpose train-teacher`."""

from __future__ import annotations

import argparse
import json

from model_fixtures import make_batch, tiny_config, TINY_TEACHER, tiny_teacher
import numpy as np
import pytest
import torch
from torch.testing import assert_close

from cleanpose_core.errors import WeightsError
from cleanpose_core.model import CleanPoseNet, load_teacher, save_teacher, TeacherConfig, \
    TeacherEncoder, train_teacher
from cleanpose_core.model.teacher import evaluate_teacher
from cleanpose_core.model.teacher_data import make_view, MeshSample, sample_surface, \
    TeacherViews, visible_mask
from cleanpose_core.train import teacher_command


@pytest.mark.parametrize('batch', [1, 4], ids=['B1', 'B4'])
def test_embedding_shape_and_invariances(batch):
    teacher = tiny_teacher().eval()
    pts = torch.randn(batch, 80, 3)
    emb = teacher(pts)
    assert emb.shape == (batch, TINY_TEACHER.dim)
    moved = teacher(pts * 0.3 + torch.tensor([0.1, -0.2, 0.9]))   # centred, scale-normalised
    assert_close(moved, emb, atol=1e-4, rtol=1e-4)


def test_embedding_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r'points must have shape \(B, N, 3\); got \(2, 5\)'):
        tiny_teacher()(torch.zeros(2, 5))
    with pytest.raises(ValueError, match='at least 16 points'):
        tiny_teacher()(torch.zeros(2, 5, 3))


def _views(n_instances=4, seed=0):
    rng = np.random.default_rng(seed)
    samples = [MeshSample(points=rng.normal(size=(300, 3)).astype(np.float32)
                          * np.array([1.0, 0.3 + i, 0.2], np.float32),
                          class_id=1 + i % 6, instance=str(i)) for i in range(n_instances)]
    return TeacherViews(samples, batch_size=4, num_points=64, seed=seed)


def test_two_step_training_smoke():
    teacher = tiny_teacher()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    history = train_teacher(teacher, _views(), steps=2, lr=1e-3)
    assert len(history) == 2
    assert {'loss', 'cls', 'nce', 'cls_acc', 'inst_acc', 'lr'} <= set(history[0])
    assert all(np.isfinite(h['loss']) for h in history)
    changed = [k for k, v in teacher.state_dict().items() if not torch.equal(v, before[k])]
    assert changed
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())


def test_train_teacher_reports_short_data():
    with pytest.raises(ValueError, match='batches ran out after 1 of 3 steps'):
        train_teacher(tiny_teacher(), [next(iter(_views()))], steps=3)


def test_teacher_file_round_trip_and_refusals(tmp_path):
    teacher = tiny_teacher().eval()
    path = save_teacher(tmp_path / 't.safetensors', teacher)
    loaded = load_teacher(path, expected_dim=TINY_TEACHER.dim)
    assert isinstance(loaded, TeacherEncoder) and loaded.cfg == TINY_TEACHER
    pts = torch.randn(2, 64, 3)
    assert torch.equal(loaded(pts), teacher(pts))
    with pytest.raises(WeightsError, match='teacher embedding width 32 does not match '
                                           'model.teacher_dim=128'):
        load_teacher(path, expected_dim=128)
    with pytest.raises(WeightsError, match='does not exist'):
        load_teacher(tmp_path / 'missing.safetensors')


def test_network_loads_teacher_from_config(tmp_path):
    path = save_teacher(tmp_path / 't.safetensors', tiny_teacher())
    net = CleanPoseNet(tiny_config(teacher=str(path)))
    inp, tgt = make_batch(2)
    loss = net.training_step(inp, tgt)
    assert 'distill' in loss.terms
    bad = CleanPoseNet(tiny_config(teacher=str(tmp_path / 'none.safetensors')))
    with pytest.raises(WeightsError, match='model.distill=false'):
        bad.training_step(inp, tgt)
    wide = CleanPoseNet(tiny_config(teacher=str(path), teacher_dim=64))
    with pytest.raises(WeightsError, match='does not match model.teacher_dim=64'):
        wide.training_step(inp, tgt)


def test_teacher_dictionary_features_map_to_dim(tmp_path):
    torch.manual_seed(0)
    net = CleanPoseNet(tiny_config(teacher_dim=48))
    net.attach_teacher(TeacherEncoder(TeacherConfig(dim=48, width=16, num_points=64)))
    inp, _ = make_batch(3)
    feats = net.teacher_dictionary_features(inp)
    assert feats.shape == (3, net.cfg.dim)
    net.seed_dictionary(inp.category_ids, feats)
    assert int(net.front_door.dictionary.count.sum()) == 3


def test_surface_sampling_and_visibility():
    rng = np.random.default_rng(0)
    # Unit cube: 12 triangles.
    v = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], float) - 0.5
    f = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                  [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    pts = sample_surface(v, f, 3000, rng)
    assert pts.shape == (3000, 3)
    assert_close(torch.from_numpy(np.abs(pts).max(axis=1)), torch.full((3000,), 0.5),
                 atol=1e-5, rtol=0)
    seen = visible_mask(pts)
    # Looking along +Z, the z = -0.5 face is visible, the z = +0.5 face is not.
    front = pts[:, 2] < -0.499
    back = pts[:, 2] > 0.499
    assert seen[front].mean() > 0.95 and seen[back].mean() < 0.05
    view = make_view(MeshSample(pts, 1, 'cube'), 128, rng)
    assert view.shape == (128, 3) and view.dtype == np.float32


def test_teacher_command_two_steps(tmp_path):
    parser = argparse.ArgumentParser()
    teacher_command.add_arguments(parser)
    out = tmp_path / 'teacher.safetensors'
    args = parser.parse_args(['--out', str(out), '--instances', '2', '--steps', '2',
                              '--batch', '4', '--points', '64', '--dim', '32', '--width', '16',
                              '--device', 'cpu', '--eval-instances', '1'])
    assert teacher_command.run(args) == 0
    teacher = load_teacher(out, expected_dim=32)
    assert teacher.cfg.num_points == 64
    from cleanpose_core.model.weights import read_safetensors
    scores = json.loads(read_safetensors(out, 'cleanpose_teacher')[1]['held_out_scores'])
    assert scores['instances'] == 6 and 0.0 <= scores['retrieval_top1'] <= 1.0
    lines = (tmp_path / 'teacher_metrics.jsonl').read_text().splitlines()
    assert len(lines) == 2


def test_evaluate_teacher_scores_identical_views_perfectly():
    teacher = tiny_teacher()
    views = torch.randn(5, 64, 3) * torch.linspace(0.2, 2.0, 5)[:, None, None]
    scores = evaluate_teacher(teacher, views, views.clone(), torch.tensor([1, 2, 3, 4, 5]))
    assert scores['retrieval_top1'] == 1.0 and scores['instances'] == 5
    assert teacher.training                            # mode restored
