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

"""Exceptions raised for bad configs, data files and weights."""

from __future__ import annotations

__all__ = ['CleanPoseError', 'ConfigError', 'DataError', 'WeightsError']


class CleanPoseError(Exception):
    """Base class of every error cleanpose raises on purpose."""


class ConfigError(CleanPoseError):
    """A config file, override or parameter is invalid."""


class DataError(CleanPoseError):
    """A data file is missing, truncated or inconsistent."""


class WeightsError(CleanPoseError):
    """A weights file is corrupt or does not match the code."""
