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

"""The rclpy node itself: runs where ROS 2 and the built messages exist, skips elsewhere.

Build and source the workspace first (colcon build; source install/setup.bash), then
``python -m pytest test/ros/test_node.py``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy', reason='rclpy needs a ROS 2 install (source '
                            '/opt/ros/<distro>/setup.bash)')
pytest.importorskip('cleanpose_ros.msg', reason='cleanpose_ros messages are not built (colcon '
                    'build, then source install/setup.bash)')

from rcl_interfaces.msg import ParameterType  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from ros_factories import save_tiny_net, save_tiny_segmenter  # noqa: E402

from cleanpose_ros.conversions import (depth_to_image, K_to_camera_info,  # noqa: E402
                                       make_header, rgb_to_image)
from cleanpose_ros.msg_types import rclpy_types  # noqa: E402
from cleanpose_ros.node import descriptor, PoseNode  # noqa: E402
from cleanpose_ros.params import param_spec  # noqa: E402

STAMP_NS = 1_700_000_000_500_000_000


def test_descriptors_carry_ranges_and_read_only():
    d = descriptor(param_spec('min_score'))
    assert d.type == ParameterType.PARAMETER_DOUBLE and not d.read_only
    assert (d.floating_point_range[0].from_value, d.floating_point_range[0].to_value) == (0, 1)
    d = descriptor(param_spec('segmenter_imgsz'))
    assert d.read_only and d.integer_range[0].step == 32
    assert descriptor(param_spec('device')).read_only


@pytest.fixture
def node(tmp_path):
    rclpy.init()
    weights = save_tiny_net(tmp_path / 'net.safetensors')
    segmenter = save_tiny_segmenter(tmp_path / 'seg.safetensors')
    overrides = [Parameter('weights', value=str(weights)),
                 Parameter('segmenter_weights', value=str(segmenter)),
                 Parameter('segmenter_imgsz', value=64), Parameter('device', value='cpu'),
                 Parameter('color_topic', value='/t/color'),
                 Parameter('depth_topic', value='/t/depth'),
                 Parameter('info_topic', value='/t/info')]
    pose_node = PoseNode(parameter_overrides=overrides)
    yield pose_node
    pose_node.destroy_node()
    rclpy.shutdown()


def _spin_until(executor, predicate, timeout_s=20.0):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and not predicate():
        executor.spin_once(timeout_sec=0.05)
    return predicate()


def _publish_triple(helper, pubs, T, K):
    header = make_header(T, STAMP_NS, 'camera_color_optical_frame')
    rgb = np.zeros((48, 64, 3), np.uint8)
    pubs[0].publish(rgb_to_image(T, rgb, header))
    pubs[1].publish(depth_to_image(T, np.full((48, 64), 0.8, np.float32), header))
    pubs[2].publish(K_to_camera_info(T, K, 64, 48, header))


def test_node_publishes_stamped_results_and_survives_bad_frames(node):
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data

    T = rclpy_types()
    helper = rclpy.create_node('cleanpose_test_helper')
    pubs = [helper.create_publisher(T.Image, '/t/color', qos_profile_sensor_data),
            helper.create_publisher(T.Image, '/t/depth', qos_profile_sensor_data),
            helper.create_publisher(T.CameraInfo, '/t/info', qos_profile_sensor_data)]
    received, diagnostics = [], []
    helper.create_subscription(T.ObjectPoseArray, '/objects', received.append, 10)
    helper.create_subscription(T.DiagnosticArray, '/diagnostics', diagnostics.append, 10)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(helper)
    K = np.array([[50.0, 0, 32], [0, 50.0, 24], [0, 0, 1]])
    assert _spin_until(executor, lambda: (_publish_triple(helper, pubs, T, K) or received))
    assert received[0].header.stamp.sec == STAMP_NS // 10**9
    assert received[0].header.frame_id == 'camera_color_optical_frame'
    # Zero intrinsics: rejected, counted, the node keeps running.
    _publish_triple(helper, pubs, T, np.zeros((3, 3)))
    assert _spin_until(executor, lambda: node.processor.stats.rejected['intrinsics'] > 0)
    assert _spin_until(executor, lambda: any(
        kv.key == 'rejected.intrinsics' for d in diagnostics for kv in d.status[0].values))
    helper.destroy_node()


def test_runtime_thresholds(node):
    assert node.set_parameters([Parameter('min_score', value=0.8)])[0].successful
    assert node.pipeline.cfg.min_score == 0.8
    bad = node.set_parameters([Parameter('min_score', value=1.5)])[0]
    assert not bad.successful
    fixed = node.set_parameters([Parameter('device', value='cuda')])[0]
    assert not fixed.successful and node.pipeline.cfg.device == 'cpu'
