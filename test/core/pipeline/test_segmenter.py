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

"""Segmenter wrapper: safetensors round trip, class mapping, masks at frame size."""

from __future__ import annotations

import json

import numpy as np
from pipeline_helpers import build_tiny_yolo, save_tiny_segmenter
import pytest
from safetensors.torch import load_file, save_file
import torch

from cleanpose_core.categories import CATEGORIES
from cleanpose_core.data.nocs import FrameRecord
from cleanpose_core.errors import WeightsError
from cleanpose_core.pipeline.segmenter import erode_masks, GtMaskSegmenter, YoloSegmenter
from cleanpose_core.pipeline.segmenter_weights import (load_segmenter_model,
                                                       read_segmenter_metadata, save_segmenter)


@pytest.fixture(scope='module')
def tiny_segmenter_path(tmp_path_factory):
    """A yolo11n-seg with our six category names."""
    return save_tiny_segmenter(tmp_path_factory.mktemp('seg') / 'segmenter.safetensors')


@pytest.fixture(scope='module')
def coco_like_segmenter_path(tmp_path_factory):
    """COCO-like names: 'cup' needs a class map, 'person' maps nowhere."""
    return save_tiny_segmenter(tmp_path_factory.mktemp('seg') / 'coco_like.safetensors',
                               ['person', 'cup', 'bottle'])


def _image(h=96, w=128, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_round_trip_keeps_tensors_and_names(tiny_segmenter_path):
    meta = read_segmenter_metadata(tiny_segmenter_path)
    assert meta['names'] == list(CATEGORIES)
    assert meta['imgsz'] == 64
    assert meta['yaml']['nc'] == 6
    model = load_segmenter_model(tiny_segmenter_path)
    assert model.task == 'segment'
    assert model.names == dict(enumerate(CATEGORIES))
    stored = load_file(str(tiny_segmenter_path))
    loaded = model.model.state_dict()
    assert set(stored) == set(loaded)
    key = 'model.0.conv.weight'
    torch.testing.assert_close(loaded[key], stored[key])


@pytest.mark.parametrize('shape', [(96, 128), (120, 90)], ids=['landscape', 'portrait'])
def test_masks_come_at_frame_size(tiny_segmenter_path, shape):
    seg = YoloSegmenter.from_weights(tiny_segmenter_path, conf=0.0, imgsz=64, max_det=5)
    out = seg(_image(*shape))
    assert 1 <= len(out) <= 5
    scores = [d.score for d in out.detections]
    assert scores == sorted(scores, reverse=True)
    for det in out.detections:
        assert det.mask.shape == shape and det.mask.dtype == bool
        assert 1 <= det.category_id <= 6
        assert det.box_xyxy.shape == (4,)
        assert 0 <= det.box_xyxy[0] <= det.box_xyxy[2] <= shape[1] + 1e-3
        assert 0 <= det.box_xyxy[1] <= det.box_xyxy[3] <= shape[0] + 1e-3


def test_segmenting_leaves_torch_threads_alone(tiny_segmenter_path):
    import torch

    seg = YoloSegmenter.from_weights(tiny_segmenter_path, conf=0.0, imgsz=64)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seg(_image())
        assert torch.get_num_threads() == 2      # ultralytics alone leaves 1 behind
    finally:
        torch.set_num_threads(before)


def test_confidence_threshold_one_gives_nothing(tiny_segmenter_path):
    seg = YoloSegmenter.from_weights(tiny_segmenter_path, conf=1.0, imgsz=64)
    out = seg(_image())
    assert len(out) == 0 and out.skipped == {}


def test_class_map_and_unmapped_counts(coco_like_segmenter_path):
    seg = YoloSegmenter.from_weights(coco_like_segmenter_path, class_map={'cup': 'mug'},
                                     conf=0.0, imgsz=64, max_det=30)
    assert seg.class_to_category == {1: CATEGORIES.index('mug') + 1,
                                     2: CATEGORIES.index('bottle') + 1}
    image = _image()
    raw = seg.model.predict(np.ascontiguousarray(image[..., ::-1]), imgsz=64, conf=0.0,
                            max_det=30, verbose=False)[0]
    raw_classes = raw.boxes.cls.numpy().astype(int)
    out = seg(image)
    assert out.skipped.get('unmapped_class', 0) == int((raw_classes == 0).sum())
    assert len(out) == int((raw_classes != 0).sum())
    assert {d.category_id for d in out.detections} <= {1, 6}


def test_model_without_any_category_is_refused(tmp_path):
    path = save_segmenter(tmp_path / 's.safetensors', build_tiny_yolo(['person', 'chair']))
    with pytest.raises(WeightsError, match='maps onto a category.*pipeline.class_map'):
        YoloSegmenter.from_weights(path)


def test_rejects_non_uint8_image(tiny_segmenter_path):
    seg = YoloSegmenter.from_weights(tiny_segmenter_path, imgsz=64)
    with pytest.raises(ValueError, match=r'color must be \(H, W, 3\) uint8 RGB'):
        seg(np.zeros((8, 8, 3), np.float32))


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match='not found'):
        load_segmenter_model(tmp_path / 'nope.safetensors')


