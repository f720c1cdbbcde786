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

"""The one table of ROS parameters: a ParamSpec (type, default, range) per key.

``PARAMS`` lists every parameter: the node declares each with a descriptor built from
it (description, range, read_only), config/pose.yaml documents each, and the bag tool
accepts the same keys as ``key=value``. Pipeline keys take their default, range and
description from cleanpose_core.config (the ``# (type) meaning`` comments).

``check_value`` checks one value against its spec. Types follow ROS: a params file
giving ``min_score: 1`` (an integer where a double is declared) fails in a real node,
so it fails here too; empty lists cannot be typed by ROS's YAML parser and are
rejected with the same advice.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import difflib
import functools
import inspect
import re
import typing
from typing import Any, Iterable, Optional

from cleanpose_core.categories import CATEGORIES
from cleanpose_core.config import PIPELINE_RANGES, PipelineConfig
from cleanpose_core.errors import ConfigError

__all__ = ['KINDS', 'ParamSpec', 'PARAMS', 'PIPELINE_KEYS', 'NODE_KEYS', 'param_spec',
           'check_value', 'class_map_from_list', 'class_map_to_list', 'NONE']

KINDS = ('bool', 'int', 'double', 'string', 'string_array')

# ROS cannot type an empty list: right_side_up [none] stands for none.
NONE = 'none'


@dataclass(frozen=True)
class ParamSpec:
    """One ROS parameter.

    Attributes:
        name: parameter name (for pipeline keys, the PipelineConfig field name).
        kind: 'bool' | 'int' | 'double' | 'string' | 'string_array'.
        default: default value in ROS form.
        description: one line for ParameterDescriptor.description and the docs.
        low, high: inclusive range of an int/double (None = unbounded).
        step: int range step (0 = any).
        choices: allowed values of a string, documented in additional_constraints.
        read_only: fixed after start-up (weights, device, topics, ...).
        runtime: may change while the node runs (thresholds only).
        section: 'pipeline' (a PipelineConfig field) or 'node'.
    """

    name: str
    kind: str
    default: Any
    description: str
    low: Optional[float] = None
    high: Optional[float] = None
    step: int = 0
    choices: tuple = ()
    read_only: bool = True
    runtime: bool = False
    section: str = 'node'

    @property
    def constraints(self) -> str:
        """Describe the range, step and choices (for additional_constraints)."""
        parts = []
        if self.low is not None or self.high is not None:
            parts.append(f'in [{self.low}, {self.high}]')
        if self.step:
            parts.append(f'multiple of {self.step}')
        if self.choices:
            parts.append('one of ' + ', '.join(self.choices))
        if self.runtime:
            parts.append('changeable at runtime')
        return '; '.join(parts)


@functools.lru_cache(maxsize=None)
def _config_comments() -> dict:
    """Map each PipelineConfig field to the meaning in its ``# (type) meaning`` comment."""
    try:
        source = inspect.getsource(PipelineConfig)
    except (OSError, TypeError):
        return {}
    found = {}
    for match in re.finditer(r'^\s+(\w+): [^#\n]*#\s*(?:\(\w+\)\s*)?(.+)$', source, re.M):
        found[match.group(1)] = match.group(2).strip()
    return found


def _pipeline(name: str, kind: str, **kwargs: Any) -> ParamSpec:
    """Spec of a PipelineConfig field: its default, its comment and its range."""
    default = {f.name: f for f in dataclasses.fields(PipelineConfig)}[name]
    value = default.default if default.default is not dataclasses.MISSING \
        else default.default_factory()
    if kind == 'string_array':
        value = list(value) if not isinstance(value, dict) else class_map_to_list(value)
    description = kwargs.pop('description', None) or _config_comments().get(name, name)
    if name in PIPELINE_RANGES:
        kwargs['low'], kwargs['high'] = PIPELINE_RANGES[name]
    return ParamSpec(name, kind, value, description, section='pipeline', **kwargs)


def class_map_to_list(class_map: dict) -> list:
    """Return {'cup': 'mug'} as ROS string array ['cup:mug']."""
    return [f'{k}:{v}' for k, v in class_map.items()]


def class_map_from_list(items: Iterable[str]) -> dict:
    """Parse ['cup:mug', 'wine glass:bottle'] (segmenter class : category) to a dict.

    Raises:
        ConfigError: an item without ':' or with an empty side.
    """
    out = {}
    for item in items:
        name, sep, category = str(item).rpartition(':')
        if not sep or not name.strip() or not category.strip():
            raise ConfigError(f"class_map item {item!r} must look like 'segmenter class:"
                              "category', e.g. 'cup:mug'")
        out[name.strip()] = category.strip()
    return out


