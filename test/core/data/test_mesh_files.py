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

"""Meshes made by others: OBJ/STL reading, the manifest, shapes and scenes built from them."""

from __future__ import annotations

import json
from pathlib import Path
import struct

import numpy as np
import pytest

from cleanpose_core.cli import main
from cleanpose_core.data.nocs import list_frames, read_frame
from cleanpose_core.data.synth.command import spec_to_dict, SynthSpec
from cleanpose_core.data.synth.mesh_files import mesh_shape, read_manifest, read_mesh
from cleanpose_core.data.synth.primitives import PART_BODY, PART_HANDLE
from cleanpose_core.data.synth.scene import make_scene, SceneOptions
from cleanpose_core.errors import ConfigError, DataError

# A box 4 x 6 x 10 (file units) standing along the file's z axis, as a Z-up model is.
BOX_LO, BOX_HI = np.array([-2.0, -3.0, 0.0]), np.array([2.0, 3.0, 10.0])


def _box_triangles() -> np.ndarray:
    """(12, 3, 3) outward-wound triangles of the box."""
    c = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], float)
    v = BOX_LO + c * (BOX_HI - BOX_LO)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    return np.array([[v[a], v[b], v[c_]] for q in quads
                     for a, b, c_ in ((q[0], q[1], q[2]), (q[0], q[2], q[3]))])


def _write_obj(path: Path) -> Path:
    """The box as an OBJ: quads, 'v/vt/vn' face records and negative (relative) indices."""
    c = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], float)
    v = BOX_LO + c * (BOX_HI - BOX_LO)
    lines = ['# a box', 'o box'] + [f'v {x} {y} {z}' for x, y, z in v] + ['vn 0 0 1']
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4)]
    lines += ['f ' + ' '.join(f'{i + 1}//1' for i in q) for q in quads]
    lines += ['f -7 -3 -1 -5']                        # (1, 5, 7, 3), counted from the end
    path.write_text('\n'.join(lines) + '\n')
    return path


def _write_binary_stl(path: Path) -> Path:
    tri = _box_triangles().astype(np.float32)
    data = bytearray(b'\0' * 80) + struct.pack('<I', len(tri))
    for t in tri:
        data += struct.pack('<3f', 0, 0, 0) + t.tobytes() + b'\0\0'
    path.write_bytes(bytes(data))
    return path


def _write_ascii_stl(path: Path) -> Path:
    lines = ['solid box']
    for t in _box_triangles():
        lines += ['facet normal 0 0 0', 'outer loop'] + [f'vertex {x} {y} {z}' for x, y, z in t]
        lines += ['endloop', 'endfacet']
    path.write_text('\n'.join(lines + ['endsolid box']) + '\n')
    return path


