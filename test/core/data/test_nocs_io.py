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

"""NOCS-layout writer and reader: round trip, real-dataset encodings, bad files.

make_frame renders tiny frames of boxes analytically (ray/slab intersection) and is
reused by the other data tests.
"""

from __future__ import annotations

import os
from pathlib import Path
import pickle

import cv2
import numpy as np
import pytest

from cleanpose_core.data.nocs import (CAMERA_INTRINSICS, decode_coord, encode_coord,
                                      frame_path, FrameRecord, intrinsics_matrix, NocsSplit,
                                      read_camera, read_depth_mm, read_frame, read_label,
                                      read_mask, REAL_INTRINSICS)
from cleanpose_core.data.writer import write_camera_json, write_frame
from cleanpose_core.errors import DataError

K_TINY = intrinsics_matrix(80.0, 80.0, 31.5, 23.5)


def _rot_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def render_boxes(boxes, K, height, width):
    """Ray-cast boxes (class_id, inst_id, R, t, scale, size) into depth, mask, coord, colour."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    d_cam = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)
    depth = np.zeros((height, width))
    mask = np.full((height, width), 255, np.uint8)
    coord = np.zeros((height, width, 3))
    color = np.full((height, width, 3), 40, np.uint8)
    for k, (_, inst, R, t, scale, size) in enumerate(boxes):
        half = scale * np.asarray(size) / 2
        o = -R.T @ t
        d = d_cam @ R  # R.T @ d per pixel
        with np.errstate(divide='ignore', invalid='ignore'):
            t1, t2 = (-half - o) / d, (half - o) / d
        t_near = np.nanmax(np.minimum(t1, t2), axis=-1)
        t_far = np.nanmin(np.maximum(t1, t2), axis=-1)
        hit = (t_far >= t_near) & (t_near > 0) & ((depth == 0) | (t_near < depth))
        depth[hit] = t_near[hit]
        mask[hit] = inst
        pts_obj = o + t_near[..., None] * d
        coord[hit] = pts_obj[hit] / scale
        color[hit] = np.clip(np.rint((coord[hit] + 0.5) * 200 + 30 * k), 0, 255)
    return color, depth, mask, coord


def make_frame(seed: int = 0, height: int = 48, width: int = 64, objects=((6, 1), (1, 2)),
               distractor: bool = True, K=K_TINY) -> FrameRecord:
    """A tiny frame of boxes, quantised like the files so that a round trip is exact."""
    rng = np.random.default_rng(seed)
    boxes = []
    n = len(objects) + int(distractor)
    for k, (cls, inst) in enumerate(list(objects) + ([(0, 7)] if distractor else [])):
        R = _rot_y(rng.uniform(-np.pi, np.pi)) @ _rot_x(rng.uniform(-0.5, 0.5))
        x = (k - (n - 1) / 2) * 0.12 + rng.uniform(-0.01, 0.01)
        t = np.array([x, rng.uniform(-0.02, 0.02), rng.uniform(0.45, 0.5) + 0.04 * k])
        size = rng.uniform(0.4, 1.0, 3)
        size /= np.linalg.norm(size)
        boxes.append((cls, inst, R, t, rng.uniform(0.14, 0.18), size))
    color, depth, mask, coord = render_boxes(boxes, K, height, width)
    depth = (np.rint(depth * 1000).astype(np.uint16).astype(np.float32) / np.float32(1000))
    coord = decode_coord(encode_coord(coord))
    labelled = [b for b in boxes if b[0] > 0]
    return FrameRecord(
        color=color, depth=depth, mask=mask, K=K, coord=coord,
        class_ids=[b[0] for b in labelled], instance_ids=[b[1] for b in labelled],
        rotations=np.array([b[2] for b in labelled]).reshape(-1, 3, 3),
        translations=np.array([b[3] for b in labelled]).reshape(-1, 3),
        scales=[b[4] for b in labelled], sizes=np.array([b[5] for b in labelled]).reshape(-1, 3),
        handle_visibility=[1 if b[0] != 6 else seed % 2 for b in labelled],
        model_list=[f'box_{b[1]}' for b in labelled], scene='scene_1', index=seed)


def write_split(split_dir: Path, frames=3, **kwargs) -> list[FrameRecord]:
    """Write frames 0..frames-1 (scene_1) and camera.json; return the records."""
    records = [make_frame(seed, **kwargs) for seed in range(frames)]
    write_camera_json(split_dir, records[0].K, records[0].width, records[0].height)
    for r in records:
        write_frame(split_dir, r.scene, r.index, r)
    return records


def assert_records_equal(a: FrameRecord, b: FrameRecord) -> None:
    for name in ('color', 'depth', 'mask', 'coord', 'K', 'class_ids', 'instance_ids', 'bboxes',
                 'scales', 'sizes', 'rotations', 'translations', 'handle_visibility'):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)
    assert a.model_list == b.model_list
    assert a.meta == b.meta
    assert (a.scene, a.index) == (b.scene, b.index)


def test_round_trip_is_exact(tmp_path):
    records = write_split(tmp_path / 'train')
    split = NocsSplit(tmp_path, 'train')
    assert split.frames == [('scene_1', 0), ('scene_1', 1), ('scene_1', 2)]
    assert len(split) == 3
    for written, read in zip(records, split):
        assert_records_equal(written, read)
    first = split[0]
    assert first.meta == ((1, 6, 'box_1'), (2, 1, 'box_2'), (7, 0, 'distractor'))
    assert (first.mask == 7).sum() > 0
    assert first.depth[first.mask == 255].max() == 0
    assert np.count_nonzero(first.depth) > 0.2 * first.depth.size


def test_round_trip_frame_without_instances(tmp_path):
    record = make_frame(0, objects=(), distractor=False)
    write_camera_json(tmp_path, record.K, record.width, record.height)
    write_frame(tmp_path, 's', 3, record)
    read = read_frame(tmp_path, 's', 3)
    assert len(read) == 0
    assert read.rotations.shape == (0, 3, 3) and read.bboxes.shape == (0, 4)


def test_rendered_ground_truth_is_consistent():
    """Depth pixels mapped into the object frame with the gt pose hit the NOCS map."""
    r = make_frame(1)
    for i in range(len(r)):
        m = r.instance_mask(i)
        v, u = np.nonzero(m)
        z = r.depth[m]
        pts = np.stack([(u - r.K[0, 2]) * z / r.K[0, 0], (v - r.K[1, 2]) * z / r.K[1, 1], z], -1)
        nocs = (pts - r.translations[i]) @ r.rotations[i] / r.scales[i]
        assert np.median(np.abs(nocs - r.coord[m]) * r.scales[i]) < 2e-3


def test_incomplete_frame_is_skipped(tmp_path):
    write_split(tmp_path, frames=2)
    frame_path(tmp_path, 'scene_1', 1, 'label.pkl').unlink()
    assert NocsSplit(tmp_path).frames == [('scene_1', 0)]


def test_rewrite_unmarks_frame_first(tmp_path):
    write_split(tmp_path, frames=1)
    label = frame_path(tmp_path, 'scene_1', 0, 'label.pkl')
    assert label.is_file()
    with pytest.raises(TypeError, match='FrameRecord'):
        write_frame(tmp_path, 'scene_1', 0, {'color': None})
    hidden = make_frame(5)
    hidden = FrameRecord(**{**hidden.__dict__, 'instance_ids': [1, 9], 'meta': None})
    with pytest.raises(ValueError, match=r'labelled instances \[9\] have no pixels'):
        write_frame(tmp_path, 'scene_1', 0, hidden)
    assert label.is_file()  # a rejected record does not touch the frame
    record = make_frame(5)
    write_frame(tmp_path, 'scene_1', 0, record)
    assert_records_equal(read_frame(tmp_path, 'scene_1', 0),
                         FrameRecord(**{**record.__dict__, 'scene': 'scene_1', 'index': 0}))
    assert not [p for p in (tmp_path / 'scene_1').iterdir() if p.name.endswith('.tmp')]


class _Evil:
    def __reduce__(self):
        return os.system, (f'touch {self.target}',)


def test_restricted_unpickler_rejects_code(tmp_path):
    evil = _Evil()
    evil.target = tmp_path / 'pwned'
    path = tmp_path / 'x_label.pkl'
    path.write_bytes(pickle.dumps({'class_ids': evil}))
    with pytest.raises(DataError, match=r'refused .*(posix|os)\.system is not allowed'):
        read_label(path)
    assert not (tmp_path / 'pwned').exists()


@pytest.mark.parametrize('protocol', [2, 5], ids=['protocol2', 'protocol5'])
def test_label_accepts_numpy_arrays_and_numpy1_names(tmp_path, protocol):
    label = {'class_ids': [np.int64(1), 2], 'rotations': np.eye(3, dtype=np.float32)[None],
             'model_list': np.array(['a', 'b']), 'scales': (0.5, 0.25)}
    data = pickle.dumps(label, protocol=protocol)
    if protocol == 2:  # a pickle written by numpy 1.x names numpy.core
        data = data.replace(b'numpy._core.multiarray', b'numpy.core.multiarray')
        assert b'numpy.core.multiarray' in data
    path = tmp_path / 'l.pkl'
    path.write_bytes(data)
    read = read_label(path)
    assert read['class_ids'] == [1, 2]
    np.testing.assert_array_equal(read['rotations'], label['rotations'])
    assert read['rotations'].dtype == np.float32
    assert read['model_list'].tolist() == ['a', 'b']
    assert read['scales'] == (0.5, 0.25)


def test_camera_set_three_channel_depth(tmp_path):
    depth_mm = np.array([[0, 255, 256], [1234, 40000, 65535]], dtype=np.uint16)
    bgr = np.zeros(depth_mm.shape + (3,), np.uint8)
    bgr[..., 0] = 77  # blue is unused by the encoding
    bgr[..., 1] = depth_mm >> 8
    bgr[..., 2] = depth_mm & 255
    path = tmp_path / '0000_depth.png'
    cv2.imwrite(str(path), bgr)
    out = read_depth_mm(path)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, depth_mm)


def test_three_channel_mask_uses_channel_2(tmp_path):
    ids = np.array([[255, 1, 2], [3, 255, 255]], dtype=np.uint8)
    bgr = np.stack([ids // 2, np.full_like(ids, 9), ids], axis=-1)
    path = tmp_path / '0000_mask.png'
    cv2.imwrite(str(path), bgr)
    np.testing.assert_array_equal(read_mask(path), ids)


@pytest.mark.parametrize('parts,expected', [
    (('NOCS', 'CAMERA', 'val'), CAMERA_INTRINSICS),
    (('data', 'camera_train'), CAMERA_INTRINSICS),
    (('NOCS', 'Real', 'test'), REAL_INTRINSICS),
    (('REAL275', 'train'), REAL_INTRINSICS),
], ids=['CAMERA-val', 'camera_train', 'Real-test', 'REAL275'])
def test_missing_camera_json_uses_dataset_defaults(tmp_path, parts, expected):
    split_dir = tmp_path.joinpath(*parts)
    split_dir.mkdir(parents=True)
    K, depth_scale = read_camera(split_dir)
    np.testing.assert_array_equal(K, intrinsics_matrix(*expected))
    assert depth_scale == 1000.0


def test_missing_camera_json_unknown_dataset(tmp_path):
    (tmp_path / 'mydata' / 'test').mkdir(parents=True)
    with pytest.raises(DataError, match='add camera.json'):
        NocsSplit(tmp_path / 'mydata', 'test')


def test_camera_json_round_trip(tmp_path):
    K = intrinsics_matrix(500.5, 501.25, 320.0, 240.5)
    write_camera_json(tmp_path, K, 640, 480, depth_scale=4000.0)
    K_read, scale = read_camera(tmp_path)
    np.testing.assert_array_equal(K_read, K)
    assert scale == 4000.0


def test_real_style_label_without_sizes(tmp_path):
    """NOCS/SPD labels: lists, no sizes, no bboxes; 4-word CAMERA meta lines."""
    r = make_frame(2)
    write_camera_json(tmp_path, r.K, r.width, r.height)
    write_frame(tmp_path, 'scene_1', 2, r)
    path = frame_path(tmp_path, 'scene_1', 2, 'label.pkl')
    label = {'class_ids': r.class_ids.tolist(), 'instance_ids': r.instance_ids.tolist(),
             'scales': r.scales.astype(np.float32), 'rotations': r.rotations.astype(np.float32),
             'translations': r.translations.astype(np.float32), 'model_list': list(r.model_list)}
    path.write_bytes(pickle.dumps(label, protocol=2))
    frame_path(tmp_path, 'scene_1', 2, 'meta.txt').write_text(
        '1 6 03797390 box_1\n2 1 02876657 box_2\n7 0 0 distractor\n9 3 02942699 absent\n')
    read = read_frame(tmp_path, 'scene_1', 2)
    np.testing.assert_array_equal(read.bboxes, r.bboxes)
    np.testing.assert_allclose(np.linalg.norm(read.sizes, axis=1), 1.0)
    # Estimated extents: symmetric about the centre, so at least the observed ones.
    assert np.all(read.sizes > 0.2)
    np.testing.assert_allclose(read.rotations, r.rotations, atol=1e-6)
    assert read.meta[-1] == (9, 3, 'absent')
    assert read.handle_visibility.tolist() == [1, 1]


def _corrupt(split_dir: Path, case: str) -> str:
    """Damage frame scene_1/0000 of a written split; return the expected message."""
    def p(kind):
        return frame_path(split_dir, 'scene_1', 0, kind)

    def rewrite_label(**changes):
        label = read_label(p('label.pkl'))
        label.update(changes)
        p('label.pkl').write_bytes(pickle.dumps(label))
    if case == 'truncated_color':
        data = p('color.png').read_bytes()
        p('color.png').write_bytes(data[:len(data) // 3])
        return r'0000_color.png: cannot decode the image \(truncated'
    if case == 'missing_depth':
        p('depth.png').unlink()
        return '0000_depth.png: file is missing'
    if case == 'depth_uint8':
        cv2.imwrite(str(p('depth.png')), np.zeros((48, 64), np.uint8))
        return '0000_depth.png: depth must be uint16 millimetres; got uint8'
    if case == 'depth_size':
        cv2.imwrite(str(p('depth.png')), np.zeros((24, 64), np.uint16))
        return '0000_depth.png: depth is 64x24 but colour is 64x48; align depth to colour'
    if case == 'mask_size':
        cv2.imwrite(str(p('mask.png')), np.zeros((48, 32), np.uint8))
        return '0000_mask.png: mask is 32x48 but colour is 64x48'
    if case == 'label_without_mask':
        p('mask.png').unlink()
        return r'0000_label.pkl: label without mask \(.*0000_mask.png is missing\)'
    if case == 'unknown_class':
        rewrite_label(class_ids=np.array([6, 9]))
        return r'0000_label.pkl: unknown class id \[9\]'
    if case == 'unknown_meta_class':
        p('meta.txt').write_text('1 6 a\n2 12 b\n')
        return r'0000_meta.txt:2: unknown class id 12'
    if case == 'inconsistent_lengths':
        rewrite_label(translations=np.zeros((3, 3)))
        return r'0000_label.pkl: translations must have shape \(2, 3\); got \(3, 3\)'
    if case == 'meta_missing_instance':
        p('meta.txt').write_text('1 6 box_1\n')
        return '0000_meta.txt: labelled instance 2 is not listed; meta has 1 lines for 2'
    if case == 'meta_class_mismatch':
        p('meta.txt').write_text('1 6 box_1\n2 4 box_2\n')
        return '0000_meta.txt: instance 2 has class 4 but 0000_label.pkl says 1'
    if case == 'instance_not_in_mask':
        rewrite_label(instance_ids=np.array([1, 5]))
        p('meta.txt').write_text('1 6 box_1\n5 1 box_2\n')
        return '0000_label.pkl: instance 5 has no pixels in 0000_mask.png'
    if case == 'truncated_label':
        data = p('label.pkl').read_bytes()
        p('label.pkl').write_bytes(data[:len(data) // 2])
        return '0000_label.pkl: truncated or corrupt label pickle'
    if case == 'missing_key':
        label = read_label(p('label.pkl'))
        del label['rotations']
        p('label.pkl').write_bytes(pickle.dumps(label))
        return "0000_label.pkl: missing key 'rotations'"
    raise AssertionError(case)


@pytest.mark.parametrize('case', [
    'truncated_color', 'missing_depth', 'depth_uint8', 'depth_size', 'mask_size',
    'label_without_mask', 'unknown_class', 'unknown_meta_class', 'inconsistent_lengths',
    'meta_missing_instance', 'meta_class_mismatch', 'instance_not_in_mask', 'truncated_label',
    'missing_key'])
def test_bad_files_raise_data_error(tmp_path, case):
    write_split(tmp_path, frames=1)
    message = _corrupt(tmp_path, case)
    split = NocsSplit(tmp_path)
    with pytest.raises(DataError, match=message):
        split[0]


@pytest.mark.parametrize('field,value,message', [
    ('class_ids', [0, 1], r'class_ids must be in 1\.\.6'),
    ('rotations', np.zeros((2, 3)), r'rotations must have shape \(2, 3, 3\)'),
    ('depth', np.zeros((5, 5)), r'depth must be \(H, W\) = \(48, 64\)'),
    ('instance_ids', [1, 1], 'instance_ids must be distinct'),
], ids=['distractor-class', 'rotation-shape', 'depth-shape', 'duplicate-ids'])
def test_record_rejects_bad_arrays(field, value, message):
    r = make_frame(0)
    with pytest.raises(ValueError, match=message):
        FrameRecord(**{**r.__dict__, field: value})
