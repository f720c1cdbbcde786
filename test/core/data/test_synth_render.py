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

"""Tests of the ray-cast renderer: exact NOCS maps, labels, handle visibility, noise."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cleanpose_core.data.synth.noise import add_depth_noise, DepthNoise
from cleanpose_core.data.synth.render import REAL_K, SceneRenderer
from cleanpose_core.data.synth.scene import (
    camera_pose, look_at, make_scene, PlacedObject, SceneOptions)
from cleanpose_core.data.synth.shapes import make_shape

W, H = 160, 120
K = REAL_K * np.array([[0.25], [0.25], [1.0]])


def _render(seed, noise, poses='mixed'):
    rng = np.random.default_rng(seed)
    scene = make_scene(SceneOptions(poses=poses, min_objects=2, max_objects=2,
                                    max_distractors=1), rng)
    R, eye = camera_pose(scene, 0, rng)
    return SceneRenderer(scene, nthreads=1).render(R, eye, K, W, H, rng, noise)


def _canonical_error_m(frame, depth):
    """Median metric distance between back-projected depth and the NOCS map, per instance."""
    errors = []
    for i, (iid, cls) in enumerate(zip(frame.instance_ids, frame.class_ids)):
        if cls == 0:
            continue
        ys, xs = np.nonzero((frame.mask == iid) & (depth > 0))
        if len(ys) < 10:
            continue
        z = depth[ys, xs].astype(np.float64)
        pts_cam = np.stack([(xs - K[0, 2]) * z / K[0, 0], (ys - K[1, 2]) * z / K[1, 1], z], 1)
        R, t, s = (frame.rotations[i].astype(np.float64), frame.translations[i], frame.scales[i])
        canon = (pts_cam - t) @ R / s
        errors.append(np.median(np.linalg.norm(canon - frame.coord[ys, xs], axis=1)) * s)
    return np.array(errors)


@pytest.mark.parametrize('seed', range(4), ids=lambda s: f'seed{s}')
def test_nocs_map_is_exact_without_noise(seed):
    frame = _render(seed, DepthNoise(enabled=False))
    err = _canonical_error_m(frame, frame.depth)
    assert len(err) >= 1
    assert err.max() <= 1e-3
    np.testing.assert_array_equal(frame.depth, frame.depth_clean)
    # after the writer's millimetre rounding it still holds
    err_mm = _canonical_error_m(frame, np.round(frame.depth * 1000.0) / 1000.0)
    assert err_mm.max() <= 1e-3


@pytest.mark.parametrize('seed', range(4), ids=lambda s: f'seed{s}')
def test_nocs_error_with_noise_is_of_the_order_of_the_noise(seed):
    frame = _render(seed, DepthNoise())
    err = _canonical_error_m(frame, frame.depth)
    z = np.median(frame.depth_clean[frame.mask != 255])
    sigma = DepthNoise(disparity_sigma_px=0.12).depth_sigma(z, K[0, 0])   # worst scene sensor
    step = z ** 2 / (K[0, 0] * 0.05) / 12.0
    assert len(err) >= 1
    assert 0.0 < err.max() <= 3.0 * (sigma + step) + 1e-3


@pytest.mark.parametrize('seed', range(3), ids=lambda s: f'seed{s}')
def test_labels_match_the_mask(seed):
    frame = _render(seed, DepthNoise(enabled=False))
    assert frame.color.shape == (H, W, 3) and frame.color.dtype == np.uint8
    assert frame.mask.dtype == np.uint8
    for i, iid in enumerate(frame.instance_ids):
        ys, xs = np.nonzero(frame.mask == iid)
        np.testing.assert_array_equal(frame.bboxes[i], [ys.min(), xs.min(), ys.max() + 1,
                                                        xs.max() + 1])
        assert frame.pixel_counts[i] == len(ys)
        R = frame.rotations[i].astype(np.float64)
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-5)
        assert np.linalg.norm(frame.sizes[i]) == pytest.approx(1.0, abs=1e-5)
        assert frame.translations[i][2] > 0.2
    ids = set(np.unique(frame.mask)) - {255}
    assert ids == set(frame.instance_ids.tolist())
    bg = frame.mask == 255
    np.testing.assert_array_equal(frame.coord[bg], np.broadcast_to([-0.5, -0.5, 0.5],
                                                                   frame.coord[bg].shape))


def _mug_frame(camera_dir):
    """A lone upright mug (handle on world +X) seen from camera_dir at 10 degrees elevation."""
    base = make_scene(SceneOptions(min_objects=1, max_objects=1, max_distractors=0),
                      np.random.default_rng(0))
    mug = make_shape('mug', 5)
    lo = mug.scale * mug.mesh.vertices.min(0)
    obj = PlacedObject(shape=mug, instance_id=1, R_world_obj=np.eye(3),
                       t_world_obj=np.array([0.0, -lo[1], 0.0]), pose_name='upright',
                       footprint=np.array([0.0, 0.0, 0.1]))
    scene = dataclasses.replace(base, objects=(obj,))
    target = np.array([0.0, 0.06, 0.0])
    eye = target + 0.5 * np.array([camera_dir[0], np.tan(np.radians(10)), camera_dir[1]])
    R_world_cam = look_at(eye, target)
    frame = SceneRenderer(scene, nthreads=1).render(
        R_world_cam, eye, K, W, H, np.random.default_rng(0), DepthNoise(enabled=False))
    return frame, R_world_cam


@pytest.mark.parametrize('camera_dir, visible', [((1.0, 0.0), 1), ((0.0, 1.0), 1),
                                                 ((-1.0, 0.0), 0)],
                         ids=['handle-side', 'side-on', 'behind-body'])
def test_mug_handle_visibility(camera_dir, visible):
    frame, R_world_cam = _mug_frame(camera_dir)
    assert frame.class_ids.tolist() == [6]
    assert frame.handle_visibility.tolist() == [visible]
    assert frame.model_ids.tolist() == ['mug_5']
    # the ground-truth rotation maps the canonical +X (handle) onto the world +X
    np.testing.assert_allclose(frame.rotations[0] @ [1.0, 0.0, 0.0],
                               R_world_cam.T @ [1.0, 0.0, 0.0], atol=1e-6)


def test_noise_off_returns_clean_depth():
    depth = np.full((20, 30), 0.8, np.float32)
    out = add_depth_noise(depth, np.ones_like(depth), np.ones_like(depth), 500.0,
                          np.random.default_rng(0), DepthNoise(enabled=False))
    np.testing.assert_array_equal(out, depth)
    assert out is not depth


@pytest.mark.parametrize('z', [0.5, 1.0, 2.0], ids=lambda z: f'z{z}')
def test_depth_noise_grows_quadratically_and_is_quantised(z):
    params = DepthNoise(speckle=0.0, disparity_step_px=0.0, edge_dropout=0.0)
    depth = np.full((240, 320), z, np.float32)
    ones = np.ones_like(depth)
    out = add_depth_noise(depth, ones, ones, 600.0, np.random.default_rng(1), params)
    assert np.count_nonzero(out == 0) == 0
    assert np.std(out - z) == pytest.approx(params.depth_sigma(z, 600.0), rel=0.25)
    q = DepthNoise(speckle=0.0, disparity_sigma_px=0.0, disparity_step_px=0.125)
    out_q = add_depth_noise(depth, ones, ones, 600.0, np.random.default_rng(1), q)
    disp = 600.0 * 0.05 / out_q.astype(np.float64)
    np.testing.assert_allclose(disp * 8, np.round(disp * 8), atol=1e-3)


def test_depth_dropout_at_grazing_angles_dark_surfaces_and_edges():
    params = DepthNoise(speckle=0.0)
    depth = np.full((100, 100), 1.0, np.float32)
    depth[:, 50:] = 1.5                                      # a depth edge at column 50
    cos = np.ones_like(depth)
    cos[:20] = np.cos(np.radians(89.0))                      # grazing rows
    luma = np.full_like(depth, 0.5)
    luma[80:] = 0.0                                          # black rows
    out = add_depth_noise(depth, cos, luma, 600.0, np.random.default_rng(2), params)
    missing = out == 0
    assert missing[:20].mean() == 1.0
    assert 0.4 < missing[85:, :40].mean() < 0.8
    assert 0.3 < missing[30:70, 49:51].mean() < 0.9
    assert missing[30:70, 10:40].mean() == 0.0


def test_noise_rejects_mismatched_images():
    with pytest.raises(ValueError, match=r'depth \(4, 4\), cos_incidence \(4, 5\)'):
        add_depth_noise(np.ones((4, 4), np.float32), np.ones((4, 5)), np.ones((4, 4)), 500.0,
                        np.random.default_rng(0))


@pytest.mark.parametrize('seed', range(3), ids=lambda s: f'seed{s}')
def test_fast_room_intersection_matches_generic(seed):
    rng = np.random.default_rng(seed)
    scene = make_scene(SceneOptions(), rng)
    renderer = SceneRenderer(scene, nthreads=1)
    assert renderer._room_layout
    R, eye = camera_pose(scene, 0, rng)
    d = np.stack(np.meshgrid((np.arange(W) - K[0, 2]) / K[0, 0],
                             (np.arange(H) - K[1, 2]) / K[1, 1]), 0).reshape(2, -1)
    dW = (R @ np.vstack([d, np.ones((1, d.shape[1]))])).astype(np.float32)
    t_fast, s_fast = renderer._background(dW, eye)
    renderer._room_layout = False
    t_gen, s_gen = renderer._background(dW, eye)
    same = s_fast == s_gen
    assert same.mean() > 0.999                       # ties on rectangle borders may differ
    np.testing.assert_allclose(t_fast[same], t_gen[same], rtol=1e-5)


@pytest.mark.parametrize('seed', range(4), ids=lambda s: f'seed{s}')
def test_object_region_of_interest_covers_every_object_pixel(seed):
    from cleanpose_core.data.synth._open3d import load_open3d

    rng = np.random.default_rng(seed)
    scene = make_scene(SceneOptions(min_objects=4, max_objects=4), rng)
    renderer = SceneRenderer(scene, nthreads=1)
    R, eye = camera_pose(scene, 0, rng)
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    d_cam = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones(u.shape)], -1)
    rays = np.concatenate([np.broadcast_to(eye, d_cam.shape), d_cam @ R.T], -1)
    o3d = load_open3d()
    hit = renderer._rs.cast_rays(o3d.core.Tensor(rays.reshape(-1, 6).astype(np.float32)))
    any_object = hit['geometry_ids'].numpy() != o3d.t.geometry.RaycastingScene.INVALID_ID
    roi = np.zeros(W * H, bool)
    roi[renderer._object_roi(R, eye, K, W, H)] = True
    assert any_object.any()
    assert np.all(roi[any_object])             # every ray that can hit an object is cast
    assert roi.mean() < 0.9                    # and the others are not


@pytest.mark.parametrize('pattern, y, expect_second', [
    ('stripes', 0.1, True), ('stripes', 0.3, False),
    ('label', 0.05, True), ('label', 0.3, False), ('plain', 0.1, False)],
    ids=['stripe-on', 'stripe-off', 'label-in', 'label-out', 'plain'])
def test_texture_patterns(pattern, y, expect_second):
    from cleanpose_core.data.synth.shapes import Appearance
    from cleanpose_core.data.synth.texture import texture_albedo

    base = np.array([[0.2, 0.2, 0.2], [0.9, 0.9, 0.9], [0.2, 0.2, 0.2], [0.0, 0.0, 0.0]],
                    np.float32)
    app = Appearance(part_colours=base, pattern=pattern, colour2=np.array([1, 0, 0], np.float32),
                     axis=np.array([0, 1, 0], np.float32), freq=2.0, band=(0.0, 0.2),
                     noise_amp=0.0, noise_dirs=np.eye(3, dtype=np.float32),
                     noise_phase=np.zeros(3, np.float32), pattern_parts=(0,))
    tex = np.array([[0.0, y, 0.0], [0.0, y, 0.0]], np.float32)
    rgb = texture_albedo(app, tex, np.array([0, 1], np.uint8))
    np.testing.assert_allclose(rgb[0], [1, 0, 0] if expect_second else [0.2, 0.2, 0.2])
    np.testing.assert_allclose(rgb[1], [0.9, 0.9, 0.9])      # part 1 has no pattern
