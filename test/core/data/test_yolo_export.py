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

"""Export to the ultralytics segmentation dataset format."""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest
from test_nocs_io import write_split
import yaml

from cleanpose_core.cli import main
from cleanpose_core.data.nocs import frame_path, read_label
from cleanpose_core.data.yolo_export import export_yolo, mask_to_polygon
from cleanpose_core.errors import DataError


def _fill(poly_xy: np.ndarray, h: int, w: int) -> np.ndarray:
    out = np.zeros((h, w), np.uint8)
    cv2.fillPoly(out, [np.rint(poly_xy).astype(np.int32)], 1)
    return out.astype(bool)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.fixture
def exported(tmp_path):
    train = write_split(tmp_path / 'data' / 'train', frames=2)
    test = write_split(tmp_path / 'data' / 'test', frames=1)
    yaml_path = export_yolo(tmp_path / 'data', tmp_path / 'yolo', ['train', 'test'])
    return tmp_path, yaml_path, train, test


def test_layout_and_yaml(exported):
    tmp_path, yaml_path, _, _ = exported
    out = tmp_path / 'yolo'
    assert yaml_path == out / 'data.yaml'
    data = yaml.safe_load(yaml_path.read_text())
    assert data == {'path': str(out.resolve()), 'train': 'images/train', 'val': 'images/test',
                    'names': {0: 'bottle', 1: 'bowl', 2: 'camera', 3: 'can', 4: 'laptop',
                              5: 'mug'}}
    assert sorted(p.name for p in (out / 'images' / 'train').iterdir()) == [
        'scene_1_0000.png', 'scene_1_0001.png']
    assert sorted(p.name for p in (out / 'labels' / 'test').iterdir()) == ['scene_1_0000.txt']
    src = frame_path(tmp_path / 'data' / 'train', 'scene_1', 1, 'color.png')
    dst = out / 'images' / 'train' / 'scene_1_0001.png'
    assert dst.read_bytes() == src.read_bytes()
    assert dst.stat().st_ino == src.stat().st_ino  # same file system: hard link


def test_polygons_match_masks(exported):
    tmp_path, _, train, _ = exported
    r = train[1]
    lines = (tmp_path / 'yolo' / 'labels' / 'train' / 'scene_1_0001.txt').read_text().split('\n')
    lines = [line for line in lines if line]
    assert len(lines) == 2  # mug and bottle; the distractor is not labelled
    for line, cls, inst in zip(lines, r.class_ids, r.instance_ids):
        values = line.split()
        assert int(values[0]) == cls - 1
        xy = np.array(values[1:], dtype=np.float64).reshape(-1, 2)
        assert xy.min() >= 0 and xy.max() <= 1
        filled = _fill(xy * [r.width, r.height], r.height, r.width)
        assert _iou(filled, r.mask == inst) > 0.75


def test_ultralytics_accepts_labels(exported):
    from ultralytics.data.utils import verify_image_label

    tmp_path, _, train, _ = exported
    out = tmp_path / 'yolo'
    result = verify_image_label((str(out / 'images' / 'train' / 'scene_1_0000.png'),
                                 str(out / 'labels' / 'train' / 'scene_1_0000.txt'), '', False,
                                 6, 0, 0, False))
    _, lb, shape, segments, _, nm, nf, ne, nc, msg = result
    assert (nm, nf, ne, nc) == (0, 1, 0, 0), msg
    assert lb[:, 0].tolist() == [5.0, 0.0]
    assert tuple(shape) == (train[0].height, train[0].width)
    assert len(segments) == 2


def test_mask_with_two_pieces_is_one_polygon():
    mask = np.zeros((40, 60), bool)
    mask[5:20, 5:20] = True
    mask[25:35, 30:55] = True
    mask[2:4, 50:52] = True  # 4 px speck: below min_area 5, dropped
    poly = mask_to_polygon(mask, min_area=5)
    filled = _fill(poly, 40, 60)
    expected = mask.copy()
    expected[2:4, 50:52] = False
    assert _iou(filled, expected) > 0.9
    # the bridge between the pieces has no area
    assert filled.sum() < expected.sum() + 60


def test_empty_mask_gives_no_polygon():
    assert mask_to_polygon(np.zeros((10, 10), bool)).shape == (0, 2)


def test_reexport_replaces_files(exported):
    tmp_path, yaml_path, _, _ = exported
    before = (tmp_path / 'yolo' / 'labels' / 'train' / 'scene_1_0000.txt').read_text()
    export_yolo(tmp_path / 'data', tmp_path / 'yolo', ['train', 'test'])
    assert (tmp_path / 'yolo' / 'labels' / 'train' / 'scene_1_0000.txt').read_text() == before
    leftovers = [p for p in (tmp_path / 'yolo').rglob('*') if p.name.endswith('.tmp')]
    assert leftovers == []


def test_cli(tmp_path, capsys):
    write_split(tmp_path / 'd' / 'train', frames=1)
    rc = main(['export-yolo', '--data', str(tmp_path / 'd'), '--out', str(tmp_path / 'y'),
               '--splits', 'train'])
    assert rc == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / 'y' / 'data.yaml')
    data = yaml.safe_load((tmp_path / 'y' / 'data.yaml').read_text())
    assert data['train'] == data['val'] == 'images/train'


def test_unknown_class_and_missing_split(tmp_path):
    write_split(tmp_path / 'd' / 'train', frames=1)
    label_path = frame_path(tmp_path / 'd' / 'train', 'scene_1', 0, 'label.pkl')
    label = read_label(label_path)
    label['class_ids'] = np.array([6, 8])
    label_path.write_bytes(pickle.dumps(label))
    with pytest.raises(DataError, match=r'0000_label.pkl: unknown class id 8'):
        export_yolo(tmp_path / 'd', tmp_path / 'y', ['train'])
    with pytest.raises(DataError, match='val: split directory does not exist'):
        export_yolo(tmp_path / 'd', tmp_path / 'y', ['val'])
