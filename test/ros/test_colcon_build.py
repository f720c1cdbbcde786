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

"""colcon build of cleanpose_ros in a temporary workspace, with Debian's ROS 2 tool chain.

Debian ships colcon, ament_cmake and rosidl's C generator, but not
rosidl_default_generators nor the ROS 2 message packages. CI-only stand-ins fill
the gap: a rosidl_default_generators that loads the C generator and its introspection
type support, an empty rosidl_default_runtime, and builtin_interfaces, std_msgs and
geometry_msgs with the few definitions msg/ uses. The build must generate and compile
the C code of msg/, and install the Python packages, executables, launch/ and config/.
No Python message classes can be generated here (rosidl_generator_py is missing).
"""

from __future__ import annotations

import os
from pathlib import Path
import shutil
import subprocess

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PATH = '/usr/sbin:/usr/bin:/sbin:/bin'
COPIED = ('package.xml', 'CMakeLists.txt', 'setup.cfg', 'msg', 'launch', 'config', 'scripts',
          'cleanpose_core', 'cleanpose_ros')

STAND_IN_MESSAGES = {
    'builtin_interfaces': ((), {'Time': 'int32 sec\nuint32 nanosec\n',
                                'Duration': 'int32 sec\nuint32 nanosec\n'}),
    'std_msgs': (('builtin_interfaces',), {'Header': 'builtin_interfaces/Time stamp\n'
                                                     'string frame_id\n'}),
    'geometry_msgs': ((), {'Point': 'float64 x\nfloat64 y\nfloat64 z\n',
                           'Vector3': 'float64 x\nfloat64 y\nfloat64 z\n',
                           'Quaternion': 'float64 x 0\nfloat64 y 0\nfloat64 z 0\n'
                                         'float64 w 1\n',
                           'Pose': 'Point position\nQuaternion orientation\n'}),
}


def _package_xml(name: str, depends: tuple = (), buildtool: tuple = (),
                 interfaces: bool = False) -> str:
    lines = [f'  <buildtool_depend>{d}</buildtool_depend>' for d in ('ament_cmake', *buildtool)]
    lines += [f'  <depend>{d}</depend>' for d in depends]
    if interfaces:
        lines.append('  <member_of_group>rosidl_interface_packages</member_of_group>')
    body = '\n'.join(lines)
    return (f'<?xml version="1.0"?>\n<package format="3">\n  <name>{name}</name>\n'
            '  <version>0.0.0</version>\n  <description>CI stand-in</description>\n'
            '  <maintainer email="ci@example.com">ci</maintainer>\n'
            f'  <license>Apache-2.0</license>\n{body}\n'
            '  <export><build_type>ament_cmake</build_type></export>\n</package>\n')


def _write_stand_ins(src: Path) -> None:
    gen = src / 'rosidl_default_generators'
    gen.mkdir(parents=True)
    (gen / 'package.xml').write_text(_package_xml('rosidl_default_generators'))
    (gen / 'CMakeLists.txt').write_text(
        'cmake_minimum_required(VERSION 3.8)\nproject(rosidl_default_generators NONE)\n'
        'find_package(ament_cmake REQUIRED)\n'
        'ament_package(CONFIG_EXTRAS "rosidl_default_generators-extras.cmake")\n')
    (gen / 'rosidl_default_generators-extras.cmake').write_text(
        'find_package(rosidl_cmake REQUIRED)\nfind_package(rosidl_generator_c REQUIRED)\n'
        'find_package(rosidl_typesupport_introspection_c REQUIRED)\n')
    run = src / 'rosidl_default_runtime'
    run.mkdir()
    (run / 'package.xml').write_text(_package_xml('rosidl_default_runtime'))
    (run / 'CMakeLists.txt').write_text(
        'cmake_minimum_required(VERSION 3.8)\nproject(rosidl_default_runtime NONE)\n'
        'find_package(ament_cmake REQUIRED)\nament_package()\n')
    for name, (deps, messages) in STAND_IN_MESSAGES.items():
        pkg = src / name
        (pkg / 'msg').mkdir(parents=True)
        for msg, text in messages.items():
            (pkg / 'msg' / f'{msg}.msg').write_text(text)
        (pkg / 'package.xml').write_text(_package_xml(
            name, ('rosidl_default_runtime', *deps), ('rosidl_default_generators',), True))
        finds = ''.join(f'find_package({d} REQUIRED)\n' for d in deps)
        files = ' '.join(f'"msg/{m}.msg"' for m in messages)
        dependencies = f' DEPENDENCIES {" ".join(deps)}' if deps else ''
        (pkg / 'CMakeLists.txt').write_text(
            f'cmake_minimum_required(VERSION 3.8)\nproject({name})\n'
            'find_package(ament_cmake REQUIRED)\n'
            f'find_package(rosidl_default_generators REQUIRED)\n{finds}'
            f'rosidl_generate_interfaces(${{PROJECT_NAME}} {files}{dependencies})\n'
            'ament_export_dependencies(rosidl_default_runtime)\nament_package()\n')


