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

"""Incoming messages -> pipeline Frame, and the message helpers both directions share.

Works on rclpy messages and on rosbags messages alike: fields are read by name, and
outgoing messages are built by keyword with every field (see msg_types). A message that
cannot become a Frame raises MessageError whose ``reason`` is a short key from
REJECT_REASONS, so callers count rejections per reason and keep running.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cleanpose_core.pipeline.results import Frame
from cleanpose_ros.msg_types import MessageTypes

__all__ = ['MessageError', 'InputTopics', 'REJECT_REASONS', 'COLOR_ENCODINGS',
           'DEPTH_ENCODINGS', 'MAX_IMAGE_SIDE', 'image_to_rgb', 'image_to_depth',
           'camera_info_to_K', 'msgs_to_frame', 'stamp_to_ns', 'ns_to_time', 'make_header',
           'rgb_to_image', 'depth_to_image', 'K_to_camera_info']

# encoding -> (channels, channel order reversed to get RGB)
COLOR_ENCODINGS = {'rgb8': (3, False), 'bgr8': (3, True), 'rgba8': (4, False),
                   'bgra8': (4, True), 'mono8': (1, False)}
# encoding -> (numpy dtype, metres per unit)
DEPTH_ENCODINGS = {'16UC1': (np.uint16, 0.001), 'mono16': (np.uint16, 0.001),
                   '32FC1': (np.float32, 1.0)}
# Larger sides are rejected: no camera sends them and they are likely corrupt headers.
MAX_IMAGE_SIDE = 16384

# Why a message was rejected; counted per key by the node and the bag tool.
REJECT_REASONS = (
    'encoding',        # unknown or wrong image encoding
    'image_size',      # zero or absurd width/height
    'endianness',      # is_bigendian not 0 or 1
    'step',            # row stride shorter than a row, or not a multiple of the pixel size
    'byte_length',     # len(data) != step * height
    'intrinsics',      # zero, negative, NaN or malformed camera_info K
    'info_size',       # camera_info width/height differ from the colour image
    'size_mismatch',   # depth and colour sizes differ
    'frame_id',        # no optical frame id on the colour image or camera_info
    'stamp',           # negative seconds or nanoseconds >= 1e9
    'out_of_order',    # older than the last processed frame (FrameProcessor)
    'duplicate_stamp',  # same stamp as the last processed frame (FrameProcessor)
)


class MessageError(ValueError):
    """A message that cannot become a Frame.

    Attributes:
        reason: one of REJECT_REASONS.
        topic: the topic the message came from ('' when unknown).
    """

    def __init__(self, reason: str, topic: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.topic = topic


@dataclass(frozen=True)
class InputTopics:
    """Topic names used in error messages (and by the node and the bag tool)."""

    color: str = '/camera/camera/color/image_raw'
    depth: str = '/camera/camera/aligned_depth_to_color/image_raw'
    info: str = '/camera/camera/color/camera_info'


def stamp_to_ns(stamp: Any) -> int:
    """Return a builtin_interfaces/Time as integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_time(types: MessageTypes, stamp_ns: int) -> Any:
    """Return integer nanoseconds (>= 0) as a builtin_interfaces/Time."""
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return types.Time(sec=sec, nanosec=nanosec)


def make_header(types: MessageTypes, stamp_ns: int, frame_id: str) -> Any:
    """Return a std_msgs/Header."""
    return types.Header(stamp=ns_to_time(types, stamp_ns), frame_id=frame_id)


def _data_bytes(data: Any, topic: str) -> np.ndarray:
    """View a message's uint8[] data (numpy, array.array, bytes) as a 1-D uint8 array."""
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise MessageError('byte_length', topic,
                               f'image data on {topic} must be uint8; got {data.dtype}')
        return data.reshape(-1)
    try:
        return np.frombuffer(data, np.uint8)
    except (TypeError, ValueError):
        raise MessageError('byte_length', topic, f'image data on {topic} is not a byte buffer; '
                           f'got {type(data).__name__}') from None


def _image_pixels(msg: Any, topic: str, channels: int, dtype: Any) -> np.ndarray:
    """Check an Image's size, endianness, step and byte length; return (H, W, C) pixels.

    The result is a view into the message's data (native byte order only when the
    message's is), read-only; callers copy.
    """
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if not (0 < height <= MAX_IMAGE_SIDE and 0 < width <= MAX_IMAGE_SIDE):
        raise MessageError('image_size', topic, f'image on {topic} is {width}x{height}; '
                           f'expected sides in 1..{MAX_IMAGE_SIDE}')
    big = int(msg.is_bigendian)
    if big not in (0, 1):
        raise MessageError('endianness', topic,
                           f'image on {topic} has is_bigendian={big}; expected 0 or 1')
    item = np.dtype(dtype).itemsize
    row = width * channels * item
    if step < row or step % item:
        raise MessageError('step', topic, f'image on {topic} ({msg.encoding}, {width}x{height}) '
                           f'has step {step}; expected >= {row} and a multiple of {item}')
    data = _data_bytes(msg.data, topic)
    if data.size != step * height:
        raise MessageError('byte_length', topic, f'image on {topic} ({msg.encoding}, '
                           f'{width}x{height}, step {step}) has {data.size} bytes; expected '
                           f'step * height = {step * height}')
    rows = data.reshape(height, step)[:, :row]
    order = '>' if big else '<'
    return rows.view(np.dtype(dtype).newbyteorder(order)).reshape(height, width, channels)


