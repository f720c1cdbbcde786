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

"""CleanPoseNet: shapes, determinism, batch consistency, switches, gradients, overfitting."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

from model_fixtures import make_batch, TINY, tiny_config, tiny_teacher
import pytest
import torch
from torch.testing import assert_close

from cleanpose_core.geometry.transforms import rotation_angle_deg
from cleanpose_core.model import CleanPoseNet, TrainingStep


def _net(**changes) -> CleanPoseNet:
    torch.manual_seed(0)
    net = CleanPoseNet(tiny_config(**changes))
    if net.cfg.distill:
        net.attach_teacher(tiny_teacher())
    return net


@pytest.mark.parametrize('batch', [0, 1, 5], ids=['B0', 'B1', 'B5'])
def test_predict_shapes(batch):
    net = _net()
    inp, _ = make_batch(batch)
    out = net.predict(inp)
    k = TINY.num_keypoints
    assert len(out) == batch
    assert out.R_cam_obj.shape == (batch, 3, 3)
    assert out.t_cam_obj.shape == (batch, 3)
    assert out.scales.shape == (batch,)
    assert out.sizes.shape == (batch, 3)
    assert out.keypoints_cam.shape == (batch, k, 3)
    assert out.keypoint_nocs.shape == (batch, k, 3)
    assert out.reconstruction_nocs.shape == (batch, k * TINY.recon_points, 3)
    assert out.fit_residual.shape == (batch,) and bool((out.fit_residual >= 0).all())
    if batch:
        eye = torch.eye(3).expand(batch, 3, 3)
        assert_close(out.R_cam_obj @ out.R_cam_obj.transpose(1, 2), eye, atol=1e-5, rtol=0)
        assert_close(torch.linalg.det(out.R_cam_obj), torch.ones(batch), atol=1e-5, rtol=0)
        assert bool((out.scales > 0).all()) and bool((out.sizes > 0).all())
        assert_close(out.sizes.norm(dim=-1), torch.ones(batch))
        assert bool((out.keypoint_nocs.abs() <= 0.5).all())


def _forward_like(net: CleanPoseNet, inp, target, point_nocs):
    """A ForwardOutput stand-in that regresses the true pose and predicts point_nocs."""
    b, k = len(inp), net.cfg.num_keypoints
    return SimpleNamespace(R_cam_obj=target.R_cam_obj, t_cam_obj=target.t_cam_obj,
                           scales=target.scales, sizes=target.sizes, point_nocs=point_nocs,
                           keypoints_cam=torch.zeros(b, k, 3), keypoint_nocs=torch.zeros(b, k, 3),
                           reconstruction_nocs=torch.zeros(b, k, 3))


def test_fit_residual_is_how_far_the_points_are_from_the_nocs_fit():
    net = _net()
    inp, target = make_batch(3)
    exact = net.pose_output(_forward_like(net, inp, target, target.nocs), inp)
    assert bool((exact.fit_residual < 1e-5).all())
    # Every point's NOCS off by 0.05 along one axis in a random direction: each point
    # sits ~0.05 x its scale from the fit (the fit absorbs a little of it).
    g = torch.Generator().manual_seed(1)
    sign = torch.randint(0, 2, target.nocs.shape[:2], generator=g) * 2.0 - 1.0
    noisy = target.nocs.clone()
    noisy[..., 0] += 0.05 * sign
    off = net.pose_output(_forward_like(net, inp, target, noisy), inp).fit_residual
    assert bool(((off > 0.02) & (off < 0.06)).all())
    flat = torch.zeros_like(target.nocs)       # no shape at all: the fit degenerates
    assert bool(torch.isinf(net.pose_output(_forward_like(net, inp, target, flat),
                                            inp).fit_residual).all())


def test_predict_is_deterministic_and_keeps_mode():
    net = _net()
    inp, tgt = make_batch(4)
    net.training_step(inp, tgt)                      # fills the dictionary, train mode
    a = net.predict(inp)
    assert net.training                              # mode restored
    b = net.predict(inp)
    for name in ('R_cam_obj', 't_cam_obj', 'scales', 'sizes', 'keypoints_cam'):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def test_batch_consistency():
    net = _net()
    inp, tgt = make_batch(5, seed=3)
    for _ in range(2):                               # put entries in the dictionary
        net.training_step(inp, tgt)
    batched = net.predict(inp)
    for i in range(5):
        one = net.predict(replace(inp, points=inp.points[i:i + 1], rgb=inp.rgb[i:i + 1],
                                  pixel_index=inp.pixel_index[i:i + 1],
                                  category_ids=inp.category_ids[i:i + 1]))
        assert_close(one.R_cam_obj[0], batched.R_cam_obj[i], atol=1e-4, rtol=1e-4)
        assert_close(one.t_cam_obj[0], batched.t_cam_obj[i], atol=1e-5, rtol=1e-4)
        assert_close(one.scales[0], batched.scales[i], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('front_door,distill,use_rgb', [
    (False, False, True), (True, False, True), (False, True, True), (True, True, False)],
    ids=['baseline', 'front_door', 'distill', 'full_no_rgb'])
def test_ablation_switches_build_and_train(front_door, distill, use_rgb):
    net = _net(front_door=front_door, distill=distill, use_rgb=use_rgb)
    assert (net.front_door is None) != front_door
    assert (net.distiller is None) != distill
    keys = net.state_dict().keys()
    assert any(k.startswith('front_door.dictionary') for k in keys) == front_door
    inp, tgt = make_batch(3)
    loss = net.training_step(inp, tgt)
    loss.total.backward()
    assert torch.isfinite(loss.total)
    assert ('distill' in loss.terms) == distill and ('residual' in loss.terms) == distill
    assert net.predict(inp).R_cam_obj.shape == (3, 3, 3)


def test_training_step_batch_zero_backpropagates():
    net = _net()
    inp, tgt = make_batch(0)
    loss = net.training_step(inp, tgt)
    loss.total.backward()
    assert float(loss.total.detach()) == 0.0


def test_gradient_reaches_every_parameter():
    net = _net()
    inp, tgt = make_batch(6, category_ids=torch.tensor([1, 2, 3, 4, 5, 6]))
    opt = torch.optim.SGD(net.parameters(), lr=1e-2)
    net.training_step(inp, tgt).total.backward()     # first step: zero-init layer opens up
    opt.step()
    opt.zero_grad()
    net.training_step(inp, tgt).total.backward()
    dead = [name for name, p in net.named_parameters()
            if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert dead == []


def test_distillation_residual_starts_at_zero():
    net = _net()
    pooled = torch.randn(4, TINY.dim)
    out = net.distiller(pooled)
    assert torch.equal(out.residual, torch.zeros(4, TINY.dim))
    expected = net.distiller.project(torch.nn.functional.normalize(pooled, dim=-1))
    assert_close(out.embedding, expected)


@pytest.mark.parametrize('bad', [0, 7, -1], ids=['zero', 'seven', 'negative'])
def test_rejects_unknown_category(bad):
    net = _net()
    inp, _ = make_batch(3)
    ids = inp.category_ids.clone()
    ids[1] = bad
    with pytest.raises(ValueError,
                       match=rf'category_ids must be NOCS class ids 1\.\.6 .*got \[{bad}\]'):
        net.predict(replace(inp, category_ids=ids))


@pytest.mark.parametrize('value', [float('nan'), float('inf')], ids=['nan', 'inf'])
def test_rejects_non_finite_points(value):
    net = _net()
    inp, _ = make_batch(3)
    pts = inp.points.clone()
    pts[2, 5, 1] = value
    with pytest.raises(ValueError, match=r'points of instances \[2\] contain NaN or inf'):
        net.predict(replace(inp, points=pts))


def test_rejects_pixel_index_out_of_crop():
    net = _net()
    inp, _ = make_batch(2)
    pix = inp.pixel_index.clone()
    pix[0, 0] = TINY.crop_size ** 2
    with pytest.raises(ValueError, match=r'pixel_index must be in \[0, 256\)'):
        net.predict(replace(inp, pixel_index=pix))


def test_training_step_needs_matching_target():
    net = _net()
    inp, _ = make_batch(3)
    _, tgt = make_batch(2)
    with pytest.raises(ValueError, match='target has 2 instances; input has 3'):
        net.training_step(inp, tgt)


def test_overfits_a_few_instances():
    torch.manual_seed(0)
    net = CleanPoseNet(tiny_config(distill=False, dim=48, attn_heads=4))
    inp, tgt = make_batch(4, seed=1, category_ids=torch.tensor([3, 5, 6, 3]))
    before = net.predict(inp)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    pose_terms = []
    for _ in range(120):
        loss = net.training_step(inp, tgt, generator=gen)
        opt.zero_grad()
        loss.total.backward()
        opt.step()
        pose_terms.append(sum(loss.terms[k] for k in ('rot', 'trans', 'scale', 'size')))
    assert sum(pose_terms[-10:]) / 10 < pose_terms[0] / 5
    after = net.predict(inp)
    err_before = rotation_angle_deg(before.R_cam_obj, tgt.R_cam_obj).mean()
    err_after = rotation_angle_deg(after.R_cam_obj, tgt.R_cam_obj).mean()
    assert err_after < err_before / 3
    assert float((after.t_cam_obj - tgt.t_cam_obj).norm(dim=-1).max()) < 0.01
    assert_close(after.scales, tgt.scales, rtol=0.1, atol=0)


def test_training_step_module_matches_method():
    net = _net()
    inp, tgt = make_batch(3)
    wrapped = TrainingStep(net)
    assert list(wrapped.parameters()) == list(net.parameters())
    a = wrapped(inp, tgt, torch.Generator().manual_seed(4))
    net.front_door.dictionary.count.zero_()
    net.front_door.dictionary.pointer.zero_()
    b = net.training_step(inp, tgt, torch.Generator().manual_seed(4))
    assert a.terms == b.terms