def _tool_chain_missing() -> str:
    if shutil.which('colcon', path=SYSTEM_PATH) is None:
        return 'colcon (Debian colcon) not installed'
    if not Path('/usr/share/rosidl_cmake/cmake/rosidl_cmakeConfig.cmake').exists():
        return 'rosidl_cmake (Debian rosidl-core) not installed'
    if not Path('/usr/share/ament_cmake_python').exists():
        return 'ament_cmake_python (Debian ament-cmake-python) not installed'
    return ''


@pytest.fixture(scope='module')
def workspace(tmp_path_factory) -> Path:
    reason = _tool_chain_missing()
    if reason:
        pytest.skip(f'{reason}; .ci/run installs the Debian ROS 2 tool chain')
    ws = tmp_path_factory.mktemp('colcon_ws')
    src = ws / 'src'
    _write_stand_ins(src)
    pkg = src / 'cleanpose_ros'
    pkg.mkdir()
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc')
    for name in COPIED:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, pkg / name, ignore=ignore)
        else:
            shutil.copy2(path, pkg / name)
    env = {'PATH': SYSTEM_PATH, 'HOME': os.environ.get('HOME', str(ws)), 'LANG': 'C.UTF-8'}
    proc = subprocess.run(
        ['colcon', 'build', '--event-handlers', 'console_direct-', '--cmake-args',
         '-DBUILD_TESTING=OFF', '-DPython3_EXECUTABLE=/usr/bin/python3'],
        cwd=ws, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return ws / 'install' / 'cleanpose_ros'


@pytest.mark.slow
def test_colcon_installs_the_package(workspace):
    for program in ('pose_node', 'cleanpose_bag', 'cleanpose'):
        assert os.access(workspace / 'lib' / 'cleanpose_ros' / program, os.X_OK)
    share = workspace / 'share' / 'cleanpose_ros'
    for path in ('package.xml', 'launch/pose.launch.py', 'config/pose.yaml',
                 'config/cleanpose.rviz', 'msg/ObjectPose.msg', 'msg/ObjectPoseArray.msg'):
        assert (share / path).is_file(), path
    assert (workspace / 'share' / 'ament_index' / 'resource_index' / 'packages'
            / 'cleanpose_ros').is_file()
    site = next(workspace.glob('lib/python3*/*-packages'))
    for module in ('cleanpose_ros/node.py', 'cleanpose_ros/bag.py', 'cleanpose_core/cli.py'):
        assert (site / module).is_file(), module


@pytest.mark.slow
def test_colcon_generates_the_messages(workspace):
    include = workspace / 'include' / 'cleanpose_ros' / 'cleanpose_ros' / 'msg' / 'detail'
    struct = (include / 'object_pose__struct.h').read_text()
    for field in ('rosidl_runtime_c__String category;', 'uint8_t category_id;',
                  'float score;', 'uint32_t track_id;', 'geometry_msgs__msg__Pose pose;',
                  'geometry_msgs__msg__Vector3 size;', 'double nocs_scale;',
                  'float box_xyxy[4];'):
        assert field in struct, field
    array = (include / 'object_pose_array__struct.h').read_text()
    assert 'cleanpose_ros__msg__ObjectPose__Sequence objects;' in array
    assert list(workspace.glob('lib/libcleanpose_ros__rosidl_typesupport_introspection_c.so'))