def image_to_rgb(msg: Any, topic: str = '') -> np.ndarray:
    """Convert a colour sensor_msgs/Image to an RGB array.

    Args:
        msg: Image with encoding rgb8, bgr8, rgba8, bgra8 or mono8.
        topic: topic name for error messages.

    Returns:
        (H, W, 3) uint8 RGB, a new contiguous array.

    Raises:
        MessageError: unknown encoding, bad size, step, endianness or byte length.
    """
    encoding = str(msg.encoding)
    if encoding not in COLOR_ENCODINGS:
        raise MessageError('encoding', topic, f'colour image on {topic} has encoding '
                           f'{encoding!r}; expected one of {", ".join(COLOR_ENCODINGS)}')
    channels, reverse = COLOR_ENCODINGS[encoding]
    pixels = _image_pixels(msg, topic, channels, np.uint8)
    if channels == 1:
        return np.repeat(pixels, 3, axis=2)
    # Always a copy: the frame must not alias (or be read-only like) the message buffer.
    return np.array(pixels[:, :, 2::-1] if reverse else pixels[:, :, :3], order='C')


def image_to_depth(msg: Any, topic: str = '') -> np.ndarray:
    """Convert an aligned depth sensor_msgs/Image to metres.

    Args:
        msg: Image with encoding 16UC1 or mono16 (millimetres, 0 = invalid) or 32FC1
            (metres; 0, NaN and inf = invalid).
        topic: topic name for error messages.

    Returns:
        (H, W) float32 metres, a new array; negative depths become 0 (invalid).

    Raises:
        MessageError: unknown encoding, bad size, step, endianness or byte length.
    """
    encoding = str(msg.encoding)
    if encoding not in DEPTH_ENCODINGS:
        raise MessageError('encoding', topic, f'depth image on {topic} has encoding '
                           f'{encoding!r}; expected one of {", ".join(DEPTH_ENCODINGS)}')
    dtype, metres_per_unit = DEPTH_ENCODINGS[encoding]
    pixels = _image_pixels(msg, topic, 1, dtype)[:, :, 0]
    if dtype == np.uint16:
        return pixels.astype(np.float32) * np.float32(metres_per_unit)
    depth = pixels.astype(np.float32)
    np.maximum(depth, 0.0, out=depth, where=depth < 0)  # NaN compares False: kept
    return depth


