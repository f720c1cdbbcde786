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

"""Image-space helpers for instance masks (numpy only: importing them loads no torch)."""

from __future__ import annotations

from typing import Optional

import numpy as np

__all__ = ['mask_box']


def mask_box(mask: np.ndarray) -> Optional[tuple[slice, slice]]:
    """Row and column slices of the smallest box holding every True pixel of mask.

    Args:
        mask: (H, W) bool.

    Returns:
        (rows, cols) slices, or None for an empty mask.
    """
    row_any = np.flatnonzero(mask.any(axis=1))
    if len(row_any) == 0:
        return None
    col_any = np.flatnonzero(mask.any(axis=0))
    rows = slice(int(row_any[0]), int(row_any[-1]) + 1)
    return rows, slice(int(col_any[0]), int(col_any[-1]) + 1)
