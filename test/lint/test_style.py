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

"""Style over the whole repository: flake8 (ament_flake8's settings), pep257, licenses."""

from __future__ import annotations

from pathlib import Path
import shutil
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEADER = (ROOT / '.license_header').read_text()
CODE_DIRS = ('cleanpose_core', 'cleanpose_ros', 'test', 'bench', 'launch', 'scripts')


def _python_files():
    for folder in CODE_DIRS:
        for path in sorted((ROOT / folder).rglob('*')):
            if path.is_file() and '__pycache__' not in path.parts and (
                    path.suffix == '.py' or path.parent.name == 'scripts'):
                yield path
    yield ROOT / 'setup.py'


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), cwd=ROOT, capture_output=True, text=True)


@pytest.mark.slow
def test_flake8_whole_repository():
    proc = _run(sys.executable, '-m', 'flake8', '.', 'scripts/pose_node', 'scripts/cleanpose_bag',
                'scripts/cleanpose')
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_pep257_docstrings():
    proc = _run(sys.executable, '-m', 'pydocstyle', 'cleanpose_core', 'cleanpose_ros', 'launch')
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize('path', list(_python_files()),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_license_header(path):
    text = path.read_text()
    if text.startswith('#!'):
        text = text.split('\n', 1)[1]
    assert text.startswith(HEADER), f'{path} lacks the license header of .license_header'


@pytest.mark.skipif(shutil.which('ament_copyright') is None,
                    reason='ament_copyright (Debian python3-ament-copyright) not installed')
def test_ament_copyright():
    proc = _run('ament_copyright', *[d for d in CODE_DIRS if (ROOT / d).is_dir()],
                'CMakeLists.txt')
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(shutil.which('xmllint') is None, reason='xmllint (libxml2-utils) missing')
def test_xml_well_formed():
    proc = _run('xmllint', '--noout', 'package.xml')
    assert proc.returncode == 0, proc.stderr
