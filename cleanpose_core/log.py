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

"""Logging set-up for the command line; library modules only call getLogger."""

from __future__ import annotations

import logging
import sys

__all__ = ['setup_logging', 'progress']


def setup_logging(verbose: bool = False) -> None:
    """Send cleanpose log records to stderr, one line each.

    Args:
        verbose: log debug records too.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter('%(levelname).1s %(name)s: %(message)s'))
    root = logging.getLogger('cleanpose_core')
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    ros = logging.getLogger('cleanpose_ros')
    ros.handlers[:] = [handler]
    ros.setLevel(root.level)


def progress(iterable=None, **kwargs):
    """Wrap an iterable in a tqdm bar that is off when stderr is not a terminal."""
    from tqdm import tqdm

    kwargs.setdefault('disable', not sys.stderr.isatty())
    kwargs.setdefault('dynamic_ncols', True)
    return tqdm(iterable, **kwargs)
