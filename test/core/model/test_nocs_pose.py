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

"""Pose from dense NOCS: the trimmed Umeyama fit and the view-canonical symmetric frame."""

from __future__ import annotations

from model_fixtures import make_batch, tiny_config
import torch
from torch.testing import assert_close

from cleanpose_core.geometry.symmetry import view_canonical_rotation
from cleanpose_core.geometry.transforms import random_rotations, rotation_angle_deg
from cleanpose_core.model import CleanPoseNet
from cleanpose_core.model.box_fit import grow_boxes
from cleanpose_core.model.nocs_pose import fit_nocs_pose


def _posed(batch: int = 4, n: int = 200, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    nocs = torch.rand(batch, n, 3, generator=g, dtype=torch.float64) - 0.5
    R = random_rotations(batch, generator=g, dtype=torch.float64)
    s = 0.1 + 0.3 * torch.rand(batch, generator=g, dtype=torch.float64)
    t = torch.randn(batch, 3, generator=g, dtype=torch.float64) * 0.2
    t[:, 2] += 1.0
    points = s[:, None, None] * nocs @ R.transpose(1, 2) + t[:, None]
    return nocs, points, R, s, t


def test_fit_recovers_exact_similarity():
    nocs, points, R, s, t = _posed()
    fit = fit_nocs_pose(nocs, points)
    assert_close(fit.R, R)
    assert_close(fit.s, s)
    assert_close(fit.t, t)


def test_fit_ignores_gross_outliers():
    nocs, points, R, s, t = _posed(n=300, seed=1)
    bad = nocs.clone()
    bad[:, :45] = torch.rand(4, 45, 3, dtype=torch.float64) - 0.5   # 15 % wrong correspondences
    plain = fit_nocs_pose(bad, points, refits=0)
    robust = fit_nocs_pose(bad, points)
    err_plain = rotation_angle_deg(plain.R, R)
    err_robust = rotation_angle_deg(robust.R, R)
    assert bool((err_robust < 0.5).all()), err_robust
    assert bool((err_robust < err_plain).all())
    assert_close(robust.s, s, rtol=1e-3, atol=0)


def test_fit_flags_degenerate_input():
    nocs = torch.zeros(2, 10, 3)       # every point maps to the same NOCS: no scale
    points = torch.rand(2, 10, 3)
    fit = fit_nocs_pose(nocs, points)
    assert bool((fit.s == 0).all())
    assert bool(torch.isfinite(fit.R).all()) and bool(torch.isfinite(fit.t).all())


def test_view_canonical_puts_camera_in_yz_plane_and_keeps_the_shape():
    _, _, R, _, t = _posed(batch=6, seed=2)
    sym = torch.tensor([True, True, True, False, False, True])
    R2 = view_canonical_rotation(R, t, sym)
    cam = -(R2.transpose(1, 2) @ t[..., None])[..., 0]
    assert_close(cam[sym, 0], torch.zeros(int(sym.sum()), dtype=R.dtype), atol=1e-9, rtol=0)
    assert bool((cam[sym, 2] >= 0).all())
    assert_close(R2[~sym], R[~sym])
    # only a turn about the object's Y axis: Y axis unchanged, still a rotation
    assert_close(R2[:, :, 1], R[:, :, 1])
    assert_close(R2 @ R2.transpose(1, 2), torch.eye(3, dtype=R.dtype).expand(6, 3, 3))
    # same camera position whatever the original turn about Y: the frame is unique
    turn = torch.tensor([[0.6, 0.0, 0.8], [0.0, 1.0, 0.0], [-0.8, 0.0, 0.6]], dtype=R.dtype)
    assert_close(view_canonical_rotation(R @ turn, t, sym)[sym], R2[sym])


def _predict_and_forward(batch: int, **config):
    """A tiny untrained network's predict() and its eval-mode forward on one batch."""
    torch.manual_seed(0)
    net = CleanPoseNet(tiny_config(distill=False, **config))
    inp, _ = make_batch(batch)
    out = net.predict(inp)
    net.eval()
    with torch.no_grad():
        fwd = net.forward(inp)
    return net, inp, out, fwd


def test_predict_takes_the_rotation_of_the_dense_nocs_fit():
    _, inp, out, fwd = _predict_and_forward(3, box_grow=0.0)
    fit = fit_nocs_pose(fwd.point_nocs, inp.points)
    assert bool((fit.s > 0).all())
    assert_close(out.R_cam_obj, fit.R)
    assert_close(out.scales, fwd.scales)
    assert_close(out.t_cam_obj, fwd.t_cam_obj)
    assert_close(out.sizes, fwd.sizes)


def test_predict_grows_the_regressed_box_toward_the_points():
    _, inp, out, fwd = _predict_and_forward(3, box_grow=0.5)
    R = fit_nocs_pose(fwd.point_nocs, inp.points).R
    t, extents = grow_boxes(R, fwd.t_cam_obj, fwd.scales[:, None] * fwd.sizes, inp.points, 0.5)
    assert_close(out.R_cam_obj, R)
    assert_close(out.t_cam_obj, t)
    assert_close(out.scales[:, None] * out.sizes, extents)
    assert_close(out.sizes.norm(dim=-1), torch.ones(3))
    # an untrained network's boxes leave points outside: they grow, never shrink
    assert bool((out.scales[:, None] * out.sizes >= fwd.scales[:, None] * fwd.sizes - 1e-6)
                .all())
    assert not torch.allclose(out.scales, fwd.scales)


def test_dense_nocs_switch_off_uses_the_regressed_pose():
    net, _, out, fwd = _predict_and_forward(2, dense_nocs=False)
    assert net.point_nocs_head is None
    assert fwd.point_nocs is None
    assert_close(out.R_cam_obj, fwd.R_cam_obj)
