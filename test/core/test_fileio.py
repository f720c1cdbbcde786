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

"""Atomic writes: the target is replaced whole or left alone, and no temp file stays."""

from __future__ import annotations

import json
import os
import stat

import pytest

from cleanpose_core.fileio import atomic_path, atomic_write_bytes, atomic_write_json, \
    atomic_write_text


def _umask_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@pytest.mark.parametrize('write,expected', [
    (lambda p: atomic_write_bytes(p, b'\x00\x01new'), b'\x00\x01new'),
    (lambda p: atomic_write_text(p, 'new\n'), b'new\n'),
    (lambda p: atomic_write_json(p, {'a': [1, 2]}), b'{\n  "a": [\n    1,\n    2\n  ]\n}\n'),
], ids=['bytes', 'text', 'json'])
def test_write_replaces_target_and_leaves_no_temp(tmp_path, write, expected):
    target = tmp_path / 'sub' / 'out.bin'
    write(target)
    write(target)
    assert target.read_bytes() == expected
    assert sorted(p.name for p in target.parent.iterdir()) == ['out.bin']
    assert stat.S_IMODE(target.stat().st_mode) == _umask_mode()


def test_safetensors_result_gets_umask_permissions(tmp_path):
    # safetensors' writer leaves 0o600 on the file it writes; the target must not keep that.
    from safetensors.torch import load_file, save_file
    import torch

    target = tmp_path / 'w.safetensors'
    with atomic_path(target) as tmp:
        save_file({'x': torch.arange(3.0)}, str(tmp))
    assert load_file(target)['x'].tolist() == [0.0, 1.0, 2.0]
    assert stat.S_IMODE(target.stat().st_mode) == _umask_mode()


def test_failed_block_keeps_old_file_and_removes_temp(tmp_path):
    target = tmp_path / 'out.json'
    atomic_write_json(target, {'v': 1})
    with pytest.raises(RuntimeError, match='killed'):
        with atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp.name.startswith('.out.json.')
            assert tmp.name.endswith('.tmp')
            tmp.write_text('half')
            raise RuntimeError('killed')
    assert json.loads(target.read_text()) == {'v': 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ['out.json']


def test_temp_may_be_replaced_by_a_link(tmp_path):
    src = tmp_path / 'src.png'
    src.write_bytes(b'png')
    os.chmod(src, 0o600)
    with atomic_path(tmp_path / 'dst.png') as tmp:
        tmp.unlink()
        os.link(src, tmp)
    assert os.path.samefile(src, tmp_path / 'dst.png')
    assert stat.S_IMODE(src.stat().st_mode) == 0o600
