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

"""The inference pipeline: RGB-D frame -> segmenter -> instances -> network -> tracker.

Names are imported lazily, so ``cleanpose_core.pipeline.results`` stays cheap to import
(no torch, no ultralytics) for code that only converts results.
"""

from __future__ import annotations

import importlib

__all__ = ['Frame', 'FrameResult', 'ObjectResult', 'PosePipeline', 'check_frame',
           'Tracker', 'Tracked', 'Detection2D', 'Segmentation', 'Segmenter',
           'YoloSegmenter', 'GtMaskSegmenter', 'save_segmenter', 'load_segmenter_model',
           'draw_result']

_WHERE = {
    'Frame': 'results', 'FrameResult': 'results', 'ObjectResult': 'results',
    'PosePipeline': 'pipeline', 'check_frame': 'pipeline',
    'Tracker': 'tracker', 'Tracked': 'tracker',
    'Detection2D': 'segmenter', 'Segmentation': 'segmenter', 'Segmenter': 'segmenter',
    'YoloSegmenter': 'segmenter', 'GtMaskSegmenter': 'segmenter',
    'save_segmenter': 'segmenter_weights', 'load_segmenter_model': 'segmenter_weights',
    'draw_result': 'draw',
}


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    return getattr(importlib.import_module(f'{__name__}.{_WHERE[name]}'), name)
