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

"""Write a synthetic RGB-D sequence as a rosbag2 (mcap) with RealSense topic names.

The demo input for ROS users (``ros2 launch cleanpose_ros pose.launch.py bag:=BAG``) and
for ``cleanpose_bag``. Topics, as the RealSense ROS 2 wrapper publishes them with
``align_depth.enable:=true``: colour (rgb8), depth aligned to colour (16UC1 mm or 32FC1
m), both camera_infos, and /tf_static camera_link -> camera_color_optical_frame.

Typical use::

  cleanpose make-bag --out runs/demo_bag --frames 30
  cleanpose make-bag --out runs/demo_bag_f32 --frames 10 --depth-encoding 32FC1
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import logging
from pathlib import Path
import sys
from typing import Any, Iterable, Iterator

from cleanpose_core.errors import ConfigError
from cleanpose_core.pipeline.results import Frame
from cleanpose_ros.bag_io import atomic_bag_writer
from cleanpose_ros.conversions import (depth_to_image, K_to_camera_info, make_header,
                                       rgb_to_image)
from cleanpose_ros.msg_types import MessageTypes, rosbags_types

__all__ = ['RealSenseTopics', 'write_rgbd_bag', 'synthetic_frames', 'add_arguments', 'run']

log = logging.getLogger(__name__)

START_NS = 1_700_000_000_000_000_000
OPTICAL_FRAME = 'camera_color_optical_frame'
BASE_FRAME = 'camera_link'
# camera_link (x forward, y left, z up) -> optical frame (x right, y down, z forward).
OPTICAL_IN_BASE_XYZW = (-0.5, 0.5, -0.5, 0.5)


@dataclass(frozen=True)
class RealSenseTopics:
    """Topic names of the RealSense ROS 2 wrapper (camera_namespace=camera, name=camera)."""

    color: str = '/camera/camera/color/image_raw'
    depth: str = '/camera/camera/aligned_depth_to_color/image_raw'
    info: str = '/camera/camera/color/camera_info'
    depth_info: str = '/camera/camera/aligned_depth_to_color/camera_info'


def _latched_qos() -> list:
    from rosbags.interfaces import (Qos, QosDurability, QosHistory, QosLiveliness,
                                    QosReliability, QosTime)

    never = QosTime(sec=0, nsec=0)
    return [Qos(history=QosHistory.KEEP_LAST, depth=1, reliability=QosReliability.RELIABLE,
                durability=QosDurability.TRANSIENT_LOCAL, deadline=never, lifespan=never,
                liveliness=QosLiveliness.AUTOMATIC, liveliness_lease_duration=never,
                avoid_ros_namespace_conventions=False)]


def _static_tf(types: MessageTypes, stamp_ns: int) -> Any:
    x, y, z, w = OPTICAL_IN_BASE_XYZW
    transform = types.TransformStamped(
        header=make_header(types, stamp_ns, BASE_FRAME), child_frame_id=OPTICAL_FRAME,
        transform=types.Transform(translation=types.Vector3(x=0.0, y=0.015, z=0.0),
                                  rotation=types.Quaternion(x=x, y=y, z=z, w=w)))
    return types.TFMessage(transforms=[transform])


def write_rgbd_bag(out: str | Path, frames: Iterable[Frame], fps: float = 15.0,
                   depth_encoding: str = '16UC1', topics: RealSenseTopics = RealSenseTopics(),
                   types: MessageTypes | None = None) -> int:
    """Write frames as a RealSense-style rosbag2 (mcap), atomically.

    Frames are stamped ``START_NS + k / fps`` (a frame's own stamp_ns is ignored) in the
    colour optical frame.

    Args:
        out: new bag folder; must not exist.
        frames: colour (H, W, 3) uint8 RGB, depth (H, W) metres, K.
        fps: frame rate of the stamps.
        depth_encoding: '16UC1' (millimetres) or '32FC1' (metres).
        topics: topic names.
        types: rosbags message classes (default rosbags_types()).

    Returns:
        Number of frames written.

    Raises:
        ConfigError: the output exists, or fps <= 0.
    """
    if fps <= 0:
        raise ConfigError(f'fps must be > 0; got {fps}')
    types = types or rosbags_types()
    count = 0
    with atomic_bag_writer(out) as writer:
        def connection(topic: str, name: str, **kwargs: Any) -> Any:
            return writer.add_connection(topic, types.type_name(name),
                                         typestore=types.typestore, **kwargs)

        conns = {'color': connection(topics.color, 'Image'),
                 'depth': connection(topics.depth, 'Image'),
                 'info': connection(topics.info, 'CameraInfo'),
                 'depth_info': connection(topics.depth_info, 'CameraInfo'),
                 'tf_static': connection('/tf_static', 'TFMessage',
                                         offered_qos_profiles=_latched_qos())}
        writer.write(conns['tf_static'], START_NS,
                     types.serialize(_static_tf(types, START_NS)))
        for k, frame in enumerate(frames):
            stamp = START_NS + int(round(k * 1e9 / fps))
            header = make_header(types, stamp, OPTICAL_FRAME)
            height, width = frame.depth.shape
            info = types.serialize(K_to_camera_info(types, frame.K, width, height, header))
            writer.write(conns['color'], stamp,
                         types.serialize(rgb_to_image(types, frame.color, header)))
            writer.write(conns['depth'], stamp, types.serialize(
                depth_to_image(types, frame.depth, header, depth_encoding)))
            writer.write(conns['info'], stamp, info)
            writer.write(conns['depth_info'], stamp, info)
            count += 1
    return count


def synthetic_frames(frames: int, objects: int = 4, seed: int = 0) -> Iterator[Frame]:
    """Yield a rendered synthetic sequence (one scene of unseen instances, moving camera)."""
    from cleanpose_core.pipeline.demo import synth_sequence

    for frame, _ in synth_sequence(frames, objects=objects, seed=seed):
        yield frame


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `cleanpose make-bag`."""
    parser.add_argument('--out', type=Path, required=True, help='new bag folder')
    parser.add_argument('--frames', type=int, default=30, help='frames (default 30)')
    parser.add_argument('--objects', type=int, default=4, help='category objects in the scene')
    parser.add_argument('--seed', type=int, default=0, help='seed of the synthetic scene')
    parser.add_argument('--fps', type=float, default=15.0, help='frame rate of the stamps')
    parser.add_argument('--depth-encoding', choices=('16UC1', '32FC1'), default='16UC1',
                        help='16UC1 millimetres (RealSense) or 32FC1 metres')


def run(args: argparse.Namespace) -> int:
    """Render the sequence and write the bag."""
    if args.frames < 1:
        raise ConfigError(f'--frames must be >= 1; got {args.frames}')
    count = write_rgbd_bag(args.out, synthetic_frames(args.frames, args.objects, args.seed),
                           fps=args.fps, depth_encoding=args.depth_encoding)
    log.info('wrote %d frames to %s', count, args.out)
    sys.stdout.write(f'{args.out}\n')
    return 0
