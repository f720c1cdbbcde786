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

"""Shape checks that bind named dimensions across arguments."""

from __future__ import annotations

from typing import Any, Sequence, Union

__all__ = ['check_shapes']

Dim = Union[int, str]


def _shape_text(pattern: Sequence[Dim]) -> str:
    return '(' + ', '.join(str(d) for d in pattern) + ')'


def check_shapes(**arrays: tuple[Any, Sequence[Dim]]) -> dict[str, int]:
    """Check array shapes against patterns whose named dims must agree.

    Each keyword is name=(array, pattern); a pattern holds ints (fixed),
    strings (named dims, bound by the first argument that has them) and
    '...' as its first entry for any number of leading dims.

    Args:
        **arrays: name -> (array with .shape, pattern).

    Returns:
        The bound named dims, e.g. {'B': 4, 'N': 1024}.

    Raises:
        ValueError: naming the first argument whose shape does not fit.
    """
    bound: dict[str, int] = {}
    source: dict[str, str] = {}
    for name, (array, pattern) in arrays.items():
        shape = tuple(int(d) for d in array.shape)
        pattern = tuple(pattern)
        leading = bool(pattern) and pattern[0] == '...'
        tail = pattern[1:] if leading else pattern
        fits = len(shape) >= len(tail) if leading else len(shape) == len(tail)
        where = ''
        if fits:
            for dim, size in zip(tail, shape[len(shape) - len(tail):]):
                if isinstance(dim, int):
                    if dim != size:
                        fits = False
                elif dim in bound and bound[dim] != size:
                    fits = False
                    where = f' with {dim}={bound[dim]} (from {source[dim]})'
                if not fits:
                    break
                if isinstance(dim, str) and dim not in bound:
                    bound[dim] = size
                    source[dim] = name
        if not fits:
            raise ValueError(f'{name} must have shape {_shape_text(pattern)}{where}; '
                             f'got {shape}')
    return bound
