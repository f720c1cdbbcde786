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

"""ROS parameters <-> PipelineConfig: one table, ROS typing rules, params files."""

from __future__ import annotations

import dataclasses
from pathlib import Path
import re

import pytest

from cleanpose_core.config import PIPELINE_RANGES, PipelineConfig
from cleanpose_core.errors import ConfigError
from cleanpose_ros.params import (class_map_from_list, load_params_file, NODE_KEYS, NodeParams,
                                  PARAMS, params_from_values, params_to_values,
                                  parse_overrides, PIPELINE_KEYS, runtime_update)

ROOT = Path(__file__).resolve().parents[2]
POSE_YAML = ROOT / 'config' / 'pose.yaml'


def test_table_covers_every_pipeline_config_field():
    assert set(PIPELINE_KEYS) == {f.name for f in dataclasses.fields(PipelineConfig)}
    assert len(set(PIPELINE_KEYS + NODE_KEYS)) == len(PARAMS)


@pytest.mark.parametrize('spec', PARAMS, ids=lambda s: s.name)
def test_every_parameter_is_described_and_documented(spec):
    assert len(spec.description) > 10 and spec.description != spec.name
    assert spec.kind in ('bool', 'int', 'double', 'string', 'string_array')
    assert not (spec.runtime and spec.read_only)
    # pose.yaml documents every key (class_map as a commented example: ROS cannot type []).
    assert re.search(rf'^\s+#?\s*{spec.name}: ', POSE_YAML.read_text(), re.M)


def test_pipeline_descriptions_come_from_config_comments():
    by_name = {s.name: s for s in PARAMS}
    assert by_name['min_score'].description == 'drop detections scoring below this, [0, 1]'
    assert by_name['min_points'].description.startswith('fewer valid masked depth points')


def test_runtime_parameters_are_thresholds():
    runtime = [s.name for s in PARAMS if s.runtime]
    assert runtime == ['min_score', 'segmenter_conf', 'table_clearance', 'depth_gap',
                       'upright_snap', 'footprint_yaw', 'table_contact', 'top_trim', 'side_trim',
                       'fit_score', 'min_points']
    assert all(s.read_only for s in PARAMS if s.name in ('weights', 'device', 'color_topic'))


def test_pose_yaml_holds_the_defaults():
    assert load_params_file(POSE_YAML) == NodeParams()


def test_values_round_trip():
    params = params_from_values({'min_score': 0.5, 'class_map': ['cup:mug', 'wine glass:bottle'],
                                 'categories': ['mug', 'bowl'], 'tf_prefix': 'objects/',
                                 'publish_debug_image': True, 'right_side_up': ['can']})
    assert params.pipeline.class_map == {'cup': 'mug', 'wine glass': 'bottle'}
    assert params.pipeline.categories == ('mug', 'bowl')
    assert params.pipeline.right_side_up == ('can',)
    assert params.node.tf_prefix == 'objects/' and params.node.publish_debug_image
    assert params_from_values(params_to_values(params)) == params


def test_right_side_up_defaults_to_cans_and_none_turns_it_off():
    assert NodeParams().pipeline.right_side_up == ('can',)
    params = params_from_values({'right_side_up': ['none']})
    assert params.pipeline.right_side_up == ()
    assert params_to_values(params)['right_side_up'] == ['none']   # ROS cannot type []
    assert params_from_values(params_to_values(params), strict=False) == params


def _write(tmp_path, text):
    path = tmp_path / 'p.yaml'
    path.write_text(text)
    return path


def test_wildcard_block_then_node_block(tmp_path):
    path = _write(tmp_path, '/**:\n  ros__parameters:\n    min_score: 0.7\n    track: false\n'
                  'cleanpose_pose_node:\n  ros__parameters:\n    min_score: 0.4\n'
                  'other_node:\n  ros__parameters:\n    min_score: 0.9\n')
    params = load_params_file(path)
    assert params.pipeline.min_score == 0.4 and params.pipeline.track is False


def test_namespaced_node_key(tmp_path):
    path = _write(tmp_path, '/robot/cleanpose_pose_node:\n  ros__parameters:\n'
                  '    device: cpu\n')
    assert load_params_file(path).pipeline.device == 'cpu'


