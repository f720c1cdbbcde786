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

"""Tiny, untrained models for the pipeline tests: they test plumbing, not accuracy.

A plain module (not a conftest.py: a second conftest would shadow the top-level one
for `from conftest import ...`); each test module wraps these in its own fixtures.
"""

from __future__ import annotations

import torch

from cleanpose_core.categories import CATEGORIES
from cleanpose_core.pipeline.segmenter_weights import prepare_ultralytics, save_segmenter


def build_tiny_yolo(names):
    """An untrained yolo11n-seg with the given class names (seeded)."""
    prepare_ultralytics()
    from ultralytics.nn.tasks import SegmentationModel

    torch.manual_seed(0)
    net = SegmentationModel('yolo11n-seg.yaml', nc=len(names), verbose=False)
    net.names = dict(enumerate(names))
    return net


def save_tiny_segmenter(path, names=CATEGORIES):
    """Write an untrained yolo11n-seg with these class names in our safetensors format."""
    return save_segmenter(path, build_tiny_yolo(names), {'imgsz': 64})


def save_tiny_net(path, seed=0):
    """Write a tiny, randomly initialised CleanPoseNet with NET's save_weights."""
    from cleanpose_core.config import ModelConfig
    from cleanpose_core.model.network import CleanPoseNet
    from cleanpose_core.model.weights import save_weights

    torch.manual_seed(seed)
    cfg = ModelConfig(num_points=64, crop_size=32, num_keypoints=8, dim=32, knn=8,
                      dict_size=16, dict_sample=4, nocs_bins=8, teacher_dim=32)
    return save_weights(path, CleanPoseNet(cfg))


def box_scene(n_objects=3, height=120, width=160, seed=0):
    """A frame of n box-shaped objects in front of a wall, with their instance masks.

    Returns:
        (Frame, Segmentation): depth 1.5 m on the wall, 0.8-1.0 m on the objects; the
        segmentation holds the exact masks with class ids 1, 2, ... and score 0.9.
    """
    import numpy as np

    from cleanpose_core.pipeline.results import Frame
    from cleanpose_core.pipeline.segmenter import Detection2D, Segmentation

    rng = np.random.default_rng(seed)
    color = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    depth = np.full((height, width), 1.5, np.float32)
    K = np.array([[150.0, 0.0, width / 2], [0.0, 150.0, height / 2], [0.0, 0.0, 1.0]])
    detections = []
    cell = width // max(n_objects, 1)
    for i in range(n_objects):
        x0, y0 = i * cell + 4, height // 3
        x1, y1 = x0 + cell - 8, y0 + height // 3
        mask = np.zeros((height, width), bool)
        mask[y0:y1, x0:x1] = True
        depth[mask] = 0.8 + 0.05 * i + rng.uniform(0.0, 0.01, int(mask.sum()))
        detections.append(Detection2D(mask, i % 6 + 1, 0.9,
                                      np.array([x0, y0, x1, y1], np.float64)))
    return Frame(color, depth, K, stamp_ns=1, frame_id='cam'), Segmentation(tuple(detections))


def box_record(n_objects=3, height=120, width=160, seed=0, scene='00000', index=0):
    """The box_scene frame as a data.nocs.FrameRecord (for writers and evaluation)."""
    import numpy as np

    from cleanpose_core.data.nocs import FrameRecord

    frame, seg = box_scene(n_objects, height, width, seed)
    mask = np.full((height, width), 255, np.uint8)
    translations = []
    for k, det in enumerate(seg.detections):
        mask[det.mask] = k + 1
        x0, y0, x1, y1 = det.box_xyxy
        z = float(np.median(frame.depth[det.mask]))
        u, v = (x0 + x1) / 2, (y0 + y1) / 2
        translations.append([(u - frame.K[0, 2]) * z / frame.K[0, 0],
                             (v - frame.K[1, 2]) * z / frame.K[1, 1], z + 0.05])
    n = len(seg.detections)
    return FrameRecord(color=frame.color, depth=frame.depth, mask=mask, K=frame.K,
                       class_ids=np.array([d.category_id for d in seg.detections]),
                       instance_ids=np.arange(1, n + 1), rotations=np.tile(np.eye(3), (n, 1, 1)),
                       translations=np.array(translations).reshape(n, 3),
                       scales=np.full(n, 0.2), sizes=np.tile([0.5, 0.7, 0.5], (n, 1)),
                       scene=scene, index=index)


def write_box_split(root, split, frames=2, n_objects=3, height=120, width=160):
    """Write a NOCS-layout split of box scenes with IO's writer; return the split dir."""
    from pathlib import Path

    from cleanpose_core.data.writer import write_camera_json, write_frame

    split_dir = Path(root) / split
    for i in range(frames):
        record = box_record(n_objects, height, width, seed=i, index=i)
        write_frame(split_dir, '00000', i, record)
    write_camera_json(split_dir, record.K, width, height)
    return split_dir
