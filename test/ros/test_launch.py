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

"""launch/pose.launch.py, checked without ROS: compiled and inspected through its AST."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from cleanpose_ros.make_bag import RealSenseTopics
from cleanpose_ros.params import NODE_NAME

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ROOT / 'launch' / 'pose.launch.py'


def _calls(tree: ast.AST, name: str) -> list:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and (
        getattr(n.func, 'id', None) == name or getattr(n.func, 'attr', None) == name)]


def _literal(node):
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


@pytest.fixture(scope='module')
def tree() -> ast.AST:
    source = LAUNCH.read_text()
    compile(source, str(LAUNCH), 'exec')
    return ast.parse(source)


@pytest.fixture(scope='module')
def arguments(tree) -> dict:
    out = {}
    for call in _calls(tree, 'DeclareLaunchArgument'):
        name = _literal(call.args[0])
        out[name] = {kw.arg: kw.value for kw in call.keywords}
    return out


def test_declares_the_documented_arguments(arguments):
    assert set(arguments) == {'namespace', 'params_file', 'device', 'color_topic',
                              'depth_topic', 'info_topic', 'rviz', 'bag'}


@pytest.mark.parametrize('name', ['namespace', 'params_file', 'device', 'color_topic',
                                  'depth_topic', 'info_topic', 'rviz', 'bag'])
def test_every_argument_is_described(arguments, name):
    description = _literal(arguments[name]['description'])
    assert isinstance(description, str) and len(description) > 20


def test_topic_defaults_fit_the_realsense_wrapper(arguments):
    topics = RealSenseTopics()
    assert _literal(arguments['color_topic']['default_value']) == topics.color
    assert _literal(arguments['depth_topic']['default_value']) == topics.depth
    assert _literal(arguments['info_topic']['default_value']) == topics.info
    params = yaml.safe_load((ROOT / 'config' / 'pose.yaml').read_text())
    node_params = params[NODE_NAME]['ros__parameters']
    assert (node_params['color_topic'], node_params['depth_topic'],
            node_params['info_topic']) == (topics.color, topics.depth, topics.info)


def test_rviz_is_a_choice(arguments):
    assert _literal(arguments['rviz']['choices']) == ['true', 'false']
    assert _literal(arguments['rviz']['default_value']) == 'false'


def test_node_and_files_match_the_package(tree):
    nodes = _calls(tree, 'Node')
    pose = [n for n in nodes if any(kw.arg == 'executable' and _literal(kw.value) == 'pose_node'
                                    for kw in n.keywords)]
    assert len(pose) == 1
    constants = {t.id: _literal(n.value) for n in tree.body if isinstance(n, ast.Assign)
                 for t in n.targets if isinstance(t, ast.Name)}
    keywords = {kw.arg: _literal(kw.value) if not isinstance(kw.value, ast.Name)
                else constants.get(kw.value.id) for kw in pose[0].keywords}
    assert keywords['name'] == NODE_NAME and keywords['package'] == 'cleanpose_ros'
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert {'pose.yaml', 'cleanpose.rviz', 'rviz2'} <= strings
    assert (ROOT / 'config' / 'cleanpose.rviz').is_file()
    assert 'pose_node' in (ROOT / 'CMakeLists.txt').read_text()


def test_no_eval_or_subprocess(tree):
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    imported = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not names & {'eval', 'exec', 'system', 'Popen', 'PythonExpression'}
    assert not imported & {'subprocess', 'os'}


def test_rviz_config_shows_markers_image_and_tf():
    config = yaml.safe_load((ROOT / 'config' / 'cleanpose.rviz').read_text())
    manager = config['Visualization Manager']
    displays = {d['Class']: d for d in manager['Displays']}
    assert displays['rviz_default_plugins/MarkerArray']['Topic']['Value'] == '/cleanpose/markers'
    assert 'rviz_default_plugins/TF' in displays
    images = [d['Topic']['Value'] for d in manager['Displays']
              if d['Class'] == 'rviz_default_plugins/Image']
    assert '/cleanpose/debug_image' in images
    assert manager['Global Options']['Fixed Frame'] == 'camera_color_optical_frame'


def test_launch_description_loads_with_ros():
    pytest.importorskip('launch_ros', reason='launch_ros needs a ROS 2 install')
    from launch.launch_description_sources import get_launch_description_from_python_launch_file

    description = get_launch_description_from_python_launch_file(str(LAUNCH))
    names = [a.name for a in description.get_launch_arguments()]
    assert names == ['namespace', 'params_file', 'device', 'color_topic', 'depth_topic',
                     'info_topic', 'rviz', 'bag']
