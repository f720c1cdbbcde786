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

"""Message classes: rclpy's generated ones in a ROS build, else a rosbags typestore.

The conversions build every message by keyword with every field given, so the same
function serves both. ``rosbags_types()`` registers what rosbags' stock Humble store
lacks: the vision_msgs definitions below and this package's msg/ files.
"""

from __future__ import annotations

import array
from dataclasses import dataclass
import functools
import importlib
import os
from pathlib import Path
import sys
from typing import Any, Optional

import numpy as np

__all__ = ['MessageTypes', 'rosbags_types', 'rclpy_types', 'default_types', 'msg_dir',
           'VISION_MSGS_DEFINITIONS', 'OWN_MESSAGES']

# vision_msgs 4.x (Humble and newer), the types the node publishes.
VISION_MSGS_DEFINITIONS = {
    'vision_msgs/msg/ObjectHypothesis': 'string class_id\nfloat64 score\n',
    'vision_msgs/msg/ObjectHypothesisWithPose': (
        'vision_msgs/ObjectHypothesis hypothesis\ngeometry_msgs/PoseWithCovariance pose\n'),
    'vision_msgs/msg/BoundingBox3D': 'geometry_msgs/Pose center\ngeometry_msgs/Vector3 size\n',
    'vision_msgs/msg/Detection3D': (
        'std_msgs/Header header\nvision_msgs/ObjectHypothesisWithPose[] results\n'
        'vision_msgs/BoundingBox3D bbox\nstring id\n'),
    'vision_msgs/msg/Detection3DArray': (
        'std_msgs/Header header\nvision_msgs/Detection3D[] detections\n'),
}
# This package's messages, in dependency order (file stem -> type name).
OWN_MESSAGES = ('ObjectPose', 'ObjectPoseArray')
PACKAGE = 'cleanpose_ros'

# attribute -> (ROS package, message name)
_CLASSES = {
    'Time': ('builtin_interfaces', 'Time'),
    'Duration': ('builtin_interfaces', 'Duration'),
    'Header': ('std_msgs', 'Header'),
    'ColorRGBA': ('std_msgs', 'ColorRGBA'),
    'Point': ('geometry_msgs', 'Point'),
    'Quaternion': ('geometry_msgs', 'Quaternion'),
    'Pose': ('geometry_msgs', 'Pose'),
    'PoseWithCovariance': ('geometry_msgs', 'PoseWithCovariance'),
    'Vector3': ('geometry_msgs', 'Vector3'),
    'Transform': ('geometry_msgs', 'Transform'),
    'TransformStamped': ('geometry_msgs', 'TransformStamped'),
    'Image': ('sensor_msgs', 'Image'),
    'CameraInfo': ('sensor_msgs', 'CameraInfo'),
    'CompressedImage': ('sensor_msgs', 'CompressedImage'),
    'RegionOfInterest': ('sensor_msgs', 'RegionOfInterest'),
    'Marker': ('visualization_msgs', 'Marker'),
    'MarkerArray': ('visualization_msgs', 'MarkerArray'),
    'MeshFile': ('visualization_msgs', 'MeshFile'),
    'UVCoordinate': ('visualization_msgs', 'UVCoordinate'),
    'TFMessage': ('tf2_msgs', 'TFMessage'),
    'DiagnosticArray': ('diagnostic_msgs', 'DiagnosticArray'),
    'DiagnosticStatus': ('diagnostic_msgs', 'DiagnosticStatus'),
    'KeyValue': ('diagnostic_msgs', 'KeyValue'),
    'ObjectHypothesis': ('vision_msgs', 'ObjectHypothesis'),
    'ObjectHypothesisWithPose': ('vision_msgs', 'ObjectHypothesisWithPose'),
    'BoundingBox3D': ('vision_msgs', 'BoundingBox3D'),
    'Detection3D': ('vision_msgs', 'Detection3D'),
    'Detection3DArray': ('vision_msgs', 'Detection3DArray'),
    'ObjectPose': (PACKAGE, 'ObjectPose'),
    'ObjectPoseArray': (PACKAGE, 'ObjectPoseArray'),
}


