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

"""Rotations, cameras, boxes, alignment and symmetry; pure functions."""

from cleanpose_core.geometry.align import umeyama
from cleanpose_core.geometry.boxes import (BOX_CORNER_SIGNS, box_corners, BOX_EDGES, box_iou_3d,
                                           oriented_box_iou)
from cleanpose_core.geometry.camera import (backproject_depth, backproject_pixels,
                                            BackprojectedPixels, CAMERA_INTRINSICS,
                                            intrinsics_matrix, mask_box, project_points,
                                            REAL_INTRINSICS)
from cleanpose_core.geometry.checks import check_shapes
from cleanpose_core.geometry.symmetry import (best_y_turn, canonicalize_symmetric_rotation,
                                              is_symmetric, symmetric_rotation_error_deg)
from cleanpose_core.geometry.transforms import (axis_angle_to_matrix, compose_sim3, invert_sim3,
                                                matrix_to_axis_angle, matrix_to_quaternion_xyzw,
                                                matrix_to_rotation_6d, matrix_to_sim3,
                                                quaternion_xyzw_to_matrix, random_rotations,
                                                rotation_6d_to_matrix, rotation_about_y,
                                                rotation_angle_deg, sim3_to_matrix, Similarity,
                                                transform_points)

__all__ = [
    'BOX_CORNER_SIGNS', 'BOX_EDGES', 'BackprojectedPixels', 'CAMERA_INTRINSICS',
    'REAL_INTRINSICS', 'Similarity', 'axis_angle_to_matrix', 'backproject_depth',
    'backproject_pixels', 'best_y_turn', 'box_corners', 'box_iou_3d',
    'canonicalize_symmetric_rotation', 'check_shapes', 'compose_sim3', 'intrinsics_matrix',
    'invert_sim3', 'is_symmetric', 'mask_box', 'matrix_to_axis_angle',
    'matrix_to_quaternion_xyzw', 'matrix_to_rotation_6d', 'matrix_to_sim3', 'oriented_box_iou',
    'project_points',
    'quaternion_xyzw_to_matrix', 'random_rotations', 'rotation_6d_to_matrix',
    'rotation_about_y', 'rotation_angle_deg', 'sim3_to_matrix', 'symmetric_rotation_error_deg',
    'transform_points', 'umeyama',
]
