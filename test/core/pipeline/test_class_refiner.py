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

"""Class refiner: shape features, training, weights files, the pipeline's use of it."""

from __future__ import annotations

import json

import numpy as np
from pipeline_helpers import box_scene, save_tiny_net, write_box_split
import pytest
import torch

from cleanpose_core.cli import main
from cleanpose_core.config import PipelineConfig
from cleanpose_core.errors import WeightsError
from cleanpose_core.geometry.plane import Plane
from cleanpose_core.model.weights import load_weights
from cleanpose_core.pipeline.class_refiner import (ClassRefiner, detection_features,
                                                   FEATURE_NAMES, load_class_refiner,
                                                   save_class_refiner, train_class_refiner)
from cleanpose_core.pipeline.class_refiner_train import label_detections
from cleanpose_core.pipeline.pipeline import PosePipeline

F = {name: i for i, name in enumerate(FEATURE_NAMES)}
K = np.array([[500.0, 0.0, 160.0], [0.0, 500.0, 120.0], [0.0, 0.0, 1.0]])
TABLE = Plane(normal=np.array([0.0, 0.0, -1.0]), offset=1.0, inliers=1000)  # z = 1 m


def _top_view(shape: str, top: float = 0.1, half: float = 0.04):
    """Depth of a table 1 m below a downward camera with one object of the given top."""
    depth = np.full((240, 320), 1.0, np.float32)
    v, u = np.mgrid[:240, :320]
    z = 1.0 - top
    x, y = (u - 160) * z / 500.0, (v - 120) * z / 500.0
    mask = np.hypot(x, y) <= half if shape == 'disc' else \
        (np.abs(x) <= half) & (np.abs(y) <= half)
    depth[mask] = z
    return depth, mask


@pytest.mark.parametrize('shape,fill', [('disc', np.pi / 4), ('square', 1.0)])
def test_features_measure_the_footprint_and_height(shape, fill):
    depth, mask = _top_view(shape, top=0.12)
    f = detection_features(depth, K, mask, TABLE, category_id=3, score=0.7)
    assert f.shape == (len(FEATURE_NAMES),)
    assert f[F['top_m']] == pytest.approx(0.12, abs=1e-4)
    assert f[F['bottom_m']] == pytest.approx(0.12, abs=1e-4)     # only the top is seen
    assert f[F['long_side_m']] == pytest.approx(0.08, rel=0.08)
    assert f[F['side_ratio']] == pytest.approx(1.0, abs=0.05)
    assert f[F['hull_fill']] == pytest.approx(fill, abs=0.06)
    assert f[F['score']] == 0.7 and f[F['is_3']] == 1.0 and f[F['is_1']] == 0.0


def test_features_of_the_main_depth_layer():
    """A sliver of the mask on something 40 cm above the table (an occluder in front):
    its height counts unless the features keep the main depth layer only."""
    depth, mask = _top_view('square', top=0.12)
    rows, cols = np.nonzero(mask)
    sliver = rows < rows.min() + 4
    depth[rows[sliver], cols[sliver]] = 0.6
    bled = detection_features(depth, K, mask, TABLE, category_id=3, score=0.7)
    assert bled[F['top_m']] == pytest.approx(0.4, abs=1e-3)
    f = detection_features(depth, K, mask, TABLE, category_id=3, score=0.7, depth_gap=0.05)
    assert f[F['top_m']] == pytest.approx(0.12, abs=1e-4)


def test_features_none_for_an_empty_or_tiny_mask():
    depth, _ = _top_view('disc')
    assert detection_features(depth, K, np.zeros_like(depth, bool), TABLE, 1, 0.5) is None
    few = np.zeros_like(depth, bool)
    few[0, :5] = True
    assert detection_features(depth, K, few, TABLE, 1, 0.5) is None


