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

"""Packaging checked with the real ROS 2 tools available here.

catkin_pkg (in the venv) validates package.xml; ament_xmllint checks it against the
format 3 schema; Debian's ROS 2 IDL parser (rosidl_adapter, run by /usr/bin/python3)
parses msg/. Tools that are not installed skip with the reason (.ci/run installs them).
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
import re
import shutil
import subprocess

from catkin_pkg.package import parse_package
import pytest

from cleanpose_ros.msg_types import OWN_MESSAGES, rosbags_types

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = Path('/usr/bin/python3')


def _system_python_has(module: str) -> bool:
    if not SYSTEM_PYTHON.exists():
        return False
    return subprocess.run([str(SYSTEM_PYTHON), '-c', f'import {module}'],
                          capture_output=True).returncode == 0


needs_rosidl = pytest.mark.skipif(
    not _system_python_has('rosidl_adapter.parser'),
    reason='Debian python3-rosidl-adapter (rosidl-core) not installed; .ci/run installs it')


@pytest.fixture(scope='module')
def package():
    return parse_package(str(ROOT / 'package.xml'))


def test_package_xml_is_valid_format_3(package):
    package.validate()
    assert package.name == 'cleanpose_ros' and package.package_format == 3
    assert package.get_build_type() == 'ament_cmake'
    assert [g.name for g in package.member_of_groups] == ['rosidl_interface_packages']


def test_package_version_matches_setup_py(package):
    setup = ast.parse((ROOT / 'setup.py').read_text())
    versions = [kw.value.value for node in ast.walk(setup) if isinstance(node, ast.Call)
                for kw in node.keywords if kw.arg == 'version']
    assert versions == [package.version]


@pytest.mark.parametrize('kind,names', [
    ('buildtool_depends', {'ament_cmake', 'ament_cmake_python', 'rosidl_default_generators'}),
    ('build_depends', {'std_msgs', 'geometry_msgs'}),
    ('exec_depends', {'rclpy', 'rosidl_default_runtime', 'sensor_msgs', 'vision_msgs',
                      'visualization_msgs', 'geometry_msgs', 'std_msgs', 'diagnostic_msgs',
                      'tf2_ros', 'tf2_msgs', 'message_filters', 'launch', 'launch_ros',
                      'python3-numpy', 'python3-scipy', 'python3-yaml', 'python3-opencv'}),
    ('test_depends', {'ament_copyright', 'ament_flake8', 'ament_pep257', 'python3-pytest'}),
], ids=['buildtool', 'build', 'exec', 'test'])
def test_dependencies(package, kind, names):
    assert names <= {d.name for d in getattr(package, kind)}


def test_every_imported_ros_package_is_an_exec_depend(package):
    """Every ROS package the node or msg_types import is declared."""
    exec_names = {d.name for d in package.exec_depends}
    imported = set()
    for path in (ROOT / 'cleanpose_ros').glob('*.py'):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split('.')[0])
            elif isinstance(node, ast.Import):
                imported.update(a.name.split('.')[0] for a in node.names)
    source = (ROOT / 'cleanpose_ros' / 'msg_types.py').read_text()
    imported.update(re.findall(r"\('(\w+_msgs|builtin_interfaces)', '", source))
    ros_packages = {n for n in imported if n.endswith('_msgs') or n in (
        'rclpy', 'rcl_interfaces', 'tf2_ros', 'message_filters', 'builtin_interfaces')}
    assert ros_packages and ros_packages <= exec_names | {'cleanpose_ros'}


@pytest.mark.skipif(shutil.which('ament_xmllint') is None,
                    reason='ament_xmllint (Debian python3-ament-xmllint) not installed')
def test_ament_xmllint_schema():
    proc = subprocess.run(['ament_xmllint', str(ROOT / 'package.xml')], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cmake_and_setup_ship_every_message():
    msgs = sorted(p.name for p in (ROOT / 'msg').glob('*.msg'))
    assert msgs == sorted(f'{m}.msg' for m in OWN_MESSAGES)
    cmake = (ROOT / 'CMakeLists.txt').read_text()
    assert re.findall(r'"msg/(\w+\.msg)"', cmake) == [f'{m}.msg' for m in OWN_MESSAGES]
    assert 'DEPENDENCIES std_msgs geometry_msgs' in cmake
    for script in ('pose_node', 'cleanpose_bag', 'cleanpose'):
        path = ROOT / 'scripts' / script
        assert path.stat().st_mode & 0o111 and script in cmake
    assert "glob('msg/*.msg')" in (ROOT / 'setup.py').read_text()


_PARSE = """
import json, sys
from rosidl_adapter.parser import BaseType, parse_message_file, validate_field_types
known = [BaseType(t) for t in ('std_msgs/Header', 'geometry_msgs/Pose',
                               'geometry_msgs/Vector3', 'cleanpose_ros/ObjectPose')]
out = {}
for path in sys.argv[1:]:
    spec = parse_message_file('cleanpose_ros', path)
    validate_field_types(spec, known)
    out[spec.base_type.type] = [[str(f.type), f.name] for f in spec.fields]
print(json.dumps(out))
"""


def _rosidl(*paths):
    return subprocess.run([str(SYSTEM_PYTHON), '-c', _PARSE, *map(str, paths)],
                          capture_output=True, text=True)


@needs_rosidl
def test_rosidl_parses_messages_like_rosbags():
    import json

    proc = _rosidl(*sorted((ROOT / 'msg').glob('*.msg')))
    assert proc.returncode == 0, proc.stderr
    parsed = json.loads(proc.stdout)
    assert parsed['ObjectPose'] == [
        ['string', 'category'], ['uint8', 'category_id'], ['float32', 'score'],
        ['uint32', 'track_id'], ['string', 'frame_id'], ['geometry_msgs/Pose', 'pose'],
        ['geometry_msgs/Vector3', 'size'], ['float64', 'nocs_scale'],
        ['float32[4]', 'box_xyxy']]
    assert parsed['ObjectPoseArray'] == [['std_msgs/Header', 'header'],
                                         ['cleanpose_ros/ObjectPose[]', 'objects']]
    # rosbags registered the same fields, in the same order.
    T = rosbags_types()
    for name in OWN_MESSAGES:
        fields = [f.name for f in dataclasses.fields(getattr(T, name))
                  if not f.name.startswith('_') and f.name != '__msgtype__']
        assert fields == [n for _, n in parsed[name]]


@needs_rosidl
@pytest.mark.parametrize('text,match', [
    ('int33 x\n', "'int33'"),
    ('float64 x\nfloat64 x\n', 'x'),
    ('float64 Bad-Name\n', 'Bad-Name'),
    ('no_such_msgs/Thing x\n', 'no_such_msgs/Thing'),
], ids=['bad_type', 'duplicate', 'bad_name', 'unknown_package'])
def test_rosidl_rejects_broken_messages(tmp_path, text, match):
    path = tmp_path / 'Broken.msg'
    path.write_text(text)
    proc = _rosidl(path)
    assert proc.returncode != 0 and match in proc.stderr