@pytest.mark.parametrize('text,match', [
    ('cleanpose_pose_node:\n  ros__parameters:\n    min_score: 1\n',
     r'parameter min_score must be a double; got int 1; ROS will not take an integer for a '
     r'double, write 1.0'),
    ('cleanpose_pose_node:\n  ros__parameters:\n    min_scor: 0.5\n',
     r"unknown parameter 'min_scor'; did you mean 'min_score'\?"),
    ('cleanpose_pose_node:\n  ros__parameters:\n    min_score: 1.5\n',
     r'parameter min_score must be in \[0.0, 1.0\]; got 1.5'),
    ('cleanpose_pose_node:\n  ros__parameters:\n    segmenter_imgsz: 100\n',
     r'parameter segmenter_imgsz must be a multiple of 32; got 100'),
    ('cleanpose_pose_node:\n  ros__parameters:\n    class_map: []\n',
     r'class_map is an empty list, which ROS cannot type; leave the key out'),
    ('cleanpose_pose_node:\n  ros__parameters:\n    categories: [mug, spoon]\n',
     r"pipeline.categories has unknown \['spoon'\]"),
    ('cleanpose_pose_node:\n  ros__parameters:\n    right_side_up: [can, spoon]\n',
     r"pipeline.right_side_up has unknown \['spoon'\]"),
    ('cleanpose_pose_node:\n  ros__parameters:\n    device: gpu\n',
     r"pipeline.device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got 'gpu'"),
    ('cleanpose_pose_node:\n  ros__parameters:\n    track: 1\n',
     r'parameter track must be a bool; got int 1'),
    ('cleanpose_pose_node:\n  ros__parameters:\n    tf_prefix: /abs/\n',
     r"tf_prefix must not start with '/'"),
    ('cleanpose_pose_node:\n  ros__parameters:\n    class_map: [cup]\n',
     r"class_map item 'cup' must look like 'segmenter class:category'"),
    ('other:\n  ros__parameters:\n    min_score: 0.5\n',
     r'has no block for cleanpose_pose_node .* found other'),
    ('cleanpose_pose_node:\n  min_score: 0.5\n', r'must hold a ros__parameters mapping'),
    ('[1, 2]\n', r'must map node names to ros__parameters'),
    ('a: [\n', r'is not valid YAML'),
], ids=['int_for_double', 'unknown', 'range', 'step', 'empty_list', 'category', 'right_side_up',
        'device', 'bool', 'tf_prefix', 'class_map', 'no_block', 'no_ros_parameters',
        'not_mapping', 'bad_yaml'])
def test_params_file_errors(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_params_file(_write(tmp_path, text))


def test_missing_file():
    with pytest.raises(ConfigError, match=r'cannot read params file /nonexistent.yaml'):
        load_params_file('/nonexistent.yaml')


def test_overrides_are_lenient_about_ints():
    values = parse_overrides(['pipeline.min_score=1', 'device=cpu', 'categories=[mug]',
                              'weights='])
    assert values == {'min_score': 1, 'device': 'cpu', 'categories': ['mug'], 'weights': ''}
    params = params_from_values(values, strict=False, source='command line')
    assert params.pipeline.min_score == 1.0 and params.pipeline.categories == ('mug',)


def test_override_without_equals():
    with pytest.raises(ConfigError, match=r"override 'min_score' must look like key=value"):
        parse_overrides(['min_score'])


def test_runtime_update_only_thresholds():
    params = NodeParams()
    updated = runtime_update(params, {'min_score': 0.6, 'min_points': 64})
    assert (updated.pipeline.min_score, updated.pipeline.min_points) == (0.6, 64)
    assert updated.pipeline.device == params.pipeline.device
    with pytest.raises(ConfigError, match=r'device cannot change at runtime; only min_score, '
                       r'segmenter_conf, table_clearance, depth_gap, upright_snap, '
                       r'footprint_yaw, table_contact, top_trim, side_trim, fit_score, '
                       r'min_points can'):
        runtime_update(params, {'device': 'cpu'})
    with pytest.raises(ConfigError, match=r'min_points must be in \[1, 100000\]; got 0'):
        runtime_update(params, {'min_points': 0})


def test_class_map_parsing_keeps_colons_in_names():
    assert class_map_from_list(['a:b:mug', ' cup : mug ']) == {'a:b': 'mug', 'cup': 'mug'}


def test_fields_missing_from_the_table_get_typed_specs():
    from cleanpose_ros.params import _unlisted_pipeline_specs

    specs = {s.name: s for s in _unlisted_pipeline_specs(PARAMS[:2])}
    assert set(specs) == set(PIPELINE_KEYS[2:])
    assert (specs['min_score'].kind, specs['track'].kind, specs['class_map'].kind,
            specs['max_instances'].kind) == ('double', 'bool', 'string_array', 'int')
    assert specs['min_score'].read_only
    assert (specs['min_score'].low, specs['min_score'].high) == PIPELINE_RANGES['min_score']


@pytest.mark.parametrize('key', sorted(PIPELINE_RANGES))
def test_declared_ranges_are_the_configs_ranges(key):
    spec = {s.name: s for s in PARAMS}[key]
    low, high = PIPELINE_RANGES[key]
    assert (spec.low, spec.high) == (low, high)
    for bad in (low - (1 if isinstance(low, int) else 1e-3),
                high + (32 if key == 'segmenter_imgsz' else 1 if isinstance(high, int) else 1e-3)):
        with pytest.raises(ConfigError, match=key):
            PipelineConfig(**{key: bad})