def _samples(n=1500, seed=0):
    """Detections whose segmenter says 'can' (4) for tall objects that are bottles (1)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURE_NAMES)))
    x[:, -6:] = 0.0
    said = rng.integers(1, 7, n)
    x[np.arange(n), len(FEATURE_NAMES) - 7 + said] = 1.0
    truth = said.copy()
    tall = x[:, F['top_m']] > 0.0
    truth[(said == 4) & tall] = 1
    return x, truth, said


def test_training_learns_what_the_segmenter_gets_wrong():
    x, y, said = _samples()
    trained = train_class_refiner(x, y, epochs=40, seed=0, holdout=0.2)
    assert trained.holdout_objects == 300
    assert trained.segmenter_accuracy < 0.95
    assert trained.refiner_accuracy > trained.segmenter_accuracy + 0.03
    p = trained.model.probabilities(x[:5])
    assert p.shape == (5, 7) and np.allclose(p.sum(axis=1), 1.0)


def _constant_refiner(category: int, none_logit: float = -10.0) -> ClassRefiner:
    """A refiner that says `category` for everything."""
    model = ClassRefiner(np.zeros(len(FEATURE_NAMES)), np.ones(len(FEATURE_NAMES)))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.net[-1].bias[category] = 10.0
        model.net[-1].bias[0] = none_logit
    return model.eval()


def test_refine_relabels_and_rescores():
    _, seg = box_scene(2)
    depth, mask = _top_view('disc')
    f = detection_features(depth, K, mask, TABLE, 1, 0.9)
    out = _constant_refiner(5, none_logit=10.0).refine(seg.detections, [f, None])
    assert out[0].category_id == 5 and out[0].score == pytest.approx(0.45, abs=0.01)
    assert out[1] is seg.detections[1]                   # no features: left as it was


def test_weights_round_trip_and_refusals(tmp_path):
    model = _constant_refiner(2)
    path = tmp_path / 'r.safetensors'
    save_class_refiner(model, path, info={'note': 'x'})
    again = load_class_refiner(path)
    x = np.random.default_rng(0).normal(size=(3, len(FEATURE_NAMES)))
    np.testing.assert_allclose(again.probabilities(x), model.probabilities(x))
    with pytest.raises(WeightsError, match='not found'):
        load_class_refiner(tmp_path / 'missing.safetensors')
    (tmp_path / 'junk.safetensors').write_bytes(b'\x00' * 64)
    with pytest.raises(WeightsError, match='not a safetensors'):
        load_class_refiner(tmp_path / 'junk.safetensors')
    from safetensors.torch import save_file

    save_file({'w': torch.zeros(2)}, str(tmp_path / 'other.safetensors'))
    with pytest.raises(WeightsError, match='not a class refiner'):
        load_class_refiner(tmp_path / 'other.safetensors')


def test_label_detections():
    gt = np.full((4, 6), 255, np.uint8)
    gt[:, :3] = 1
    gt[:, 3:] = 2
    masks = np.zeros((3, 4, 6), bool)
    masks[0, :, :3] = True        # instance 1 exactly
    masks[1, :, 2:] = True        # instance 2 with one bled column: IoU 0.75
    masks[2, :2, :] = True        # half of both: IoU 1/3 with each
    labels = label_detections(masks, gt, np.array([1, 2]), np.array([6, 3]))
    assert labels.tolist() == [6, 3, 0]


@pytest.fixture(scope='module')
def net_path(tmp_path_factory):
    return save_tiny_net(tmp_path_factory.mktemp('refiner') / 'net.safetensors')


@pytest.mark.parametrize('categories,expected', [
    (('bottle', 'bowl', 'camera', 'can', 'laptop', 'mug'), [5, 5, 5]),
    (('bottle', 'bowl'), []),
], ids=['relabelled', 'then-filtered'])
def test_pipeline_refines_segmenter_masks_before_the_category_filter(net_path, categories,
                                                                     expected):
    frame, seg = box_scene(3)
    cfg = PipelineConfig(device='cpu', min_score=0.0, categories=categories,
                         trace_network=False)
    pipeline = PosePipeline(load_weights(net_path), cfg, segmenter=lambda color: seg,
                            refiner=_constant_refiner(5))
    skipped: dict = {}
    dets, plane = pipeline.detect(frame, skipped=skipped)
    assert plane is not None
    assert [d.category_id for d in dets] == expected
    assert skipped.get('category_disabled', 0) == 3 - len(expected)
    # Handed masks (ground truth) are never refined.
    dets, _ = pipeline.detect(frame, seg)
    assert sorted(d.category_id for d in dets) == \
        sorted(d.category_id for d in seg.detections if d.category_id in pipeline.enabled_ids)


def _box_split_pipeline(tmp_path, net_path):
    """A box split and a pipeline whose 'segmenter' returns each frame's exact masks."""
    from cleanpose_core.data.nocs import NocsSplit

    write_box_split(tmp_path / 'data', 'train', frames=3, n_objects=3)
    by_color = {}
    for seed in range(3):
        frame, seg = box_scene(3, seed=seed)
        by_color[frame.color.tobytes()] = seg
    cfg = PipelineConfig(device='cpu', min_score=0.0, trace_network=False)
    pipeline = PosePipeline(load_weights(net_path), cfg,
                            segmenter=lambda color: by_color[color.tobytes()],
                            refiner=_constant_refiner(5))
    return NocsSplit(tmp_path / 'data', 'train'), pipeline


