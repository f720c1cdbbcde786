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

"""Import open3d after loading libusb, which its wheels need and Debian may lack."""

from __future__ import annotations

import ctypes
import functools
import logging

log = logging.getLogger(__name__)

__all__ = ['load_open3d']


@functools.lru_cache(maxsize=1)
def load_open3d():
    """Return the ``open3d`` module, loading ``libusb-1.0`` globally first if needed.

    Raises:
        ImportError: if open3d cannot be imported even with libusb loaded.
    """
    try:
        import libusb_package
    except ImportError:
        libusb_package = None
    if libusb_package is not None:
        path = libusb_package.get_library_path()
        if path is not None:
            ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
    try:
        import open3d
    except OSError as err:
        raise ImportError(f'open3d failed to load ({err}); install libusb-1.0-0 or the PyPI '
                          'package libusb-package') from err
    return open3d
