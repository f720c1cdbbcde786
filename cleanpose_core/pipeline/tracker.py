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

"""Associate per-frame poses across frames: stable track ids and optional smoothing.

Detections of one frame are matched to live tracks by the distance between their
3D centres (gated) and the overlap of their 2D boxes, with the Hungarian algorithm.
A track survives ``max_missed`` frames without a match (short occlusions keep their
id); each track predicts its centre with a damped constant-velocity model, so two
objects that pass each other at different positions keep their ids.

Categories are voted: a segmenter that calls a mug a camera in one frame must not
rename the object (a grasp planner would see its frame vanish and another appear).
A detection of another category may continue a track when their image boxes overlap
by at least ``relabel_iou`` (at a higher cost than a same-category match, so
neighbours of different categories do not swap). Each track sums its detections'
scores per category, the sums decaying by ``vote_decay`` per matched frame, and
reports the category with the largest sum: a one-frame flicker changes nothing, a
lasting relabel takes over after a few frames. A detection outvoted by its track
updates only the track's position; the rotation and size stay those of the voted
category (the network's pose of a mug run as a camera is meaningless).

Smoothing blends the past into the present with weight ``smoothing``:
``x = smoothing * x_track + (1 - smoothing) * x_new`` for t, scale and size;
the rotation is slerped the same way, after turning the track's rotation about
+Y to the nearest equivalent one for the symmetric categories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.transform import Rotation

from cleanpose_core.categories import CATEGORIES, SYMMETRIC_CATEGORIES
from cleanpose_core.geometry.checks import check_shapes

__all__ = ['Tracker', 'Tracked', 'box_iou_2d', 'align_symmetric_rotation']

_SYMMETRIC_IDS = frozenset(CATEGORIES.index(c) + 1 for c in SYMMETRIC_CATEGORIES)
_INFEASIBLE = 1e6


@dataclass(frozen=True)
class Tracked:
    """Tracker output for the B detections of one frame, in input order.

    Attributes:
        track_ids: (B,) int64 stable ids (>= 1).
        category_ids: (B,) int64 voted category of each detection's track.
        R_cam_obj: (B, 3, 3) rotation, object -> camera (smoothed when enabled).
        t_cam_obj: (B, 3) metres, camera frame (smoothed when enabled).
        scales: (B,) metres (smoothed when enabled).
        sizes: (B, 3) normalised extents (smoothed when enabled).
    """

    track_ids: np.ndarray
    category_ids: np.ndarray
    R_cam_obj: np.ndarray
    t_cam_obj: np.ndarray
    scales: np.ndarray
    sizes: np.ndarray


@dataclass
class _Track:
    track_id: int
    votes: dict               # category id -> decayed sum of detection scores
    R: np.ndarray
    t: np.ndarray
    scale: float
    size: np.ndarray
    box: np.ndarray
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))
    missed: int = 0
    hits: int = 1

    def predicted_t(self) -> np.ndarray:
        return self.t + self.velocity * (self.missed + 1)

    @property
    def category_id(self) -> int:
        return max(self.votes, key=lambda c: (self.votes[c], -c))


def box_iou_2d(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of axis-aligned image boxes.

    Args:
        boxes_a: (A, 4) x1, y1, x2, y2 pixels.
        boxes_b: (B, 4) x1, y1, x2, y2 pixels.

    Returns:
        (A, B) IoU in [0, 1].
    """
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def align_symmetric_rotation(R_ref: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Turn R about its object +Y axis to the equivalent rotation nearest R_ref.

    Maximises trace(R_ref^T R Ry(theta)) in closed form.

    Args:
        R_ref: (3, 3) reference rotation, object -> camera.
        R: (3, 3) rotation of an object symmetric about its +Y axis.

    Returns:
        (3, 3) R @ Ry(theta), the member of R's symmetry class nearest R_ref.
    """
    M = R_ref.T @ R
    theta = np.arctan2(M[2, 0] - M[0, 2], M[0, 0] + M[2, 2])
    c, s = np.cos(theta), np.sin(theta)
    Ry = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return R @ Ry


def _blend_rotation(R_new: np.ndarray, R_old: np.ndarray, weight_old: float) -> np.ndarray:
    """Slerp from R_new toward R_old by weight_old."""
    r_new = Rotation.from_matrix(R_new)
    delta = r_new.inv() * Rotation.from_matrix(R_old)
    return (r_new * delta ** weight_old).as_matrix()


class Tracker:
    """Give each physical object a stable id over a sequence of frames.

    Args:
        max_distance_m: gate on the distance between a track's predicted centre and a
            detection's centre, metres; also at least half the object's diagonal.
        max_missed: frames a track lives on without a match before it is dropped.
        smoothing: weight of the past in [0, 1); 0 = report the raw detections.
        iou_weight: weight of (1 - 2D box IoU) in the matching cost, next to distance
            divided by the gate.
        velocity_damping: weight of the new velocity estimate in [0, 1]; 0 = no motion
            model.
        relabel_iou: smallest 2D box IoU at which a detection of another category
            continues a track, in (0, 1]; None = categories never mix.
        vote_decay: factor in [0, 1) applied to a track's category votes at each
            matched frame before the detection's score is added.
    """

    def __init__(self, max_distance_m: float = 0.15, max_missed: int = 5,
                 smoothing: float = 0.0, iou_weight: float = 0.3,
                 velocity_damping: float = 0.5, relabel_iou: Optional[float] = 0.5,
                 vote_decay: float = 0.8) -> None:
        if max_distance_m <= 0:
            raise ValueError(f'max_distance_m must be > 0; got {max_distance_m}')
        if max_missed < 0:
            raise ValueError(f'max_missed must be >= 0; got {max_missed}')
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f'smoothing must be in [0, 1); got {smoothing}')
        if not 0.0 <= velocity_damping <= 1.0:
            raise ValueError(f'velocity_damping must be in [0, 1]; got {velocity_damping}')
        if relabel_iou is not None and not 0.0 < relabel_iou <= 1.0:
            raise ValueError(f'relabel_iou must be in (0, 1] or None; got {relabel_iou}')
        if not 0.0 <= vote_decay < 1.0:
            raise ValueError(f'vote_decay must be in [0, 1); got {vote_decay}')
        self.max_distance_m = float(max_distance_m)
        self.max_missed = int(max_missed)
        self.smoothing = float(smoothing)
        self.iou_weight = float(iou_weight)
        self.velocity_damping = float(velocity_damping)
        self.relabel_iou = None if relabel_iou is None else float(relabel_iou)
        self.vote_decay = float(vote_decay)
        self._tracks: list[_Track] = []
        self._next_id = 1

    def reset(self) -> None:
        """Forget every track; ids start again at 1."""
        self._tracks = []
        self._next_id = 1

    @property
    def live_track_ids(self) -> list[int]:
        """Ids of the tracks still alive (matched now or missed for a few frames)."""
        return [tr.track_id for tr in self._tracks]

    def _costs(self, category_ids: np.ndarray, t: np.ndarray, scales: np.ndarray,
               boxes: np.ndarray) -> np.ndarray:
        n_tr, n_det = len(self._tracks), len(category_ids)
        cost = np.full((n_tr, n_det), _INFEASIBLE)
        if n_tr == 0 or n_det == 0:
            return cost
        pred = np.stack([tr.predicted_t() for tr in self._tracks])
        dist = np.linalg.norm(pred[:, None, :] - t[None, :, :], axis=-1)
        tr_scale = np.array([tr.scale for tr in self._tracks])
        larger_scale = np.maximum(tr_scale[:, None], scales[None, :])
        gate = np.maximum(self.max_distance_m, 0.5 * larger_scale)
        iou = box_iou_2d(np.stack([tr.box for tr in self._tracks]), boxes)
        same = np.array([tr.category_id for tr in self._tracks])[:, None] == category_ids[None]
        near = dist <= gate
        cost[same & near] = (dist / gate + self.iou_weight * (1.0 - iou))[same & near]
        if self.relabel_iou is not None:
            # Another category: only where the boxes overlap, and after every
            # same-category pairing (the matching cost of one is at most 1 + iou_weight).
            other = ~same & near & (iou >= self.relabel_iou)
            cost[other] = (1.0 + self.iou_weight + dist / gate + (1.0 - iou))[other]
        return cost

    def update(self, category_ids: np.ndarray, R_cam_obj: np.ndarray, t_cam_obj: np.ndarray,
               scales: np.ndarray, sizes: np.ndarray, boxes_xyxy: np.ndarray,
               scores: Optional[np.ndarray] = None) -> Tracked:
        """Match one frame's detections to the tracks and advance them.

        Args:
            category_ids: (B,) int NOCS class ids 1..6.
            R_cam_obj: (B, 3, 3) rotation, object -> camera.
            t_cam_obj: (B, 3) metres, camera frame.
            scales: (B,) metric diagonal, metres.
            sizes: (B, 3) normalised extents.
            boxes_xyxy: (B, 4) image boxes, pixels.
            scores: (B,) detection confidences, the weight of each category vote;
                None = 1 each.

        Returns:
            Tracked, parallel to the inputs.

        Raises:
            ValueError: if the shapes disagree.
        """
        category_ids = np.asarray(category_ids, dtype=np.int64).reshape(-1)
        R = np.asarray(R_cam_obj, dtype=np.float64).reshape(-1, 3, 3)
        t = np.asarray(t_cam_obj, dtype=np.float64).reshape(-1, 3)
        scales = np.asarray(scales, dtype=np.float64).reshape(-1)
        sizes = np.asarray(sizes, dtype=np.float64).reshape(-1, 3)
        boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        scores = np.ones(len(category_ids)) if scores is None else \
            np.asarray(scores, dtype=np.float64).reshape(-1)
        check_shapes(category_ids=(category_ids, ('B',)), R_cam_obj=(R, ('B', 3, 3)),
                     t_cam_obj=(t, ('B', 3)), scales=(scales, ('B',)),
                     sizes=(sizes, ('B', 3)), boxes_xyxy=(boxes, ('B', 4)),
                     scores=(scores, ('B',)))
        n_det = len(category_ids)
        cost = self._costs(category_ids, t, scales, boxes)
        det_to_track: dict[int, int] = {}
        if cost.size:
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols):
                if cost[r, c] < _INFEASIBLE:
                    det_to_track[int(c)] = int(r)

        ids = np.zeros(n_det, np.int64)
        out_cats = category_ids.copy()
        out_R, out_t = R.copy(), t.copy()
        out_scales, out_sizes = scales.copy(), sizes.copy()
        matched_tracks = set(det_to_track.values())
        for j in range(n_det):
            if j in det_to_track:
                tr = self._tracks[det_to_track[j]]
                self._advance(tr, j, category_ids, R, t, scales, sizes, boxes, scores)
            else:
                tr = _Track(self._next_id, {int(category_ids[j]): float(scores[j])},
                            R[j].copy(), t[j].copy(), float(scales[j]), sizes[j].copy(),
                            boxes[j].copy())
                self._next_id += 1
                self._tracks.append(tr)
                matched_tracks.add(len(self._tracks) - 1)
            ids[j] = tr.track_id
            out_cats[j] = tr.category_id
            out_R[j], out_t[j], out_scales[j], out_sizes[j] = tr.R, tr.t, tr.scale, tr.size

        survivors = []
        for i, tr in enumerate(self._tracks):
            if i not in matched_tracks:
                tr.missed += 1
            if tr.missed <= self.max_missed:
                survivors.append(tr)
        self._tracks = survivors
        return Tracked(ids, out_cats, out_R, out_t, out_scales, out_sizes)

    def _advance(self, tr: _Track, j: int, category_ids: np.ndarray, R: np.ndarray,
                 t: np.ndarray, scales: np.ndarray, sizes: np.ndarray,
                 boxes: np.ndarray, scores: np.ndarray) -> None:
        """Fold detection j into track tr (votes, velocity, smoothing, bookkeeping)."""
        before = tr.category_id
        cat = int(category_ids[j])
        tr.votes = {c: self.vote_decay * v for c, v in tr.votes.items()}
        tr.votes[cat] = tr.votes.get(cat, 0.0) + float(scores[j])
        voted = tr.category_id
        steps = tr.missed + 1
        v_new = (t[j] - tr.t) / steps
        d = self.velocity_damping
        tr.velocity = d * v_new + (1.0 - d) * tr.velocity if tr.hits > 1 else d * v_new
        a = self.smoothing
        if cat != voted:  # outvoted: only the position is this detection's
            tr.t = a * tr.t + (1.0 - a) * t[j]
        elif a > 0.0 and voted == before:
            R_old = tr.R
            if int(category_ids[j]) in _SYMMETRIC_IDS:
                R_old = align_symmetric_rotation(R[j], R_old)
            tr.R = _blend_rotation(R[j], R_old, a)
            tr.t = a * tr.t + (1.0 - a) * t[j]
            tr.scale = a * tr.scale + (1.0 - a) * float(scales[j])
            tr.size = a * tr.size + (1.0 - a) * sizes[j]
        else:
            tr.R, tr.t = R[j].copy(), t[j].copy()
            tr.scale, tr.size = float(scales[j]), sizes[j].copy()
        tr.box = boxes[j].copy()
        tr.missed = 0
        tr.hits += 1
