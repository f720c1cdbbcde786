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

"""Incoming messages -> Frame: encodings, strides, byte order, intrinsics, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from ros_factories import (encode_color, fixture_rng, fixture_types,  # noqa: F401 (fixtures)
                           FRAME_ID, image_msg, info_msg, K_640, STAMP_NS)

from cleanpose_ros.conversions import (camera_info_to_K, depth_to_image, image_to_depth,
                                       image_to_rgb, InputTopics, K_to_camera_info,
                                       make_header, MessageError, msgs_to_frame,
                                       REJECT_REASONS, rgb_to_image)


TOPICS = InputTopics(color='/cam/color', depth='/cam/depth', info='/cam/info')


@pytest.fixture
def rgb(rng) -> np.ndarray:
    return rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'rgba8', 'bgra8'])
@pytest.mark.parametrize('pad', [0, 3], ids=['packed', 'padded'])
def test_color_encodings_decode_to_rgb(T, rgb, encoding, pad):
    msg = image_msg(T, encode_color(rgb, encoding), encoding, pad=pad)
    out = image_to_rgb(msg, '/c')
    assert out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, rgb)


def test_mono8_is_replicated_to_three_channels(T, rgb):
    out = image_to_rgb(image_msg(T, rgb[:, :, :1], 'mono8'), '/c')
    np.testing.assert_array_equal(out, np.repeat(rgb[:, :, :1], 3, axis=2))


def test_color_from_bytes_buffer(T, rgb):
    # rclpy hands data as array.array / bytes: any buffer works.
    msg = image_msg(T, rgb, 'rgb8')
    msg.data = bytes(msg.data)
    out = image_to_rgb(msg)
    np.testing.assert_array_equal(out, rgb)
    assert out.flags.writeable  # a copy, not a read-only view of the message


def test_color_does_not_alias_the_message(T, rgb):
    msg = image_msg(T, rgb, 'rgb8')
    assert not np.shares_memory(image_to_rgb(msg), msg.data)


@pytest.mark.parametrize('byteorder', ['<', '>'], ids=['little', 'big'])
@pytest.mark.parametrize('encoding', ['16UC1', 'mono16'])
def test_depth_millimetres_to_metres(T, byteorder, encoding):
    mm = np.array([[0, 1, 1000], [65535, 250, 4096]], dtype=f'{byteorder}u2')
    out = image_to_depth(image_msg(T, mm, encoding), '/d')
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, mm.astype(np.float64) / 1000, rtol=1e-6)


@pytest.mark.parametrize('byteorder', ['<', '>'], ids=['little', 'big'])
def test_depth_32fc1_keeps_nan_and_zeroes_negative(T, byteorder):
    m = np.array([[0.5, np.nan, -1.0], [np.inf, 0.0, 2.25]], dtype=f'{byteorder}f4')
    out = image_to_depth(image_msg(T, m, '32FC1', pad=4), '/d')
    expected = np.array([[0.5, np.nan, 0.0], [np.inf, 0.0, 2.25]], np.float32)
    np.testing.assert_array_equal(out, expected)


def test_camera_info_gives_K(T):
    np.testing.assert_array_equal(camera_info_to_K(info_msg(T)), K_640)


@pytest.mark.parametrize('K,match', [
    (np.zeros(9), r'camera_info on /i has focal lengths fx=0, fy=0; expected > 0'),
    ([600, 0, 320, 0, np.nan, 240, 0, 0, 1], r'camera_info on /i has NaN or inf in K'),
    ([600, 0, 320, 0, -600, 240, 0, 0, 1], r'fx=600, fy=-600'),
    ([600, 0, 320, 0, 600, 240, 0, 0, 0], r'expected 0 fy cy / 0 0 1'),
    (np.ones(4), r'camera_info on /i has 4 K values; expected 9'),
], ids=['zero', 'nan', 'negative', 'last_row', 'short'])
def test_camera_info_rejects_bad_intrinsics(T, K, match):
    msg = info_msg(T)
    msg.k = np.asarray(K, dtype=np.float64)
    with pytest.raises(MessageError, match=match) as err:
        camera_info_to_K(msg, '/i')
    assert err.value.reason == 'intrinsics' and err.value.topic == '/i'


@pytest.mark.parametrize('overrides,reason,match', [
    (dict(encoding='yuv422'), 'encoding',
     r"colour image on /c has encoding 'yuv422'; expected one of rgb8, bgr8"),
    (dict(encoding='16UC1'), 'encoding', r"encoding '16UC1'"),
    (dict(width=0), 'image_size', r'image on /c is 0x6; expected sides in 1..16384'),
    (dict(height=100000), 'image_size', r'is 5x100000'),
    (dict(is_bigendian=2), 'endianness', r'is_bigendian=2; expected 0 or 1'),
    (dict(step=14), 'step', r'\(rgb8, 5x6\) has step 14; expected >= 15 and a multiple of 1'),
    (dict(step=16), 'byte_length', r'has 90 bytes; expected step \* height = 96'),
    (dict(data=np.zeros(89, np.uint8)), 'byte_length', r'has 89 bytes; expected'),
    (dict(data=np.zeros(90, np.float32)), 'byte_length', r'must be uint8; got float32'),
    (dict(data=[1, 2, 3]), 'byte_length', r'is not a byte buffer; got list'),
], ids=['unknown', 'depth_encoding', 'zero_width', 'huge', 'endian', 'short_step',
        'long_step', 'truncated', 'float_data', 'list_data'])
def test_color_rejections_name_topic_and_reason(T, rgb, overrides, reason, match):
    msg = image_msg(T, rgb, 'rgb8', **overrides)
    with pytest.raises(MessageError, match=match) as err:
        image_to_rgb(msg, '/c')
    assert err.value.reason == reason and err.value.reason in REJECT_REASONS


def test_depth_step_must_be_multiple_of_pixel_size(T):
    msg = image_msg(T, np.zeros((2, 3), '<u2'), '16UC1', step=7, data=np.zeros(14, np.uint8))
    with pytest.raises(MessageError, match=r'has step 7; expected >= 6 and a multiple of 2'):
        image_to_depth(msg, '/d')


def test_depth_rejects_colour_encoding(T):
    with pytest.raises(MessageError, match=r"depth image on /d has encoding 'rgb8'; "
                       r'expected one of 16UC1, mono16, 32FC1'):
        image_to_depth(image_msg(T, np.zeros((2, 2, 3), np.uint8), 'rgb8'), '/d')


def _triple(T, width=8, height=6, depth_size=None, info_size=None):
    rgb = np.zeros((height, width, 3), np.uint8)
    dw, dh = depth_size or (width, height)
    iw, ih = info_size or (width, height)
    return (image_msg(T, rgb, 'rgb8'),
            image_msg(T, np.full((dh, dw), 800, '<u2'), '16UC1'),
            info_msg(T, width=iw, height=ih))


def test_msgs_to_frame(T):
    frame = msgs_to_frame(*_triple(T), TOPICS)
    assert frame.color.shape == (6, 8, 3) and frame.depth.shape == (6, 8)
    np.testing.assert_allclose(frame.depth, 0.8)
    np.testing.assert_array_equal(frame.K, K_640)
    assert frame.stamp_ns == STAMP_NS and frame.frame_id == FRAME_ID


def test_size_mismatch_message(T):
    with pytest.raises(MessageError, match=r'^depth 4x3 on /cam/depth does not match colour 8x6 '
                       r'on /cam/color; align depth to colour') as err:
        msgs_to_frame(*_triple(T, depth_size=(4, 3)), TOPICS)
    assert err.value.reason == 'size_mismatch'


def test_camera_info_size_mismatch(T):
    with pytest.raises(MessageError, match=r'camera_info 1280x720 on /cam/info does not match '
                       r'colour 8x6 on /cam/color') as err:
        msgs_to_frame(*_triple(T, info_size=(1280, 720)), TOPICS)
    assert err.value.reason == 'info_size'


def test_camera_info_without_size_is_accepted(T):
    assert msgs_to_frame(*_triple(T, info_size=(0, 0)), TOPICS).color.shape == (6, 8, 3)


def test_frame_id_falls_back_to_camera_info(T):
    color, depth, info = _triple(T)
    color.header.frame_id = ''
    assert msgs_to_frame(color, depth, info).frame_id == FRAME_ID
    info.header.frame_id = ''
    with pytest.raises(MessageError, match='have an empty frame_id') as err:
        msgs_to_frame(color, depth, info, TOPICS)
    assert err.value.reason == 'frame_id'


def test_bad_stamp_rejected(T):
    color, depth, info = _triple(T)
    color.header.stamp.nanosec = 1_000_000_000
    with pytest.raises(MessageError, match='expected sec >= 0') as err:
        msgs_to_frame(color, depth, info, TOPICS)
    assert err.value.reason == 'stamp'


def test_outgoing_images_round_trip_through_cdr(T, rng):
    header = make_header(T, STAMP_NS, FRAME_ID)
    rgb = rng.integers(0, 256, (4, 7, 3), dtype=np.uint8)
    depth = np.array([[0.0, 0.5, np.nan], [1.2345, -1.0, 65.0]], np.float32)
    msgs = [rgb_to_image(T, rgb, header), depth_to_image(T, depth, header, '16UC1'),
            depth_to_image(T, depth, header, '32FC1'),
            K_to_camera_info(T, K_640, 640, 480, header)]
    back = [T.typestore.deserialize_cdr(T.serialize(m), m.__msgtype__) for m in msgs]
    np.testing.assert_array_equal(image_to_rgb(back[0]), rgb)
    np.testing.assert_allclose(image_to_depth(back[1]),
                               np.array([[0, 0.5, 0], [1.234, 0, 65]], np.float32), rtol=1e-6)
    np.testing.assert_array_equal(image_to_depth(back[2]),
                                  np.array([[0, 0.5, np.nan], [1.2345, 0, 65]], np.float32))
    np.testing.assert_array_equal(camera_info_to_K(back[3]), K_640)
    assert back[0].header.stamp.sec == STAMP_NS // 10**9
    assert back[0].header.stamp.nanosec == STAMP_NS % 10**9


def test_depth_to_image_rejects_unknown_encoding(T):
    with pytest.raises(ValueError, match=r"encoding must be '16UC1' or '32FC1'; got 'mono8'"):
        depth_to_image(T, np.zeros((2, 2)), make_header(T, 0, 'f'), 'mono8')
