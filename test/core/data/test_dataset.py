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

"""Instance cache, InstanceDataset, collate and the gt-mask evaluation helpers."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from test_nocs_io import make_frame, write_split
import torch
from torch.utils.data import DataLoader

from cleanpose_core.data.dataset import (build_instance_cache, collate_instances, gt_batch,
                                         gt_results_fields, InstanceDataset, iter_gt_instances,
                                         symmetric_flags)
from cleanpose_core.data.nocs import frame_path, NocsSplit
from cleanpose_core.errors import DataError

N, S = 32, 16


@pytest.fixture
def cache(tmp_path):
    records = write_split(tmp_path / 'train', frames=3)
    summary = build_instance_cache(NocsSplit(tmp_path, 'train'), tmp_path / 'cache.npz', N, S,
                                   min_points=16, seed=0)
    return summary, records


def test_cache_contents(cache):
    summary, records = cache
    assert summary.frames == 3 and summary.instances == 6 and summary.skipped == {}
    with zipfile.ZipFile(summary.path) as z:  # plain arrays: no object arrays, no pickle
        assert 'points.npy' in z.namelist()
    data = np.load(summary.path, allow_pickle=False)
    assert data['points'].shape == (6, 2 * N, 3) and data['points'].dtype == np.float32
    assert data['nocs'].shape == (6, 2 * N, 3)
    assert data['rgb'].shape == (6, 3, S, S) and data['rgb'].dtype == np.uint8
    assert data['pixel_index'].shape == (6, 2 * N)
    assert data['frame_ids'].tolist() == ['scene_1/0000'] * 2 + ['scene_1/0001'] * 2 + [
        'scene_1/0002'] * 2
    assert data['category_ids'].tolist() == [6, 1] * 3
    # Mug handle visibility is seed % 2 in make_frame: frame 0 and 2 mugs are symmetric.
    assert data['symmetric'].tolist() == [True, True, False, True, True, True]
    np.testing.assert_allclose(data['translations'][2], records[1].translations[0], rtol=1e-6)
    np.testing.assert_allclose(data['scales'][3], records[1].scales[1], rtol=1e-6)


def test_cached_nocs_match_the_points(cache):
    """The NOCS coordinate stored with each point maps back to it through the gt pose."""
    summary, _ = cache
    d = np.load(summary.path, allow_pickle=False)
    for k in range(len(d['points'])):
        pts_obj = (d['points'][k] - d['translations'][k]) @ d['rotations'][k] / d['scales'][k]
        err_m = np.abs(pts_obj - d['nocs'][k]) * d['scales'][k]
        assert np.median(err_m) < 2e-3


def test_cache_without_coord_uses_gt_pose(tmp_path):
    write_split(tmp_path, frames=1)
    frame_path(tmp_path, 'scene_1', 0, 'coord.png').unlink()
    summary = build_instance_cache(NocsSplit(tmp_path), tmp_path / 'c.npz', N, S, min_points=16)
    d = np.load(summary.path, allow_pickle=False)
    pts_obj = (d['points'][0] - d['translations'][0]) @ d['rotations'][0] / d['scales'][0]
    np.testing.assert_allclose(d['nocs'][0], pts_obj, atol=1e-5)
    assert np.abs(d['nocs'][0]).max() <= 0.5 + 1e-3


def test_cache_counts_skipped_and_rejects_empty(tmp_path):
    write_split(tmp_path, frames=1)
    summary = build_instance_cache(NocsSplit(tmp_path), tmp_path / 'c.npz', N, S,
                                   min_points=290)
    assert summary.instances + sum(summary.skipped.values()) == 2
    assert summary.skipped.get('too_few_points', 0) >= 1
    with pytest.raises(DataError, match='no usable instance in 1 frames'):
        build_instance_cache(NocsSplit(tmp_path), tmp_path / 'd.npz', N, S, min_points=10_000)
    assert not (tmp_path / 'd.npz').exists()


def test_eval_items_are_deterministic_first_n(cache):
    summary, _ = cache
    ds = InstanceDataset(summary.path, N, train=False)
    data = np.load(summary.path, allow_pickle=False)
    item = ds[3]
    np.testing.assert_array_equal(item['points'], data['points'][3, :N])
    np.testing.assert_array_equal(item['nocs'], data['nocs'][3, :N])
    np.testing.assert_array_equal(item['pixel_index'], data['pixel_index'][3, :N])
    np.testing.assert_array_equal(InstanceDataset(summary.path, N, train=False)[3]['points'],
                                  item['points'])


def test_train_items_resample_per_epoch(cache):
    summary, _ = cache
    ds = InstanceDataset(summary.path, N, train=True, seed=1)
    data = np.load(summary.path, allow_pickle=False)
    a = ds[2]['points']
    np.testing.assert_array_equal(ds[2]['points'], a)  # same (seed, epoch, index)
    ds.set_epoch(1)
    b = ds[2]['points']
    assert not np.array_equal(a, b)
    stored = {tuple(p) for p in data['points'][2]}
    assert {tuple(p) for p in b} <= stored
    assert len({tuple(p) for p in b}) == N  # enough valid points: all distinct


def test_num_points_above_cache_rejected(cache):
    summary, _ = cache
    with pytest.raises(ValueError, match=r'num_points must be in 1\.\.64'):
        InstanceDataset(summary.path, 2 * N + 1, train=True)


def test_corrupt_cache(tmp_path):
    path = tmp_path / 'bad.npz'
    path.write_bytes(b'not a zip')
    with pytest.raises(DataError, match='cannot read instance cache'):
        InstanceDataset(path, N, train=False)


def test_collate_shapes_and_values(cache):
    summary, records = cache
    ds = InstanceDataset(summary.path, N, train=True)
    loader = DataLoader(ds, batch_size=4, shuffle=False, collate_fn=collate_instances)
    inp, target = next(iter(loader))
    assert inp.points.shape == (4, N, 3) and inp.rgb.shape == (4, 3, S, S)
    assert inp.pixel_index.dtype == torch.long and inp.category_ids.tolist() == [6, 1, 6, 1]
    assert target.R_cam_obj.shape == (4, 3, 3) and target.nocs.shape == (4, N, 3)
    assert torch.equal(target.model_points, target.nocs)
    assert target.symmetric.dtype == torch.bool
    assert target.symmetric.tolist() == [True, True, False, True]
    np.testing.assert_allclose(target.R_cam_obj[1].numpy(), records[0].rotations[1], atol=1e-6)
    np.testing.assert_allclose(target.sizes[2].numpy(), records[1].sizes[0], atol=1e-6)
    assert 0.0 <= float(inp.rgb.min()) and float(inp.rgb.max()) <= 1.0
    with pytest.raises(ValueError, match='at least one item'):
        collate_instances([])


def test_symmetric_flags():
    ids = np.array([1, 2, 3, 4, 5, 6, 6])
    handle = np.array([1, 1, 1, 1, 1, 1, 0])
    assert symmetric_flags(ids, handle).tolist() == [True, True, False, True, False, False,
                                                     True]


def test_gt_batch_and_results_fields():
    r = make_frame(4)
    batch = gt_batch(r, N, S, min_points=16)
    assert batch.gt_index.tolist() == [0, 1] and batch.skipped == {}
    assert batch.inputs.points.shape == (2, N, 3)
    assert batch.inputs.category_ids.tolist() == r.class_ids.tolist()
    again = gt_batch(r, N, S, min_points=16)
    assert torch.equal(again.inputs.points, batch.inputs.points)
    reasons = [s for _, s in iter_gt_instances(r, N, S, min_points=10_000)]
    assert reasons == ['too_few_points', 'too_few_points']
    empty = gt_batch(r, N, S, min_points=10_000)
    assert len(empty.inputs) == 0 and empty.skipped == {'too_few_points': 2}
    fields = gt_results_fields(r)
    rts = fields['gt_RTs']
    assert rts.shape == (2, 4, 4)
    np.testing.assert_allclose(rts[:, :3, :3], r.scales[:, None, None] * r.rotations)
    np.testing.assert_allclose(rts[:, :3, 3], r.translations)
    np.testing.assert_array_equal(rts[:, 3], [[0, 0, 0, 1]] * 2)
    np.testing.assert_array_equal(fields['gt_scales'], r.sizes)
    assert fields['gt_class_ids'].tolist() == [6, 1]


def test_cache_with_mask_noise(tmp_path, cache):
    """Perturbed masks change the points; every NOCS target still follows the gt pose."""
    clean, _ = cache
    noisy = build_instance_cache(NocsSplit(tmp_path, 'train'), tmp_path / 'noisy.npz', N, S,
                                 min_points=16, seed=0, mask_noise=1.0)
    c = np.load(clean.path, allow_pickle=False)
    d = np.load(noisy.path, allow_pickle=False)
    assert float(c['mask_noise']) == 0.0 and float(d['mask_noise']) == 1.0
    assert (c['num_valid'] != d['num_valid']).any()
    for k in range(len(d['points'])):
        pts_obj = (d['points'][k] - d['translations'][k]) @ d['rotations'][k] / d['scales'][k]
        err_m = np.abs(pts_obj - d['nocs'][k]) * d['scales'][k]
        assert np.median(err_m) < 2e-3
    with pytest.raises(ValueError, match='mask_noise'):
        build_instance_cache(NocsSplit(tmp_path, 'train'), tmp_path / 'x.npz', N, S,
                             mask_noise=1.5)
