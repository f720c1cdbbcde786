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

"""ROS parameters <-> PipelineConfig (same key names, same validation) + node options.

The parameters themselves (``PARAMS``, ``ParamSpec``, ranges, descriptions and the
per-value type check) live in cleanpose_ros.param_table and are re-exported here. This
module turns values into ``NodeParams`` (a PipelineConfig plus ``NodeOptions``): from
ROS parameter values, from a ROS 2 params file, from ``key=value`` overrides, and for
runtime updates of the thresholds.

Types follow ROS: a params file giving ``min_score: 1`` (an integer where a double is
declared) fails in a real node, so it fails here too; empty lists cannot be typed by
ROS's YAML parser and are rejected with the same advice.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import yaml

from cleanpose_core.config import PipelineConfig
from cleanpose_core.errors import ConfigError
# Importable from here as before the table moved (a test uses the first).
from cleanpose_ros.param_table import _unlisted_pipeline_specs, KINDS  # noqa: F401
from cleanpose_ros.param_table import (check_value, class_map_from_list, class_map_to_list,
                                       NODE_KEYS, NONE, param_spec, PARAMS, ParamSpec,
                                       PIPELINE_KEYS)

__all__ = ['NODE_NAME', 'ParamSpec', 'PARAMS', 'PIPELINE_KEYS', 'NODE_KEYS', 'NodeOptions',
           'NodeParams', 'param_spec', 'params_from_values', 'params_to_values',
           'load_params_file', 'parse_overrides', 'runtime_update', 'class_map_from_list',
           'class_map_to_list']

NODE_NAME = 'cleanpose_pose_node'


@dataclass(frozen=True)
class NodeOptions:
    """Node-only parameters (not part of the pipeline config)."""

    color_topic: str = param_spec('color_topic').default
    depth_topic: str = param_spec('depth_topic').default
    info_topic: str = param_spec('info_topic').default
    tf_prefix: str = param_spec('tf_prefix').default
    publish_tf: bool = True
    publish_markers: bool = True
    publish_debug_image: bool = False
    sync_slop: float = 0.05
    sync_queue_size: int = 10
    diagnostics_period: float = 1.0

    def __post_init__(self) -> None:
        for name in NODE_KEYS:
            check_value(param_spec(name), getattr(self, name), strict=False)
        for name in ('color_topic', 'depth_topic', 'info_topic'):
            if not getattr(self, name):
                raise ConfigError(f'{name} must not be empty')
        if self.tf_prefix.startswith('/'):
            raise ConfigError(f"tf_prefix must not start with '/' (TF frame ids are "
                              f'relative); got {self.tf_prefix!r}')


@dataclass(frozen=True)
class NodeParams:
    """Everything the node reads from its parameters."""

    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    node: NodeOptions = field(default_factory=NodeOptions)


def params_from_values(values: dict, strict: bool = True, base: Optional[NodeParams] = None,
                       source: str = 'parameters') -> NodeParams:
    """Build NodeParams from ROS parameter values {name: value}.

    Args:
        values: any subset of PARAMS' names; the rest keep their value in ``base``.
        strict: reject integers for doubles and empty lists, as ROS does (params files);
            False accepts 1 for 1.0 (command line overrides).
        base: values to start from (defaults when None).
        source: named in error messages (file path, 'command line').

    Raises:
        ConfigError: unknown name (with a suggestion), wrong type, out of range, or a
            PipelineConfig validation error.
    """
    base = base or NodeParams()
    pipeline_values, node_values = {}, {}
    for name, value in values.items():
        try:
            spec = param_spec(name)
            value = check_value(spec, value, strict)
        except ConfigError as err:
            raise ConfigError(f'{source}: {err}') from None
        if spec.section == 'node':
            node_values[name] = value
        elif name == 'class_map':
            pipeline_values[name] = class_map_from_list(value)
        elif name == 'right_side_up' and value == [NONE]:
            pipeline_values[name] = ()
        elif spec.kind == 'string_array':
            pipeline_values[name] = tuple(value)
        else:
            pipeline_values[name] = value
    try:
        return NodeParams(dataclasses.replace(base.pipeline, **pipeline_values),
                          dataclasses.replace(base.node, **node_values))
    except ConfigError as err:
        raise ConfigError(f'{source}: {err}') from None


def params_to_values(params: NodeParams) -> dict:
    """Return {name: ROS value} for every parameter in PARAMS order."""
    out = {}
    for spec in PARAMS:
        owner = params.pipeline if spec.section == 'pipeline' else params.node
        value = getattr(owner, spec.name)
        if spec.name == 'class_map':
            value = class_map_to_list(value)
        elif spec.name == 'right_side_up' and not value:
            value = [NONE]
        elif spec.kind == 'string_array':
            value = list(value)
        out[spec.name] = value
    return out


def _node_sections(loaded: dict, node_name: str, path: Path) -> list:
    """The ros__parameters blocks of a params file that apply to node_name.

    Wildcard blocks ('/**') come first, then the node's own, so its own values win.
    """
    sections = []
    for key, block in loaded.items():
        last = str(key).strip('/').split('/')[-1]
        if last not in (node_name, '*', '**'):
            continue
        if not isinstance(block, dict) or not isinstance(block.get('ros__parameters'), dict):
            raise ConfigError(f'params file {path}: {key!r} must hold a ros__parameters '
                              'mapping')
        sections.append((last == node_name, block['ros__parameters']))
    return [params for _, params in sorted(sections, key=lambda item: item[0])]


def load_params_file(path: str | Path, node_name: str = NODE_NAME,
                     base: Optional[NodeParams] = None) -> NodeParams:
    """Read a ROS 2 params file (``node: ros__parameters: {...}`` or ``/**:``).

    Raises:
        ConfigError: unreadable file, bad YAML, no block for the node, or a bad value.
    """
    path = Path(path)
    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ConfigError(f'cannot read params file {path}: {err.strerror}') from None
    except yaml.YAMLError as err:
        raise ConfigError(f'params file {path} is not valid YAML: {err}') from None
    if not isinstance(loaded, dict):
        raise ConfigError(f'params file {path} must map node names to ros__parameters')
    sections = _node_sections(loaded, node_name, path)
    if not sections:
        raise ConfigError(f'params file {path} has no block for {node_name} (expected '
                          f"'{node_name}:' or '/**:' with ros__parameters); found "
                          f'{", ".join(map(str, loaded))}')
    values: dict = {}
    for section in sections:
        values.update(section)
    return params_from_values(values, strict=True, base=base, source=str(path))


def parse_overrides(texts: Iterable[str]) -> dict:
    """Parse ``key=value`` (or ``pipeline.key=value``) strings; values by yaml.safe_load.

    Raises:
        ConfigError: a text without '=' or an unparsable value.
    """
    values = {}
    for text in texts:
        key, sep, raw = text.partition('=')
        if not sep or not key.strip():
            raise ConfigError(f'override {text!r} must look like key=value, e.g. '
                              "'min_score=0.5'")
        key = key.strip()
        key = key[len('pipeline.'):] if key.startswith('pipeline.') else key
        try:
            values[key] = yaml.safe_load(raw) if raw.strip() else ''
        except yaml.YAMLError:
            raise ConfigError(f'override {text!r}: cannot parse the value') from None
        if values[key] is None:
            values[key] = ''
    return values


def runtime_update(params: NodeParams, changes: dict) -> NodeParams:
    """Apply runtime parameter changes (thresholds only), validated as at start-up.

    Raises:
        ConfigError: a parameter that cannot change at runtime, or an invalid value.
    """
    fixed = [name for name in changes if not param_spec(name).runtime]
    if fixed:
        raise ConfigError(f'{", ".join(sorted(fixed))} cannot change at runtime; only '
                          f'{", ".join(s.name for s in PARAMS if s.runtime)} can (restart '
                          'the node for the others)')
    return params_from_values(changes, strict=True, base=params, source='parameter update')
