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

"""Install cleanpose_core (library + CLI) and cleanpose_ros (ROS 2 adapter)."""

from glob import glob

from setuptools import find_packages, setup

package_name = 'cleanpose_ros'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(include=['cleanpose_core', 'cleanpose_core.*',
                                    'cleanpose_ros', 'cleanpose_ros.*']),
    package_data={'cleanpose_core': ['weights/*.safetensors', 'weights/*.json',
                                     'weights/*.yaml']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*.py')),
        ('share/' + package_name + '/config', glob('config/*.yaml') + glob('config/*.rviz')),
        ('share/' + package_name + '/config/model', glob('config/model/*.yaml')),
        ('share/' + package_name + '/msg', glob('msg/*.msg')),
    ],
    install_requires=['setuptools', 'numpy', 'pyyaml', 'safetensors'],
    extras_require={'test': ['pytest', 'hypothesis', 'flake8', 'pydocstyle']},
    zip_safe=True,
    maintainer='cleanpose_ros maintainers',
    maintainer_email='cleanpose@example.com',
    description='Category-level 6D object pose (CleanPose) for ROS 2.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'cleanpose = cleanpose_core.cli:main',
            'cleanpose_bag = cleanpose_ros.bag:main',
            'pose_node = cleanpose_ros.node:main',
        ],
        'cleanpose.commands': [
            'make-bag = cleanpose_ros.make_bag',
        ],
    },
)