@dataclass(frozen=True)
class MessageTypes:
    """The message classes of one backend, by message name (``types.Image`` ...).

    Attributes:
        backend: 'rclpy' or 'rosbags'.
        classes: message name (e.g. 'Image') -> class.
        typestore: the rosbags Typestore (None for rclpy), for (de)serialising.
    """

    backend: str
    classes: dict
    typestore: Any = None

    def __post_init__(self) -> None:
        # Plain attributes (``types.Point``): the conversions look classes up per field.
        for name, cls in self.classes.items():
            object.__setattr__(self, name, cls)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f'no message class {name!r} in the {self.backend} types; '
                             f'known: {sorted(self.classes)}')

    def type_name(self, name: str) -> str:
        """Return the ROS type name of a message name, e.g. 'sensor_msgs/msg/Image'."""
        package, message = _CLASSES[name]
        return f'{package}/msg/{message}'

    def uint8_seq(self, data: np.ndarray | bytes) -> Any:
        """Return bytes as the backend wants a ``uint8[]`` field (numpy or array.array)."""
        if self.backend == 'rosbags':
            return np.frombuffer(data, np.uint8) if not isinstance(data, np.ndarray) \
                else np.ascontiguousarray(data, np.uint8).reshape(-1)
        seq = array.array('B')
        seq.frombytes(np.ascontiguousarray(data, np.uint8).tobytes()
                      if isinstance(data, np.ndarray) else bytes(data))
        return seq

    def float64_seq(self, values: Any) -> Any:
        """Return floats as the backend wants a ``float64[]`` field."""
        values = np.asarray(values, np.float64).reshape(-1)
        if self.backend == 'rosbags':
            return values
        return array.array('d', values.tolist())

    def serialize(self, msg: Any) -> bytes:
        """Serialise a rosbags message to CDR bytes (rosbags backend only)."""
        if self.typestore is None:
            raise TypeError('serialize() needs the rosbags backend; rclpy publishes directly')
        return bytes(self.typestore.serialize_cdr(msg, msg.__msgtype__))


def msg_dir() -> Path:
    """Find this package's msg/ folder: the source tree, else an installed share/ folder.

    Raises:
        FileNotFoundError: when no folder holds ObjectPose.msg.
    """
    candidates = [Path(__file__).resolve().parent.parent / 'msg',
                  Path(sys.prefix) / 'share' / PACKAGE / 'msg']
    for prefix in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep):
        if prefix:
            candidates.append(Path(prefix) / 'share' / PACKAGE / 'msg')
    for path in candidates:
        if (path / 'ObjectPose.msg').is_file():
            return path
    raise FileNotFoundError('cannot find the cleanpose_ros msg/ folder (looked in '
                            f'{", ".join(str(p) for p in candidates)}); reinstall the package')


@functools.lru_cache(maxsize=None)
def rosbags_types(store: str = 'ros2_humble') -> MessageTypes:
    """Return the rosbags message classes with vision_msgs and cleanpose_ros registered.

    Args:
        store: name of a rosbags ``Stores`` member, lower case.
    """
    from rosbags.typesys import get_types_from_msg, get_typestore, Stores

    typestore = get_typestore(Stores[store.upper()])
    defs: dict = {}
    for name, text in VISION_MSGS_DEFINITIONS.items():
        defs.update(get_types_from_msg(text, name))
    folder = msg_dir()
    for stem in OWN_MESSAGES:
        text = (folder / f'{stem}.msg').read_text()
        defs.update(get_types_from_msg(text, f'{PACKAGE}/msg/{stem}'))
    typestore.register(defs)
    classes = {attr: typestore.types[f'{pkg}/msg/{msg}'] for attr, (pkg, msg) in _CLASSES.items()}
    return MessageTypes('rosbags', classes, typestore)


@functools.lru_cache(maxsize=None)
def rclpy_types() -> MessageTypes:
    """Return the rosidl-generated Python message classes of a ROS 2 install.

    Raises:
        ImportError: naming the first message package that is not importable.
    """
    classes = {}
    for attr, (package, message) in _CLASSES.items():
        try:
            module = importlib.import_module(f'{package}.msg')
            classes[attr] = getattr(module, message)
        except (ImportError, AttributeError) as err:
            raise ImportError(f'ROS 2 message {package}/msg/{message} is not importable '
                              f'({err}); source your ROS 2 workspace') from err
    return MessageTypes('rclpy', classes)


def default_types(prefer: Optional[str] = None) -> MessageTypes:
    """Return the rclpy classes when importable, else the rosbags ones.

    Args:
        prefer: 'rclpy' or 'rosbags' to force one backend.
    """
    if prefer == 'rosbags':
        return rosbags_types()
    try:
        return rclpy_types()
    except ImportError:
        if prefer == 'rclpy':
            raise
        return rosbags_types()
