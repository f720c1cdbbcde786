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

"""Tests of `cleanpose synth`: determinism, reruns, split seeds, reader round trip."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

import cv2
import numpy as np
import pytest

from cleanpose_core.cli import main
from cleanpose_core.data.nocs import list_frames, read_frame
from cleanpose_core.data.synth.command import _renderer, render_frame, synthesize, SynthSpec
from cleanpose_core.data.synth.noise import DepthNoise
from cleanpose_core.data.synth.render import REAL_K
from cleanpose_core.data.synth.scene import SceneOptions
from cleanpose_core.errors import ConfigError

W, H = 160, 120


def _spec(split='train', seed=0, **kw):
    K = REAL_K * np.array([[0.25], [0.25], [1.0]])
    return SynthSpec(seed=seed, split=split, frames_per_scene=2, width=W, height=H, K=K,
                     scene=SceneOptions(min_objects=2, max_objects=2, max_distractors=1), **kw)


def _files(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob('*')) if p.is_file()}


def test_same_seed_gives_identical_bytes(tmp_path):
    synthesize(_spec(), tmp_path / 'a', 3, show_progress=False)
    synthesize(_spec(), tmp_path / 'b', 3, show_progress=False)
    a, b = _files(tmp_path / 'a'), _files(tmp_path / 'b')
    assert sorted(a) == sorted(b) and len(a) == 2 + 3 * 6
    assert a == b
    synthesize(_spec(seed=1), tmp_path / 'c', 3, show_progress=False)
    assert _files(tmp_path / 'c')['00000/0000_color.png'] != a['00000/0000_color.png']


def test_workers_do_not_change_the_output(tmp_path):
    synthesize(_spec(), tmp_path / 'one', 4, workers=1, show_progress=False)
    synthesize(_spec(), tmp_path / 'two', 4, workers=2, show_progress=False)
    assert _files(tmp_path / 'one') == _files(tmp_path / 'two')


def test_rerun_completes_an_interrupted_run(tmp_path):
    split = tmp_path / 'train'
    synthesize(_spec(), split, 4, show_progress=False)
    before = _files(split)
    (split / '00001' / '0000_label.pkl').unlink()          # as if killed mid-frame
    (split / '00001' / '0000_color.png').write_bytes(b'truncated')
    (split / '00001' / '.0000_depth.png.abc123.tmp').write_bytes(b'half a png')
    assert len(list_frames(split)) == 3
    stats = synthesize(_spec(), split, 4, show_progress=False)
    assert stats['frames_written'] == 1 and stats['frames_skipped'] == 3
    assert _files(split) == before


def test_frames_of_a_scene_share_objects_and_move_the_camera():
    spec = _spec()
    f0, f1 = render_frame(spec, 0, 1), render_frame(spec, 1, 1)
    scene0 = {o.shape.model_id for o in _renderer(spec, 0, 1).scene.objects}
    f2 = render_frame(spec, 2, 1)                           # the next scene folder
    scene1 = {o.shape.model_id for o in _renderer(spec, 1, 1).scene.objects}
    assert set(f0.model_ids) <= scene0 and set(f1.model_ids) <= scene0
    assert set(f2.model_ids) <= scene1 and scene0 != scene1
    same = f0.instance_ids[0] == f1.instance_ids[0]
    assert same and not np.allclose(f0.translations[0], f1.translations[0], atol=1e-3)


def test_train_and_test_use_disjoint_instances(tmp_path):
    seeds = {}
    for split in ('train', 'test'):
        synthesize(_spec(split), tmp_path / split, 4, show_progress=False)
        seeds[split] = {int(m.rsplit('_', 1)[1]) for s, i in list_frames(tmp_path / split)
                        for m in read_frame(tmp_path / split, s, i).model_list}
    assert seeds['train'] and seeds['test']
    assert max(seeds['train']) < 1_000_000 <= min(seeds['test'])


def test_reader_round_trip(tmp_path):
    spec = _spec(noise=DepthNoise(enabled=False))
    synthesize(spec, tmp_path, 1, show_progress=False)
    frame = render_frame(spec, 0, 1)
    rec = read_frame(tmp_path, '00000', 0)
    cat = frame.class_ids > 0
    np.testing.assert_array_equal(rec.color, frame.color)
    np.testing.assert_array_equal(rec.mask, frame.mask)
    np.testing.assert_allclose(rec.depth, frame.depth, atol=5e-4)
    np.testing.assert_allclose(rec.coord, frame.coord, atol=0.5 / 255 + 1e-6)
    np.testing.assert_array_equal(rec.class_ids, frame.class_ids[cat])
    np.testing.assert_allclose(rec.rotations, frame.rotations[cat], atol=1e-6)
    np.testing.assert_allclose(rec.translations, frame.translations[cat], atol=1e-6)
    assert list(rec.model_list) == list(frame.model_ids[cat])
    assert len(rec.meta) == len(frame.instance_ids)


def test_cli_writes_camera_json_and_preview(tmp_path, capsys):
    rc = main(['synth', '--out', str(tmp_path), '--split', 'test', '--frames', '2',
               '--size', str(W), str(H), '--workers', '1', '--frames-per-scene', '1',
               '--objects', '1', '2', '--preview', '--no-noise'])
    assert rc == 0
    cam = json.loads((tmp_path / 'test' / 'camera.json').read_text())
    assert cam['width'] == W and cam['height'] == H
    assert cam['fx'] == pytest.approx(591.0125 / 4)
    sheet = cv2.imread(str(tmp_path / 'test_preview.png'))
    assert sheet.shape == (240, 4 * 320, 3)
    assert sheet[:, :640].std() > 10                   # two drawn tiles, then blank ones
    assert sheet[:, 640:].max() == 0
    assert str(tmp_path / 'test') in capsys.readouterr().out


@pytest.mark.parametrize('kw, message', [
    (dict(frames_per_scene=0), 'frames per scene must be in 1..10000; got 0'),
    (dict(split='val'), "split must be 'train' or 'test'; got 'val'"),
    (dict(poses='sideways'), 'poses must be one of upright, mixed, lying'),
    (dict(seed=-2), 'seed must be >= 0; got -2'),
], ids=['frames-per-scene', 'split', 'poses', 'seed'])
def test_bad_spec(kw, message):
    with pytest.raises(ConfigError, match=message):
        SynthSpec(**kw)


def test_bad_frame_count(tmp_path):
    with pytest.raises(ConfigError, match='--frames must be >= 1; got 0'):
        synthesize(_spec(), tmp_path, 0)


def test_rerun_with_other_settings_is_refused(tmp_path):
    synthesize(_spec(), tmp_path, 1, show_progress=False)
    assert json.loads((tmp_path / 'synth.json').read_text())['seed'] == 0
    with pytest.raises(ConfigError, match=r'holds frames synthesised with other settings '
                                          r'\(seed differ'):
        synthesize(_spec(seed=5), tmp_path, 1, show_progress=False)
    stats = synthesize(_spec(), tmp_path, 2, show_progress=False)      # same settings: resume
    assert stats['frames_written'] == 1 and stats['frames_skipped'] == 1


def test_output_path_that_is_a_file(tmp_path):
    (tmp_path / 'f').write_text('x')
    with pytest.raises(ConfigError, match='exists and is not a directory'):
        synthesize(_spec(), tmp_path / 'f', 1, show_progress=False)


def test_synthesis_workers_start_without_torch():
    # Spawned workers import the synthesis code; torch would add ~3 s to each start.
    code = ('import sys; import cleanpose_core.data.synth.command; '
            'import cleanpose_core.data.writer; import cleanpose_core.draw; '
            'print("torch" in sys.modules)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == 'False'
