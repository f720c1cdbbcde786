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

"""evaluate(): NOCS results pickles, summary.json schema, perfect and missing predictions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cleanpose_core.cli import main
from cleanpose_core.config import load_config
from cleanpose_core.data.nocs import NocsSplit, read_label
from cleanpose_core.eval.evaluate import (empty_prediction, evaluate, make_prediction,
                                          METRIC_KEYS, network_predictor, orthonormalize_rts,
                                          select_frames)
from cleanpose_core.geometry.transforms import random_rotations
from cleanpose_core.model.network import CleanPoseNet

SUMMARY_KEYS = {'metrics', 'per_category', 'frames', 'instances', 'predictions', 'skipped',
                'errors', 'weights', 'masks', 'method'}


@pytest.fixture(scope='module')
def split(tmp_path_factory) -> NocsSplit:
    """A 3-frame upright synthetic test split at 160x120 (written by the package)."""
    from cleanpose_core.data.synth.command import SynthSpec, synthesize
    from cleanpose_core.data.synth.render import REAL_K
    from cleanpose_core.data.synth.scene import SceneOptions

    root = tmp_path_factory.mktemp('eval_data')
    K = REAL_K.copy()
    K[:2] *= 0.25
    spec = SynthSpec(seed=3, split='test', frames_per_scene=3, width=160, height=120, K=K,
                     poses='upright', scene=SceneOptions(min_objects=4, max_objects=6,
                                                         max_distractors=1,
                                                         instances_per_category=10))
    synthesize(spec, root / 'test', 3, workers=1, show_progress=False)
    return NocsSplit(root, 'test')


def perfect(record) -> dict:
    """Predict the ground truth itself."""
    n = len(record)
    return make_prediction(record.class_ids, np.ones(n), record.rotations, record.translations,
                           record.scales, record.sizes, record.bboxes,
                           gt_index=np.arange(n))


def test_perfect_predictions_score_100(split, tmp_path):
    info = {'weights': None, 'masks': 'gt', 'method': 'oracle'}
    summary = evaluate(perfect, split, out_dir=tmp_path, info=info)
    assert summary.metrics == {k: 100.0 for k in METRIC_KEYS}
    assert summary.per_category and all(v == {k: 100.0 for k in METRIC_KEYS}
                                        for v in summary.per_category.values())
    assert summary.frames == 3
    assert summary.instances == summary.predictions == sum(len(r) for r in split)
    for row in summary.errors.values():
        assert row['rot_deg_median'] < 0.01 and row['trans_cm_median'] < 1e-6
        assert row['iou_median'] > 0.999

    written = json.loads((tmp_path / 'summary.json').read_text())
    assert SUMMARY_KEYS <= set(written)
    assert set(written['metrics']) == set(METRIC_KEYS)
    assert written['method'] == 'oracle' and written['skipped'] == {}
    assert all(Path(p).is_file() for p in written['plots']) and written['plots']


def test_predictions_are_nocs_results_pickles(split, tmp_path):
    evaluate(perfect, split, out_dir=tmp_path, plots=False)
    for scene, index in split.frames:
        path = tmp_path / 'predictions' / scene / f'{index:04d}.pkl'
        result = read_label(path)  # the restricted unpickler: numpy arrays and builtins only
        record = split[split.frames.index((scene, index))]
        n = len(record)
        shapes = {'pred_class_ids': (n,), 'pred_scores': (n,), 'pred_RTs': (n, 4, 4),
                  'pred_scales': (n, 3), 'pred_bboxes': (n, 4), 'gt_class_ids': (n,),
                  'gt_RTs': (n, 4, 4), 'gt_scales': (n, 3), 'gt_handle_visibility': (n,),
                  'gt_bboxes': (n, 4)}
        assert {k: np.asarray(result[k]).shape for k in shapes} == shapes
        R = result['pred_RTs'][:, :3, :3]
        s = np.cbrt(np.linalg.det(R))
        np.testing.assert_allclose(s, record.scales, rtol=1e-6)  # labels hold float32 R
        np.testing.assert_allclose(result['pred_RTs'][:, :3, 3], record.translations)
        np.testing.assert_allclose(result['pred_RTs'][:, 3], np.tile([0, 0, 0, 1.0], (n, 1)))


def test_missing_predictions_are_counted_and_score_zero(split):
    summary = evaluate(lambda record: empty_prediction({'too_few_points': len(record)}), split)
    assert summary.metrics == {k: 0.0 for k in METRIC_KEYS}
    assert summary.predictions == 0
    assert summary.skipped == {'too_few_points': summary.instances}


def test_unreadable_frame_is_skipped_and_counted(split, tmp_path):
    import shutil

    root = tmp_path / 'copy'
    shutil.copytree(split.split_dir, root / 'test')
    scene, index = split.frames[1]
    (root / 'test' / scene / f'{index:04d}_depth.png').write_bytes(b'\x89PNG truncated')
    summary = evaluate(perfect, NocsSplit(root, 'test'))
    assert summary.frames == 2
    assert summary.skipped == {'unreadable_frame': 1}
    assert summary.metrics['iou50'] == 100.0


@pytest.mark.parametrize('n,limit,expected', [(5, 0, [0, 1, 2, 3, 4]), (10, 3, [0, 4, 9]),
                                              (3, 7, [0, 1, 2])],
                         ids=['all', 'spread', 'more-than-there'])
def test_select_frames(n, limit, expected):
    assert select_frames(n, limit) == expected


def test_network_predictor_makes_one_batched_call_per_frame(split):
    cfg = load_config(None, ['model.num_points=64', 'model.dim=16', 'model.num_keypoints=8',
                             'model.knn=8', 'model.dict_size=8', 'model.dict_sample=4',
                             'model.crop_size=16', 'model.nocs_bins=8']).model
    net = CleanPoseNet(cfg).eval()
    batches = []
    net.point_encoder.register_forward_pre_hook(
        lambda module, args: batches.append(len(args[0])))
    predict = network_predictor(net, 'cpu', seed=0)
    record = split[0]
    first = predict(record)
    assert batches == [len(first['pred_class_ids'])]
    assert len(first['pred_class_ids']) + sum(first['skipped'].values()) == len(record)
    np.testing.assert_array_equal(first['pred_class_ids'],
                                  record.class_ids[first['pred_gt_index']])
    assert np.all(first['pred_scores'] == 1.0)
    again = predict(record)  # seeded per frame: repeated evaluations agree
    np.testing.assert_array_equal(first['pred_RTs'], again['pred_RTs'])


def test_make_prediction_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r't_cam_obj must have shape \(2, 3\)'):
        make_prediction([1, 2], [1, 1], np.eye(3)[None].repeat(2, 0), np.zeros((3, 3)),
                        [0.1, 0.1], np.ones((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match='category_ids must be in 1..6'):
        make_prediction([7], [1], np.eye(3)[None], np.zeros((1, 3)), [0.1], np.ones((1, 3)),
                        np.zeros((1, 4)))


def test_eval_command_scores_the_geometric_reference(split, tmp_path, capsys):
    out = tmp_path / 'eval'
    code = main(['eval', '--data', str(split.root), '--split', 'test', '--method', 'baseline',
                 '--out', str(out), '--max-frames', '2'])
    assert code == 0
    summary = json.loads((out / 'summary.json').read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert summary['frames'] == 2 and summary['method'] == 'baseline'
    assert len(list((out / 'predictions').rglob('*.pkl'))) == 2
    assert f'results saved to {out}' in capsys.readouterr().out


def test_orthonormalize_rts_keeps_scale_and_translation():
    R = random_rotations(4, generator=torch.Generator().manual_seed(0)).double()
    RTs = np.tile(np.eye(4), (4, 1, 1))
    RTs[:, :3, :3] = 0.3 * R.numpy().astype(np.float32)  # float32 residuals, as in labels
    RTs[:, :3, 3] = [0.1, -0.2, 0.7]
    out = orthonormalize_rts(RTs)
    Rn = out[:, :3, :3] / np.cbrt(np.linalg.det(out[:, :3, :3]))[:, None, None]
    np.testing.assert_allclose(Rn @ Rn.transpose(0, 2, 1), np.tile(np.eye(3), (4, 1, 1)),
                               atol=1e-12)
    np.testing.assert_allclose(out[:, :3, :3], RTs[:, :3, :3], atol=1e-6)
    np.testing.assert_array_equal(out[:, :3, 3], RTs[:, :3, 3])
    assert orthonormalize_rts(np.zeros((0, 4, 4))).shape == (0, 4, 4)