def test_unknown_suffix(tmp_path):
    path = tmp_path / 'seg.onnx'
    path.write_bytes(b'0')
    with pytest.raises(WeightsError, match='expected a .safetensors file'):
        load_segmenter_model(path)


def test_truncated_file(tiny_segmenter_path, tmp_path):
    path = tmp_path / 'cut.safetensors'
    path.write_bytes(tiny_segmenter_path.read_bytes()[:5000])
    with pytest.raises(WeightsError, match='not a readable safetensors file|corrupt'):
        load_segmenter_model(path)


def test_foreign_safetensors_file(tmp_path):
    path = tmp_path / 'other.safetensors'
    save_file({'w': torch.zeros(2)}, str(path), metadata={'format': 'something-else'})
    with pytest.raises(WeightsError, match='not a cleanpose segmenter'):
        load_segmenter_model(path)


def test_tensors_that_do_not_match_the_definition(tiny_segmenter_path, tmp_path):
    tensors = load_file(str(tiny_segmenter_path))
    meta = {k: v if isinstance(v, str) else json.dumps(v)
            for k, v in read_segmenter_metadata(tiny_segmenter_path).items()}
    del tensors['model.0.conv.weight']
    path = tmp_path / 'bad.safetensors'
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(WeightsError, match='does not match its model definition'):
        load_segmenter_model(path)


def _record():
    h, w = 40, 60
    mask = np.full((h, w), 255, np.uint8)
    mask[5:15, 5:20] = 3
    mask[20:30, 30:50] = 7
    mask[0:3, 55:60] = 9  # a distractor: not labelled
    n = 3
    return FrameRecord(color=np.zeros((h, w, 3), np.uint8), depth=np.ones((h, w), np.float32),
                       mask=mask, K=np.eye(3), class_ids=np.array([6, 2, 1]),
                       instance_ids=np.array([3, 7, 11]), rotations=np.tile(np.eye(3), (n, 1, 1)),
                       translations=np.zeros((n, 3)), scales=np.ones(n),
                       sizes=np.full((n, 3), 0.5), scene='s', index=0)


def test_gt_mask_segmenter():
    out = GtMaskSegmenter()(_record())
    assert [d.category_id for d in out.detections] == [6, 2]
    assert out.skipped == {'empty_mask': 1}
    first = out.detections[0]
    assert first.mask.sum() == 150 and first.score == 1.0
    np.testing.assert_array_equal(first.box_xyxy, [5, 5, 20, 15])


def test_erode_masks_takes_pixels_off_the_edges():
    masks = np.zeros((2, 20, 20), bool)
    masks[0, 5:15, 5:15] = True
    masks[1, 2:5, 16:19] = True                    # thinner than the erosion: vanishes
    out = erode_masks(masks, 2)
    assert out.dtype == np.bool_ and out.shape == masks.shape
    assert out[0].sum() == 36 and out[0, 7:13, 7:13].all()
    assert not out[1].any()
    assert erode_masks(masks, 0) is masks
    assert erode_masks(np.zeros((0, 20, 20), bool), 3).shape == (0, 20, 20)