def test_collect_samples_labels_the_pipelines_detections(tmp_path, net_path):
    from cleanpose_core.pipeline.class_refiner_train import collect_samples

    split, pipeline = _box_split_pipeline(tmp_path, net_path)
    features, labels, frames = collect_samples(pipeline, split)
    assert frames == 3 and features.shape == (9, len(FEATURE_NAMES))
    assert sorted(labels.tolist()) == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    # The segmenter's categories are recorded (the refiner was set aside meanwhile).
    said = np.argmax(features[:, -6:], axis=1) + 1
    np.testing.assert_array_equal(said, labels)
    assert pipeline.refiner is not None


def test_train_refiner_command_from_samples(tmp_path):
    x, y, _ = _samples(300)
    samples = tmp_path / 'samples.npz'
    np.savez(samples, features=x, labels=y, frames=30, depth_gap=0.05)
    out = tmp_path / 'ref' / 'r.safetensors'
    args = ['train-refiner', '--data', str(tmp_path / 'unused'), '--out', str(out),
            '--samples', str(samples), '--epochs', '2']
    assert main(args) == 0
    assert load_class_refiner(out) is not None
    assert json.loads((tmp_path / 'ref' / 'r.json').read_text())['depth_gap'] == 0.05
    # Samples of another depth_gap (files from before it existed had none: 0).
    assert main([*args, 'pipeline.depth_gap=0.03']) != 0
    np.savez(samples, features=x, labels=y, frames=30)
    assert main(args) != 0
    assert main([*args, 'pipeline.depth_gap=0']) == 0
    np.savez(samples, features=x[:, :5], labels=y, frames=30, depth_gap=0.05)
    assert main(args) != 0                                  # wrong feature count


def test_suppress_duplicates_keeps_one_detection_per_object_and_category():
    from cleanpose_core.pipeline.pipeline import mask_iou, suppress_duplicates
    from cleanpose_core.pipeline.segmenter import Detection2D

    def det(cat, score, x0, x1):
        mask = np.zeros((20, 40), bool)
        mask[5:15, x0:x1] = True
        return Detection2D(mask, cat, score, np.array([x0, 5, x1, 15], np.float64))

    a, dup, other_cat, apart = det(6, 0.9, 0, 10), det(6, 0.5, 1, 11), det(3, 0.4, 0, 10), \
        det(6, 0.3, 20, 30)
    assert mask_iou(a.mask, dup.mask) == pytest.approx(9 / 11)
    assert mask_iou(a.mask, apart.mask) == 0.0
    assert mask_iou(a.mask, np.zeros_like(a.mask)) == 0.0
    kept = suppress_duplicates([a, dup, other_cat, apart], 0.5)
    assert kept == [a, other_cat, apart]
    assert suppress_duplicates([a, dup], 0.95) == [a, dup]