@pytest.mark.parametrize('writer', [_write_obj, _write_binary_stl, _write_ascii_stl])
def test_every_format_reads_as_the_same_closed_box(tmp_path, writer):
    suffix = '.obj' if writer is _write_obj else '.stl'
    mesh = read_mesh(writer(tmp_path / f'box{suffix}'))
    assert mesh.faces.shape == (12, 3) and len(mesh.vertices) == 8
    np.testing.assert_allclose(mesh.vertices.min(0), BOX_LO)
    np.testing.assert_allclose(mesh.vertices.max(0), BOX_HI)
    assert (mesh.parts == PART_BODY).all()
    tri = mesh.vertices[mesh.faces]
    volume = np.einsum('ij,ij->i', tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6
    assert abs(volume) == pytest.approx(np.prod(BOX_HI - BOX_LO))   # every face present


@pytest.mark.parametrize('name, content, message', [
    ('bad.obj', 'v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 9\n', 'face indices'),
    ('nan.obj', 'v 0 0 nan\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\n', 'non-finite'),
    ('text.obj', 'v 0 0 zero\n', 'not a readable OBJ'),
    ('empty.obj', '# nothing\n', 'at least 4 vertices'),
    ('short.obj', 'v 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\n', 'fewer than 3'),
    ('cut.stl', b'\0' * 80 + struct.pack('<I', 5) + b'\0' * 60, 'neither a binary STL'),
])
def test_broken_files_are_refused_with_their_reason(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(DataError, match=message):
        read_mesh(path)


def test_other_formats_and_missing_files(tmp_path):
    with pytest.raises(ConfigError, match='.obj or .stl'):
        read_mesh(tmp_path / 'model.ply')
    with pytest.raises(DataError, match='cannot be read'):
        read_mesh(tmp_path / 'missing.obj')


def _manifest(tmp_path: Path, meshes: list, name='manifest.yaml') -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({'meshes': meshes}))     # JSON is YAML too
    return path


def test_manifest_entries_turn_scale_and_hash(tmp_path):
    _write_obj(tmp_path / 'box.obj')
    entries = read_manifest(_manifest(tmp_path, [
        {'category': 'can', 'file': 'box.obj', 'axes': ['y', 'z', 'x'], 'units': 0.01}]))
    (entry,) = entries
    assert entry.path == str((tmp_path / 'box.obj').resolve()) and len(entry.sha256) == 64
    shape = mesh_shape(entry, 1_000_003)
    # canonical X, Y, Z = file y, z, x: the 10-unit file z becomes the height (Y)
    extent = shape.mesh.vertices.max(0) - shape.mesh.vertices.min(0)
    np.testing.assert_allclose(extent, np.array([6.0, 10.0, 4.0]) / np.linalg.norm([6, 10, 4]))
    np.testing.assert_allclose(shape.size, extent)
    assert shape.scale == pytest.approx(0.01 * np.linalg.norm([4.0, 6.0, 10.0]))
    assert shape.category == 'can' and shape.class_id == 4 and shape.model_id == 'can_box'
    np.testing.assert_allclose(shape.mesh.vertices.min(0) + shape.mesh.vertices.max(0), 0,
                               atol=1e-12)
    # the seed draws colours only; the same seed, the same instance
    other = mesh_shape(entry, 1_000_004)
    np.testing.assert_array_equal(other.mesh.vertices, shape.mesh.vertices)
    assert mesh_shape(entry, 1_000_003) is shape


def test_mug_handle_faces_are_marked(tmp_path):
    _write_obj(tmp_path / 'box.obj')
    (entry,) = read_manifest(_manifest(tmp_path, [
        {'category': 'mug', 'file': 'box.obj', 'axes': ['y', 'z', 'x'], 'handle_min_x': 2.5}]))
    shape = mesh_shape(entry, 0)
    centroid_x = shape.mesh.vertices[shape.mesh.faces].mean(axis=1)[:, 0]
    # canonical X = file y in [-3, 3]: the two faces of the +y side lie beyond 2.5
    np.testing.assert_array_equal(shape.mesh.parts == PART_HANDLE,
                                  centroid_x == centroid_x.max())
    assert (shape.mesh.parts == PART_HANDLE).sum() == 2


@pytest.mark.parametrize('item, message', [
    ({'category': 'teapot', 'file': 'box.obj'}, 'category must be one of'),
    ({'category': 'can'}, 'file'),
    ({'category': 'can', 'file': 'box.obj', 'axes': ['x', 'x', 'z']}, 'not a rotation'),
    ({'category': 'can', 'file': 'box.obj', 'axes': ['x', 'y', '-z']}, 'not a rotation'),
    ({'category': 'can', 'file': 'box.obj', 'axes': ['x', 'w', 'z']}, 'three signed axes'),
    ({'category': 'can', 'file': 'box.obj', 'units': -1}, 'units'),
    ({'category': 'can', 'file': 'box.obj', 'handle_min_x': 0.1}, 'mugs only'),
    ({'category': 'can', 'file': 'box.obj', 'colour': 'red'}, 'unknown keys colour'),
    ({'category': 'can', 'file': 'missing.obj'}, 'cannot be read'),
])
def test_bad_manifest_entries(tmp_path, item, message):
    _write_obj(tmp_path / 'box.obj')
    with pytest.raises(ConfigError, match=message):
        read_manifest(_manifest(tmp_path, [item]))


def test_bad_manifests(tmp_path):
    with pytest.raises(ConfigError, match='non-empty list'):
        read_manifest(_manifest(tmp_path, []))
    (tmp_path / 'broken.obj').write_text('v 0 0 0\n')
    with pytest.raises(DataError, match='broken.obj'):    # every mesh read up front
        read_manifest(_manifest(tmp_path, [{'category': 'can', 'file': 'broken.obj'}]))


def test_scenes_take_their_objects_from_the_manifest(tmp_path):
    _write_obj(tmp_path / 'box.obj')
    _write_binary_stl(tmp_path / 'box.stl')
    entries = read_manifest(_manifest(tmp_path, [
        {'category': 'can', 'file': 'box.obj', 'axes': ['y', 'z', 'x'], 'units': 0.01},
        {'category': 'bottle', 'file': 'box.stl', 'axes': ['y', 'z', 'x'], 'units': 0.02}]))
    options = SceneOptions(split='test', min_objects=4, max_objects=4, max_distractors=0,
                           meshes=entries)
    scene = make_scene(options, np.random.default_rng(3))
    assert len(scene.objects) == 4
    assert {o.shape.model_id for o in scene.objects} <= {'can_box', 'bottle_box'}
    again = make_scene(options, np.random.default_rng(3))
    assert [o.shape.model_id for o in again.objects] == [o.shape.model_id for o in scene.objects]


def test_synth_command_with_meshes(tmp_path):
    _write_obj(tmp_path / 'box.obj')
    manifest = _manifest(tmp_path, [
        {'category': 'laptop', 'file': 'box.obj', 'axes': ['y', 'x', '-z'], 'units': 0.03}])
    out = tmp_path / 'data'
    assert main(['synth', '--out', str(out), '--split', 'test', '--frames', '2', '--seed', '4',
                 '--size', '160', '120', '--frames-per-scene', '2', '--workers', '1',
                 '--meshes', str(manifest)]) == 0
    spec = json.loads((out / 'test' / 'synth.json').read_text())
    (recorded,) = spec['scene']['meshes']
    assert recorded['category'] == 'laptop' and len(recorded['sha256']) == 64
    records = [read_frame(out / 'test', scene, index)
               for scene, index in list_frames(out / 'test')]
    assert len(records) == 2
    ids = np.concatenate([r.class_ids for r in records])
    assert len(ids) and set(ids.tolist()) == {5}
    # a changed mesh file is another spec: adding frames to the split is refused
    (tmp_path / 'box.obj').write_text((tmp_path / 'box.obj').read_text() + '# edited\n')
    assert main(['synth', '--out', str(out), '--split', 'test', '--frames', '3', '--seed', '4',
                 '--size', '160', '120', '--frames-per-scene', '2', '--workers', '1',
                 '--meshes', str(manifest)]) != 0


def test_procedural_splits_keep_their_synth_json():
    """Splits written before --meshes existed must still match their own command."""
    scene = spec_to_dict(SynthSpec())['scene']
    assert 'meshes' not in scene
    assert set(scene) == {'split', 'poses', 'min_objects', 'max_objects', 'max_distractors',
                          'instances_per_category'}
