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

"""Synthetic RGB-D data engine: procedural shapes, scenes, ray-cast rendering, sensor noise.

Importing this package does not import open3d; the renderer loads it on first use.
"""

from cleanpose_core.data.synth.command import (
    frame_to_record, render_frame, synthesize, SynthSpec)
from cleanpose_core.data.synth.noise import add_depth_noise, DepthNoise
from cleanpose_core.data.synth.render import REAL_K, RenderedFrame, SceneRenderer
from cleanpose_core.data.synth.scene import (
    camera_pose, make_scene, PlacedObject, SceneOptions, SceneSpec)
from cleanpose_core.data.synth.shapes import (
    Appearance, instance_seed_range, make_distractor, make_shape, ShapeInstance)

__all__ = ['Appearance', 'DepthNoise', 'PlacedObject', 'REAL_K', 'RenderedFrame',
           'SceneOptions', 'SceneRenderer', 'SceneSpec', 'ShapeInstance', 'SynthSpec',
           'add_depth_noise', 'camera_pose', 'frame_to_record', 'instance_seed_range',
           'make_distractor', 'make_scene', 'make_shape', 'render_frame', 'synthesize']