_DEVICES = ('auto', 'cpu', 'cuda', 'cuda:N')

# The one table: pipeline keys (PipelineConfig fields), then node-only keys.
PARAMS = (
    _pipeline('weights', 'string', description="pose network weights (.safetensors); '' = "
              'the weights shipped with the package'),
    _pipeline('segmenter_weights', 'string', description='ultralytics instance segmentation '
              "weights; '' = the shipped default (COCO weights need class_map)"),
    _pipeline('class_refiner', 'string', description='class refiner weights (segmenter '
              "categories checked against the depth shape); '' = the shipped one with the "
              "shipped segmenter, none with other weights; 'none' = off"),
    _pipeline('device', 'string', choices=_DEVICES, description='inference device of the '
              "segmenter and the pose network ('auto' = CUDA when available)"),
    _pipeline('min_score', 'double', read_only=False, runtime=True),
    _pipeline('segmenter_conf', 'double', read_only=False, runtime=True),
    _pipeline('segmenter_imgsz', 'int', step=32),
    _pipeline('mask_erode', 'int', description='pixels taken off the edge of each segmenter '
              'mask before lifting it to points (edges bleed onto the background)'),
    _pipeline('table_clearance', 'double', read_only=False, runtime=True,
              description='segmenter mask pixels closer than this to the fitted table '
              'plane are dropped (mask bleed onto the table), metres; 0 = off'),
    _pipeline('depth_gap', 'double', read_only=False, runtime=True,
              description="a segmenter mask's points split into depth layers at jumps larger "
              'than this many metres at 1 m depth (growing with depth squared); only the '
              'fullest layer goes to the network and the class refiner (mask bleed onto an '
              'occluder or the background); 0 = off'),
    _pipeline('upright_snap', 'double', read_only=False, runtime=True,
              description='object Y axes within this many degrees of the fitted table '
              "plane's normal (or its opposite) are put on it; for bowls, cameras, cans and "
              'mugs also an X or Z axis (on their side or back); 0 = off'),
    _pipeline('footprint_yaw', 'double', read_only=False, runtime=True,
              description='cameras and laptops the upright prior set on a face turn about '
              'the table normal onto the nearest side of the smallest rectangle around their '
              'points, if within this many degrees; 0 = off'),
    _pipeline('table_contact', 'double', read_only=False, runtime=True,
              description="the bottom face of a resting object's box (standing, or on its "
              'side or back as the upright prior set it) that is up to this far above (its '
              'lower part was hidden) or below (nothing is under the table) the fitted table '
              'plane moves onto it, the top staying, metres; 0 = off'),
    _pipeline('top_trim', 'double', read_only=False, runtime=True,
              description="the top face of a resting object's box that stands above the "
              "object's highest observed point comes down onto it, by up to this many "
              'metres (a camera looking down at a table sees the tops); 0 = off'),
    _pipeline('side_trim', 'double', read_only=False, runtime=True,
              description="a resting camera's box narrows about its centre to twice the "
              'distance from the centre to the outermost point seen on the side of each '
              'level axis facing the viewer, each face moving by up to this many metres '
              "(the network's camera boxes come out too wide and deep); 0 = off"),
    _pipeline('fit_score', 'double', read_only=False, runtime=True,
              description="each published score is the detection's score times "
              'exp(-r / fit_score), r the median distance of its points to the pose '
              "network's dense NOCS fit over the object's size: poses that fit their "
              "category's shape badly rank low; 0 = the detection's score"),
    _pipeline('class_map', 'string_array', description='segmenter class -> category as '
              "'class:category' items, e.g. ['cup:mug', 'wine glass:bottle']"),
    _pipeline('categories', 'string_array', choices=CATEGORIES),
    _pipeline('right_side_up', 'string_array', choices=CATEGORIES + (NONE,),
              description='upright objects of these categories that the network turned '
              'upside down are turned right side up (where they stand: a can shows no top '
              'the network can tell from its bottom); [none] = none'),
    _pipeline('min_points', 'int', read_only=False, runtime=True),
    _pipeline('max_instances', 'int'),
    _pipeline('track', 'bool'),
    _pipeline('smoothing', 'double'),
    _pipeline('track_max_distance', 'double'),
    _pipeline('track_max_missed', 'int'),
    _pipeline('seed', 'int'),
    _pipeline('trace_network', 'bool', description='run the pose network as a frozen '
              'TorchScript trace made at start-up (faster on the CPU; falls back to eager '
              'with a warning when tracing fails)'),
    ParamSpec('color_topic', 'string', '/camera/camera/color/image_raw',
              'colour image (rgb8, bgr8, rgba8, bgra8 or mono8)'),
    ParamSpec('depth_topic', 'string', '/camera/camera/aligned_depth_to_color/image_raw',
              'depth image aligned to colour (16UC1 millimetres or 32FC1 metres)'),
    ParamSpec('info_topic', 'string', '/camera/camera/color/camera_info',
              "the colour camera's camera_info"),
    ParamSpec('tf_prefix', 'string', 'cleanpose/',
              'prefix of the object TF frames: {tf_prefix}{category}_{track_id}'),
    ParamSpec('publish_tf', 'bool', True, 'broadcast camera optical frame -> object frames'),
    ParamSpec('publish_markers', 'bool', True, 'publish RViz markers (boxes, axes, labels)'),
    ParamSpec('publish_debug_image', 'bool', False,
              'publish the colour image annotated with boxes and labels on debug_image'),
    ParamSpec('sync_slop', 'double', 0.05, 'largest stamp difference of a synchronised '
              'colour/depth/camera_info triple, seconds', low=0.001, high=1.0),
    ParamSpec('sync_queue_size', 'int', 10, 'messages per topic the time synchroniser keeps',
              low=1, high=100),
    ParamSpec('diagnostics_period', 'double', 1.0, 'seconds between diagnostics messages',
              low=0.1, high=60.0),
)
_KIND_OF_TYPE = {bool: 'bool', int: 'int', float: 'double', str: 'string',
                 tuple: 'string_array', dict: 'string_array'}


