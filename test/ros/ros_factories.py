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

"""Fixtures and factories shared by the ROS tests and bench/ros_conversions.py.

A plain module, not a conftest.py: a second conftest would shadow the top-level one
for ``from conftest import ...``. Test modules import the fixtures they use from here,
and the pipeline tests' tiny models (test/core/pipeline/pipeline_helpers.py) through it.
The fixtures are named T, result6 and rng (pytest's ``name=``), so a test's parameter
does not shadow the imported function.
"""

from __future__ import annotations

import importlib
from pathlib import Path
import sys
from typing import Any

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from cleanpose_core.pipeline.results import FrameResult
from cleanpose_ros.conversions import make_header
from cleanpose_ros.msg_types import MessageTypes, rosbags_types

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'core' / 'pipeline'))
_helpers = importlib.import_module('pipeline_helpers')
box_scene = _helpers.box_scene
save_tiny_net = _helpers.save_tiny_net
save_tiny_segmenter = _helpers.save_tiny_segmenter

__all__ = ['fixture_types', 'fixture_result6', 'fixture_rng', 'box_scene', 'save_tiny_net',
           'save_tiny_segmenter', 'encode_color', 'image_msg', 'info_msg', 'random_result',
           'K_640', 'STAMP_NS', 'FRAME_ID']

K_640 = np.array([[600.0, 0.0, 319.5], [0.0, 600.0, 239.5], [0.0, 0.0, 1.0]])
STAMP_NS = 1_700_000_000_250_000_000
FRAME_ID = 'camera_color_optical_frame'


def encode_color(rgb: np.ndarray, encoding: str) -> np.ndarray:
    """Return (H, W, C) uint8 pixels of an RGB image in a ROS colour encoding."""
    if encoding == 'rgb8':
        return rgb
    if encoding == 'bgr8':
        return rgb[:, :, ::-1]
    alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
    if encoding == 'rgba8':
        return np.concatenate([rgb, alpha], axis=2)
    if encoding == 'bgra8':
        return np.concatenate([rgb[:, :, ::-1], alpha], axis=2)
    if encoding == 'mono8':
        return rgb[:, :, :1]
    raise ValueError(encoding)


def image_msg(T: MessageTypes, pixels: np.ndarray, enc: str, pad: int = 0,
              stamp_ns: int = STAMP_NS, frame_id: str = FRAME_ID, **overrides: Any) -> Any:
    """Return a sensor_msgs/Image of (H, W[, C]) pixels, rows padded by ``pad`` bytes.

    Keyword overrides replace fields after encoding (to build malformed messages).
    """
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    row = pixels.reshape(height, -1).view(np.uint8)
    if pad:
        row = np.concatenate([row, np.zeros((height, pad), np.uint8)], axis=1)
    fields = dict(header=make_header(T, stamp_ns, frame_id), height=height, width=width,
                  encoding=enc, is_bigendian=int(pixels.dtype.byteorder == '>'),
                  step=row.shape[1], data=np.ascontiguousarray(row).reshape(-1))
    fields.update(overrides)
    return T.Image(**fields)


def info_msg(T: MessageTypes, K: np.ndarray = K_640, width: int = 640, height: int = 480,
             frame_id: str = FRAME_ID, stamp_ns: int = STAMP_NS) -> Any:
    """Return a sensor_msgs/CameraInfo with intrinsics K (any 9 values allowed)."""
    K = np.asarray(K, dtype=np.float64).reshape(-1)
    P = np.zeros(12)
    return T.CameraInfo(header=make_header(T, stamp_ns, frame_id), height=height, width=width,
                        distortion_model='plumb_bob', d=np.zeros(5), k=K, r=np.eye(3).ravel(),
                        p=P, binning_x=0, binning_y=0,
                        roi=T.RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0,
                                               do_rectify=False))


def random_result(n: int, seed: int = 0, track_ids: Any = None) -> FrameResult:
    """Return a FrameResult of n objects 0.5-1 m in front of the camera (category i % 6 + 1)."""
    rng = np.random.default_rng(seed)
    R = Rotation.random(n, random_state=seed).as_matrix() if n else np.zeros((0, 3, 3))
    t = np.stack([rng.uniform(-0.2, 0.2, n), rng.uniform(-0.1, 0.1, n),
                  rng.uniform(0.5, 1.0, n)], axis=1)
    sizes = rng.uniform(0.3, 0.7, (n, 3))
    sizes /= np.linalg.norm(sizes, axis=1, keepdims=True) if n else 1.0
    x1 = rng.uniform(0, 500, n)
    y1 = rng.uniform(0, 350, n)
    boxes = np.stack([x1, y1, x1 + 100, y1 + 100], axis=1)
    ids = np.arange(1, n + 1) if track_ids is None else np.asarray(track_ids)
    return FrameResult(category_ids=np.arange(n) % 6 + 1, scores=rng.uniform(0.3, 1.0, n),
                       R_cam_obj=R, t_cam_obj=t, scales=rng.uniform(0.1, 0.4, n), sizes=sizes,
                       boxes_xyxy=boxes, track_ids=ids.astype(np.int64),
                       timings_ms={'segment': 12.5, 'network': 30.0},
                       skipped={'too_few_points': 1} if n else {})


@pytest.fixture(scope='session', name='T')
def fixture_types() -> MessageTypes:
    """The rosbags message classes with vision_msgs and cleanpose_ros registered."""
    return rosbags_types()


@pytest.fixture(name='result6')
def fixture_result6() -> FrameResult:
    """Six objects, one per category, in front of the camera."""
    return random_result(6, seed=0)


@pytest.fixture(name='rng')
def fixture_rng() -> np.random.Generator:
    """A seeded numpy generator."""
    return np.random.default_rng(0)
