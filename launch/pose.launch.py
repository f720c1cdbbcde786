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

"""Launch cleanpose_pose_node, optionally RViz and a rosbag2 to play instead of a camera.

    ros2 launch cleanpose_ros pose.launch.py
    ros2 launch cleanpose_ros pose.launch.py device:=cuda rviz:=true
    ros2 launch cleanpose_ros pose.launch.py bag:=/path/to/demo_bag rviz:=true

The topic defaults fit the RealSense ROS 2 wrapper with aligned depth
(``ros2 launch realsense2_camera rs_launch.py align_depth.enable:=true``). Everything
else is in the params file (config/pose.yaml).
"""

from __future__ import annotations

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = 'cleanpose_ros'


def _launch_setup(context: LaunchContext) -> list:
    """Build the actions from the resolved arguments (no eval, no subprocess)."""
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    bag = arg('bag')
    overrides = {'color_topic': arg('color_topic'), 'depth_topic': arg('depth_topic'),
                 'info_topic': arg('info_topic')}
    if arg('device'):
        overrides['device'] = arg('device')
    if bag:
        overrides['use_sim_time'] = True
    if arg('rviz') == 'true':
        overrides['publish_debug_image'] = True
    actions = [Node(package=PACKAGE, executable='pose_node', name='cleanpose_pose_node',
                    namespace=arg('namespace'), output='screen', emulate_tty=True,
                    parameters=[arg('params_file'), overrides])]
    if bag:
        actions.append(ExecuteProcess(cmd=['ros2', 'bag', 'play', bag, '--clock', '--loop'],
                                      output='screen'))
    if arg('rviz') == 'true':
        rviz_config = PathJoinSubstitution([FindPackageShare(PACKAGE), 'config',
                                            'cleanpose.rviz'])
        actions.append(Node(package='rviz2', executable='rviz2', name='rviz2',
                            arguments=['-d', rviz_config.perform(context)],
                            parameters=[{'use_sim_time': bool(bag)}], output='screen'))
    return actions


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments; the node, bag player and RViz come from _launch_setup."""
    default_params = PathJoinSubstitution([FindPackageShare(PACKAGE), 'config', 'pose.yaml'])
    return LaunchDescription([
        DeclareLaunchArgument(
            'namespace', default_value='cleanpose',
            description='namespace of the node and its output topics (detections, objects, '
                        'markers, debug_image)'),
        DeclareLaunchArgument(
            'params_file', default_value=default_params,
            description='ROS 2 parameters file of cleanpose_pose_node (see config/pose.yaml)'),
        DeclareLaunchArgument(
            'device', default_value='',
            description="inference device: auto, cpu, cuda or cuda:N; '' keeps the params "
                        "file's value"),
        DeclareLaunchArgument(
            'color_topic', default_value='/camera/camera/color/image_raw',
            description='colour image topic (rgb8, bgr8, rgba8, bgra8 or mono8)'),
        DeclareLaunchArgument(
            'depth_topic', default_value='/camera/camera/aligned_depth_to_color/image_raw',
            description='depth image aligned to colour (16UC1 mm or 32FC1 m); RealSense '
                        'needs align_depth.enable:=true'),
        DeclareLaunchArgument(
            'info_topic', default_value='/camera/camera/color/camera_info',
            description="the colour camera's camera_info topic"),
        DeclareLaunchArgument(
            'rviz', default_value='false', choices=['true', 'false'],
            description='start RViz with config/cleanpose.rviz (annotated image, markers, '
                        'TF); also turns publish_debug_image on'),
        DeclareLaunchArgument(
            'bag', default_value='',
            description='rosbag2 to play (looped, with --clock and use_sim_time) instead of '
                        "a live camera, e.g. from 'cleanpose make-bag'; '' = live camera"),
        OpaqueFunction(function=_launch_setup),
    ])
