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

"""Corner order and edges of a box (plain constants: importing them loads no torch)."""

__all__ = ['BOX_CORNER_SIGNS', 'BOX_EDGES']

# Corner i of a box is BOX_CORNER_SIGNS[i] * extents / 2 in the object frame (NOCS order).
BOX_CORNER_SIGNS = ((1, 1, 1), (1, 1, -1), (-1, 1, 1), (-1, 1, -1),
                    (1, -1, 1), (1, -1, -1), (-1, -1, 1), (-1, -1, -1))
# The 12 edges as pairs of corner indices (for drawing).
BOX_EDGES = ((0, 1), (0, 2), (1, 3), (2, 3), (4, 5), (4, 6), (5, 7), (6, 7),
             (0, 4), (1, 5), (2, 6), (3, 7))