def _unlisted_pipeline_specs(listed: tuple) -> tuple:
    """Specs of PipelineConfig fields the table lacks (added to the config later).

    Typed from the field, described by its source comment, ranged by PIPELINE_RANGES,
    read-only; the config's own validation still applies.
    """
    names = {s.name for s in listed}
    hints = typing.get_type_hints(PipelineConfig)
    return tuple(_pipeline(f.name, _KIND_OF_TYPE[hints[f.name]])
                 for f in dataclasses.fields(PipelineConfig) if f.name not in names)


_NODE_START = next(i for i, s in enumerate(PARAMS) if s.section == 'node')
PARAMS = PARAMS[:_NODE_START] + _unlisted_pipeline_specs(PARAMS) + PARAMS[_NODE_START:]
PIPELINE_KEYS = tuple(s.name for s in PARAMS if s.section == 'pipeline')
NODE_KEYS = tuple(s.name for s in PARAMS if s.section == 'node')
_BY_NAME = {s.name: s for s in PARAMS}


def param_spec(name: str) -> ParamSpec:
    """Return the spec of one parameter.

    Raises:
        ConfigError: unknown name, with the closest known one.
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_BY_NAME), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ''
        raise ConfigError(f"unknown parameter '{name}'{hint}") from None


def _type_error(spec: ParamSpec, value: Any, hint: str = '') -> ConfigError:
    return ConfigError(f'parameter {spec.name} must be a {spec.kind}; got '
                       f'{type(value).__name__} {value!r}{hint}')


def check_value(spec: ParamSpec, value: Any, strict: bool) -> Any:
    """Check one value's ROS type and range; return it in ROS form (ints->float if lenient)."""
    kind = spec.kind
    if kind == 'bool':
        if not isinstance(value, bool):
            raise _type_error(spec, value)
    elif kind == 'int':
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(spec, value)
    elif kind == 'double':
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(spec, value)
        if isinstance(value, int):
            if strict:
                raise _type_error(spec, value, f'; ROS will not take an integer for a double, '
                                  f'write {value}.0')
            value = float(value)
    elif kind == 'string':
        if not isinstance(value, str):
            raise _type_error(spec, value)
    elif kind == 'string_array':
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise _type_error(spec, value)
        if strict and len(value) == 0:
            raise ConfigError(f'parameter {spec.name} is an empty list, which ROS cannot type; '
                              'leave the key out to keep the default')
        value = list(value)
    if spec.low is not None and value < spec.low or spec.high is not None and value > spec.high:
        raise ConfigError(f'parameter {spec.name} must be in [{spec.low}, {spec.high}]; '
                          f'got {value}')
    if spec.step and value % spec.step:
        raise ConfigError(f'parameter {spec.name} must be a multiple of {spec.step}; '
                          f'got {value}')
    return value
