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

"""The six object categories of the NOCS benchmark and their symmetry."""

from __future__ import annotations

__all__ = ['CATEGORIES', 'NUM_CATEGORIES', 'SYMMETRIC_CATEGORIES', 'category_id', 'category_name']

# NOCS class ids 1..6 index this tuple minus one; class id 0 is a distractor.
CATEGORIES = ('bottle', 'bowl', 'camera', 'can', 'laptop', 'mug')
NUM_CATEGORIES = len(CATEGORIES)
# Rotation about the canonical +Y axis leaves these unchanged (mugs only when the
# handle is not visible; see geometry.symmetry).
SYMMETRIC_CATEGORIES = frozenset({'bottle', 'bowl', 'can'})


def category_name(class_id: int) -> str:
    """Return the name of NOCS class id 1..6.

    Raises:
        ValueError: for an id outside 1..6.
    """
    if not 1 <= int(class_id) <= NUM_CATEGORIES:
        raise ValueError(f'class id must be in 1..{NUM_CATEGORIES} ({", ".join(CATEGORIES)}); '
                         f'got {class_id}')
    return CATEGORIES[int(class_id) - 1]


def category_id(name: str) -> int:
    """Return the NOCS class id 1..6 of a category name.

    Raises:
        ValueError: for an unknown name.
    """
    try:
        return CATEGORIES.index(name) + 1
    except ValueError:
        known = ', '.join(CATEGORIES)
        raise ValueError(f'unknown category {name!r}; expected one of {known}') from None