def camera_info_to_K(msg: Any, topic: str = '') -> np.ndarray:
    """Return the 3x3 intrinsics of a sensor_msgs/CameraInfo after checking them.

    Args:
        msg: CameraInfo of the colour camera.
        topic: topic name for error messages.

    Returns:
        (3, 3) float64 K.

    Raises:
        MessageError: reason 'intrinsics' for a K that is not 9 finite numbers with
            fx, fy > 0 and last row (0, 0, 1) (an uncalibrated driver sends zeros).
    """
    try:
        k = np.asarray(msg.k, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise MessageError('intrinsics', topic, f'camera_info on {topic} has a K that is not '
                           'numeric') from None
    if k.size != 9:
        raise MessageError('intrinsics', topic, f'camera_info on {topic} has {k.size} K '
                           'values; expected 9')
    K = k.reshape(3, 3)
    if not np.all(np.isfinite(K)):
        raise MessageError('intrinsics', topic, f'camera_info on {topic} has NaN or inf in K')
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise MessageError('intrinsics', topic, f'camera_info on {topic} has focal lengths '
                           f'fx={K[0, 0]:g}, fy={K[1, 1]:g}; expected > 0 (is the camera '
                           'calibrated?)')
    if K[1, 0] != 0 or K[2, 0] != 0 or K[2, 1] != 0 or K[2, 2] != 1:
        raise MessageError('intrinsics', topic, f'camera_info on {topic} has K rows 2-3 '
                           f'{K[1, 0]:g} {K[1, 1]:g} {K[1, 2]:g} / {K[2, 0]:g} {K[2, 1]:g} '
                           f'{K[2, 2]:g}; expected 0 fy cy / 0 0 1')
    return K


def msgs_to_frame(color_msg: Any, depth_msg: Any, info_msg: Any,
                  topics: InputTopics = InputTopics()) -> Frame:
    """Convert a synchronised (colour, aligned depth, camera_info) triple to a Frame.

    The stamp and frame come from the colour image's header (the camera_info's frame
    when the image has none).

    Args:
        color_msg: colour sensor_msgs/Image.
        depth_msg: depth sensor_msgs/Image aligned to colour (same size).
        info_msg: the colour camera's sensor_msgs/CameraInfo.
        topics: topic names for error messages.

    Returns:
        Frame with (H, W, 3) uint8 RGB, (H, W) float32 metres, (3, 3) K.

    Raises:
        MessageError: any rejected field, with a counted reason and the topic.
    """
    color = image_to_rgb(color_msg, topics.color)
    depth = image_to_depth(depth_msg, topics.depth)
    height, width = color.shape[:2]
    if depth.shape != (height, width):
        raise MessageError('size_mismatch', topics.depth,
                           f'depth {depth.shape[1]}x{depth.shape[0]} on {topics.depth} does not '
                           f'match colour {width}x{height} on {topics.color}; align depth to '
                           'colour (RealSense: align_depth.enable:=true)')
    info_w, info_h = int(info_msg.width), int(info_msg.height)
    if (info_w or info_h) and (info_w, info_h) != (width, height):
        raise MessageError('info_size', topics.info,
                           f'camera_info {info_w}x{info_h} on {topics.info} does not match '
                           f'colour {width}x{height} on {topics.color}; use the colour '
                           "camera's camera_info")
    K = camera_info_to_K(info_msg, topics.info)
    stamp = color_msg.header.stamp
    if int(stamp.sec) < 0 or not 0 <= int(stamp.nanosec) < 1_000_000_000:
        raise MessageError('stamp', topics.color, f'colour image on {topics.color} has stamp '
                           f'{int(stamp.sec)} s {int(stamp.nanosec)} ns; expected sec >= 0 and '
                           'nanosec < 1e9')
    frame_id = str(color_msg.header.frame_id) or str(info_msg.header.frame_id)
    if not frame_id:
        raise MessageError('frame_id', topics.color, f'colour image on {topics.color} and '
                           f'camera_info on {topics.info} have an empty frame_id; set the '
                           "camera driver's optical frame")
    return Frame(color=color, depth=depth, K=K, stamp_ns=stamp_to_ns(stamp), frame_id=frame_id)


def rgb_to_image(types: MessageTypes, rgb: np.ndarray, header: Any) -> Any:
    """Return an rgb8 sensor_msgs/Image of an (H, W, 3) uint8 RGB array."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'rgb must have shape (H, W, 3); got {rgb.shape}')
    height, width = rgb.shape[:2]
    return types.Image(header=header, height=height, width=width, encoding='rgb8',
                       is_bigendian=0, step=width * 3, data=types.uint8_seq(rgb))


def depth_to_image(types: MessageTypes, depth: np.ndarray, header: Any,
                   encoding: str = '16UC1') -> Any:
    """Return a depth sensor_msgs/Image of (H, W) metres (16UC1 millimetres or 32FC1 metres).

    Invalid depths (NaN, inf, <= 0) become 0 in 16UC1.
    """
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim != 2:
        raise ValueError(f'depth must have shape (H, W); got {depth.shape}')
    if encoding == '16UC1':
        mm = np.where(np.isfinite(depth) & (depth > 0), depth * 1000.0, 0.0)
        pixels = np.clip(np.rint(mm), 0, 65535).astype('<u2')
    elif encoding == '32FC1':
        pixels = depth.astype('<f4')
    else:
        raise ValueError(f"encoding must be '16UC1' or '32FC1'; got {encoding!r}")
    height, width = depth.shape
    return types.Image(header=header, height=height, width=width, encoding=encoding,
                       is_bigendian=0, step=width * pixels.itemsize,
                       data=types.uint8_seq(pixels.view(np.uint8)))


def K_to_camera_info(types: MessageTypes, K: np.ndarray, width: int, height: int,
                     header: Any) -> Any:
    """Return a distortion-free sensor_msgs/CameraInfo for a (3, 3) K."""
    K = np.asarray(K, dtype=np.float64).reshape(3, 3)
    P = np.concatenate([K, np.zeros((3, 1))], axis=1)
    return types.CameraInfo(
        header=header, height=int(height), width=int(width), distortion_model='plumb_bob',
        d=types.float64_seq(np.zeros(5)), k=K.reshape(-1).copy(),
        r=np.eye(3).reshape(-1), p=P.reshape(-1), binning_x=0, binning_y=0,
        roi=types.RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0,
                                   do_rectify=False))
