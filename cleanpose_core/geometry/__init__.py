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

"""Rotations, cameras, boxes, alignment and symmetry; pure functions.

The names below load their module on first use (PEP 562), so that importing one
torch-free module of the package (box_layout, checks) does not import torch: the
synthetic-data workers start in a fraction of a second instead of ~3 s.
"""

import importlib
from typing import Any

_EXPORTS = {
    'umeyama': 'align',
    'BOX_CORNER_SIGNS': 'box_layout',
    'BOX_EDGES': 'box_layout',
    'box_corners': 'boxes',
    'box_iou_3d': 'boxes',
    'oriented_box_iou': 'boxes',
    'backproject_depth': 'camera',
    'backproject_mask': 'camera',
    'backproject_pixels': 'camera',
    'BackprojectedPixels': 'camera',
    'CAMERA_INTRINSICS': 'camera',
    'intrinsics_matrix': 'camera',
    'mask_box': 'masks',
    'project_points': 'camera',
    'REAL_INTRINSICS': 'camera',
    'check_shapes': 'checks',
    'best_y_turn': 'symmetry',
    'canonicalize_symmetric_rotation': 'symmetry',
    'is_symmetric': 'symmetry',
    'symmetric_rotation_error_deg': 'symmetry',
    'axis_angle_to_matrix': 'transforms',
    'compose_sim3': 'transforms',
    'invert_sim3': 'transforms',
    'matrix_to_axis_angle': 'transforms',
    'matrix_to_quaternion_xyzw': 'transforms',
    'matrix_to_rotation_6d': 'transforms',
    'matrix_to_sim3': 'transforms',
    'quaternion_xyzw_to_matrix': 'transforms',
    'random_rotations': 'transforms',
    'rotation_6d_to_matrix': 'transforms',
    'rotation_about_y': 'transforms',
    'rotation_angle_deg': 'transforms',
    'sim3_to_matrix': 'transforms',
    'Similarity': 'transforms',
    'transform_points': 'transforms',
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    value = getattr(importlib.import_module(f'{__name__}.{_EXPORTS[name]}'), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(_EXPORTS))
