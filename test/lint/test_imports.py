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

"""The data flows one way: check the import graph by parsing every module (AST)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# module prefix -> prefixes it must not import
FORBIDDEN = {
    'cleanpose_core': ('cleanpose_ros', 'rclpy', 'rosbags', 'sensor_msgs', 'vision_msgs'),
    'cleanpose_core.geometry': ('cleanpose_core.data', 'cleanpose_core.model',
                                'cleanpose_core.train', 'cleanpose_core.eval',
                                'cleanpose_core.pipeline', 'cleanpose_core.cli'),
    'cleanpose_core.data': ('cleanpose_core.model', 'cleanpose_core.train',
                            'cleanpose_core.eval', 'cleanpose_core.pipeline',
                            'cleanpose_core.cli'),
    'cleanpose_core.model': ('cleanpose_core.data', 'cleanpose_core.train',
                             'cleanpose_core.eval', 'cleanpose_core.pipeline',
                             'cleanpose_core.cli'),
    'cleanpose_core.train': ('cleanpose_core.pipeline', 'cleanpose_core.cli'),
    'cleanpose_core.eval': ('cleanpose_core.pipeline', 'cleanpose_core.cli'),
    'cleanpose_core.pipeline': ('cleanpose_core.cli',),
    'cleanpose_ros': ('cleanpose_core.data', 'cleanpose_core.model', 'cleanpose_core.train',
                      'cleanpose_core.eval'),
}
# Only the node talks to rclpy.
RCLPY_ALLOWED = {'cleanpose_ros.node', 'cleanpose_ros.msg_types'}


def _modules():
    for package in ('cleanpose_core', 'cleanpose_ros'):
        for path in sorted((ROOT / package).rglob('*.py')):
            parts = path.relative_to(ROOT).with_suffix('').parts
            if parts[-1] == '__init__':
                parts = parts[:-1]
            yield '.'.join(parts), path


def _imports(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def _violations(module: str, path: Path):
    for name in _imports(path):
        for prefix, banned in FORBIDDEN.items():
            if module == prefix or module.startswith(prefix + '.'):
                for bad in banned:
                    if (name == bad or name.startswith(bad + '.')) and not (
                            module == 'cleanpose_core.cli' and bad == 'cleanpose_core.cli'):
                        yield f'{module} imports {name}'
        if name.split('.')[0] == 'rclpy' and module not in RCLPY_ALLOWED:
            yield f'{module} imports {name} (only {sorted(RCLPY_ALLOWED)} may)'


@pytest.mark.parametrize('module,path', list(_modules()), ids=lambda v: str(v))
def test_imports_flow_one_way(module, path):
    assert list(_violations(module, path)) == []


def test_checker_catches_a_violation(tmp_path):
    bad = tmp_path / 'bad.py'
    bad.write_text('from cleanpose_core.model import network\n')
    assert list(_violations('cleanpose_core.data.bad', bad)) == [
        'cleanpose_core.data.bad imports cleanpose_core.model']
