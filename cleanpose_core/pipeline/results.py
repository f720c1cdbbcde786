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

"""What the pipeline takes (Frame) and gives (FrameResult): numpy on the CPU."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cleanpose_core.categories import category_name

__all__ = ['Frame', 'FrameResult', 'ObjectResult']


@dataclass(frozen=True)
class Frame:
    """One aligned RGB-D frame.

    Attributes:
        color: (H, W, 3) uint8 RGB.
        depth: (H, W) float32 metres, aligned to colour; 0, NaN and inf are invalid.
        K: (3, 3) pinhole intrinsics of the colour camera.
        stamp_ns: capture time, nanoseconds.
        frame_id: camera optical frame name.
    """

    color: np.ndarray
    depth: np.ndarray
    K: np.ndarray
    stamp_ns: int = 0
    frame_id: str = ''


@dataclass(frozen=True)
class ObjectResult:
    """One object of a FrameResult (what indexing a FrameResult returns)."""

    category_id: int
    score: float
    R_cam_obj: np.ndarray
    t_cam_obj: np.ndarray
    scale: float
    size: np.ndarray
    box_xyxy: np.ndarray
    track_id: int

    @property
    def category(self) -> str:
        """The category name."""
        return category_name(self.category_id)

    @property
    def extents(self) -> np.ndarray:
        """(3,) metric box extents along the object axes, metres."""
        return self.scale * self.size


def _empty(*shape: int, dtype=np.float64) -> np.ndarray:
    return np.zeros((0, *shape), dtype=dtype)


@dataclass(frozen=True)
class FrameResult:
    """Poses of the B objects found in one frame, as parallel arrays.

    Attributes:
        category_ids: (B,) int64 NOCS class ids 1..6.
        scores: (B,) float in [0, 1]: the detection score times the pose's fit quality
            (pipeline.fit_score).
        R_cam_obj: (B, 3, 3) rotation, object -> camera optical frame.
        t_cam_obj: (B, 3) metres, camera optical frame (box centre).
        scales: (B,) metric bounding-box diagonal, metres.
        sizes: (B, 3) normalised extents (diagonal 1); metric extents = scales * sizes.
        boxes_xyxy: (B, 4) 2D box in the image, pixels.
        track_ids: (B,) int64 stable ids across frames.
        skipped: reason -> number of instances (or frames) dropped in this frame.
        timings_ms: stage -> milliseconds spent.
        masks: optional (B, H, W) bool instance masks.
    """

    category_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    scores: np.ndarray = field(default_factory=lambda: _empty())
    R_cam_obj: np.ndarray = field(default_factory=lambda: _empty(3, 3))
    t_cam_obj: np.ndarray = field(default_factory=lambda: _empty(3))
    scales: np.ndarray = field(default_factory=lambda: _empty())
    sizes: np.ndarray = field(default_factory=lambda: _empty(3))
    boxes_xyxy: np.ndarray = field(default_factory=lambda: _empty(4))
    track_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    skipped: dict = field(default_factory=dict)
    timings_ms: dict = field(default_factory=dict)
    masks: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.category_ids)
        expected = {'scores': (n,), 'R_cam_obj': (n, 3, 3), 't_cam_obj': (n, 3),
                    'scales': (n,), 'sizes': (n, 3), 'boxes_xyxy': (n, 4), 'track_ids': (n,)}
        for name, shape in expected.items():
            got = tuple(np.shape(getattr(self, name)))
            if got != shape:
                raise ValueError(f'FrameResult.{name} must have shape {shape} for {n} objects; '
                                 f'got {got}')

    def __len__(self) -> int:
        return len(self.category_ids)

    def __getitem__(self, i: int) -> ObjectResult:
        return ObjectResult(int(self.category_ids[i]), float(self.scores[i]),
                            self.R_cam_obj[i], self.t_cam_obj[i], float(self.scales[i]),
                            self.sizes[i], self.boxes_xyxy[i], int(self.track_ids[i]))

    def __iter__(self):
        return (self[i] for i in range(len(self)))
