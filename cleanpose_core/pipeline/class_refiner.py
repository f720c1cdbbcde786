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

"""Check the segmenter's category against the object's metric shape.

The segmenter sees colour only, and on novel instances it calls some mugs and bowls
cameras and some cans bottles. The depth of the mask knows better: a can is 10-15 cm
tall, a bottle twice that; a mug or bowl has a round footprint, a camera a
rectangular one. The class refiner is a small MLP over

- the segmenter's category (one-hot) and score,
- the shape of the masked points above the table plane: top, median and bottom
  heights, the sides of the smallest rectangle around the footprint, how much of
  that rectangle the footprint's convex hull fills (a disc fills ~0.79, a box 1),
  and the metric area of the mask, the distance and the number of points,

trained on the segmenter's own detections over frames it never trained on, each
labelled with the category of the ground-truth mask it overlaps (IoU >= 0.5) or 0
(distractor, background, nothing). At inference each detection takes the most
probable category of the six and the score ``segmenter score * (1 - p(none))``.

It is specific to the segmenter it was trained with: `pipeline.class_refiner` names
the file; '' = the shipped one, used only with the shipped segmenter; 'none' = off
(YAML reads a bare `off` as false, so the word is 'none'). The weights are
safetensors with the feature normalisation in the metadata; nothing is unpickled.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
import json
from pathlib import Path
from typing import Optional, Sequence

import cv2
import numpy as np
import torch
from torch import nn

from cleanpose_core.categories import NUM_CATEGORIES
from cleanpose_core.data.instances import main_depth_layer
from cleanpose_core.errors import WeightsError
from cleanpose_core.geometry.camera import backproject_mask
from cleanpose_core.geometry.plane import Plane, plane_basis

__all__ = ['ClassRefiner', 'detection_features', 'FEATURE_NAMES', 'load_class_refiner',
           'refine_frame', 'save_class_refiner', 'train_class_refiner']

_SHAPE_FEATURES = ('top_m', 'median_height_m', 'bottom_m', 'long_side_m', 'short_side_m',
                   'side_ratio', 'hull_fill', 'top_over_long', 'distance_m', 'log_points',
                   'mask_area_m2')
FEATURE_NAMES = _SHAPE_FEATURES + ('score',) + \
    tuple(f'is_{i}' for i in range(1, NUM_CATEGORIES + 1))
_MIN_POINTS = 20
_MAX_POINTS = 1500    # shape statistics on at most this many points (every k-th one)
_FORMAT = 'cleanpose-class-refiner-1'


def _shape(points: np.ndarray, plane: Plane, pixels: int, fx_fy: float) -> np.ndarray:
    count = len(points)
    points = points[::-(-count // _MAX_POINTS)]  # every k-th point: same statistics, faster
    h = plane.height(points)
    u, v = plane_basis(plane.normal)
    q = np.stack([points @ u, points @ v], axis=1)
    # Drop the 2 % of points farthest from the footprint's median (stray edge pixels).
    d = np.linalg.norm(q - np.median(q, axis=0), axis=1)
    q = q[d <= np.percentile(d, 98)]
    hull = cv2.convexHull(q.astype(np.float32))
    (_, _), (a, b), _ = cv2.minAreaRect(hull)     # the hull's rectangle is the points'
    long_side, short_side = max(a, b, 1e-4), max(min(a, b), 1e-4)
    fill = float(cv2.contourArea(hull)) / (long_side * short_side)
    top, median, bottom = np.percentile(h, [99, 50, 1])
    z = float(np.median(points[:, 2]))
    return np.array([top, median, bottom, long_side, short_side, short_side / long_side,
                     min(fill, 1.5), top / long_side, z, np.log(count),
                     pixels * z * z / fx_fy])


def detection_features(depth: np.ndarray, K: np.ndarray, mask: np.ndarray, plane: Plane,
                       category_id: int, score: float,
                       depth_gap: float = 0.0) -> Optional[np.ndarray]:
    """The refiner's input for one detection, or None when its mask has too few points.

    Args:
        depth: (H, W) metres; 0, NaN and inf invalid.
        K: (3, 3) intrinsics.
        mask: (H, W) bool instance mask.
        plane: the frame's table plane (normal toward the objects).
        category_id: the segmenter's category, 1..6.
        score: the segmenter's confidence.
        depth_gap: > 0: the statistics use the mask's main depth layer only
            (data.instances.main_depth_layer), as the pose network's input does.

    Returns:
        (len(FEATURE_NAMES),) float64.
    """
    points, _ = backproject_mask(depth, K, mask, dtype=np.float32)
    if depth_gap > 0.0 and len(points):
        points = points[main_depth_layer(points[:, 2], depth_gap, np.median(points[:, 2]))]
    if len(points) < _MIN_POINTS:
        return None
    onehot = np.zeros(NUM_CATEGORIES)
    onehot[int(category_id) - 1] = 1.0
    shape = _shape(points, plane, int(np.count_nonzero(mask)), float(K[0, 0] * K[1, 1]))
    return np.concatenate([shape, [float(score)], onehot])


class ClassRefiner(nn.Module):
    """MLP: normalised features -> logits over none + the six categories."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, hidden: int = 64) -> None:
        super().__init__()
        n = len(FEATURE_NAMES)
        self.register_buffer('mean', torch.as_tensor(np.asarray(mean, np.float32).reshape(n)))
        self.register_buffer('std', torch.as_tensor(np.asarray(std, np.float32).reshape(n)))
        self.net = nn.Sequential(nn.Linear(n, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                 nn.ReLU(), nn.Linear(hidden, NUM_CATEGORIES + 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(N, 7) logits for (N, F) raw features."""
        return self.net((features - self.mean) / self.std)

    @torch.no_grad()
    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """(N, 7) probabilities of none, bottle, ..., mug for (N, F) features."""
        x = torch.as_tensor(np.asarray(features, np.float32).reshape(-1, len(FEATURE_NAMES)))
        return torch.softmax(self(x), dim=1).numpy().astype(np.float64)

    def refine(self, detections: Sequence, features: Sequence[Optional[np.ndarray]]) -> list:
        """Relabel and rescore detections (those without features are kept as they are).

        Args:
            detections: Detection2D-like objects with category_id and score.
            features: detection_features of each, or None.

        Returns:
            The detections, each with its most probable category of the six and the
            score ``score * (1 - p(none))``.
        """
        rows = [i for i, f in enumerate(features) if f is not None]
        out = list(detections)
        if not rows:
            return out
        p = self.probabilities(np.stack([features[i] for i in rows]))
        for k, i in enumerate(rows):
            cat = int(np.argmax(p[k, 1:])) + 1
            out[i] = replace(out[i], category_id=cat,
                             score=float(out[i].score * (1.0 - p[k, 0])))
        return out


def refine_frame(refiner: ClassRefiner, depth: np.ndarray, K: np.ndarray, detections: list,
                 plane: Plane, depth_gap: float = 0.0) -> list:
    """Compute each detection's features on a frame and let the refiner relabel them.

    Args:
        refiner: the class refiner of the segmenter the detections came from.
        depth: (H, W) metres.
        K: (3, 3) intrinsics.
        detections: Detection2D-like objects with mask, category_id and score.
        plane: the frame's table plane.
        depth_gap: detection_features' setting (the pipeline's depth_gap: the shape
            statistics of the points the network gets).

    Returns:
        The relabelled, rescored detections (ClassRefiner.refine).
    """
    features = [detection_features(depth, K, d.mask, plane, d.category_id, d.score,
                                   depth_gap) for d in detections]
    return refiner.refine(detections, features)


def save_class_refiner(model: ClassRefiner, path: str | Path, info: Optional[dict] = None
                       ) -> None:
    """Write the refiner as safetensors (metadata: format, feature names, info)."""
    from safetensors.torch import save_file

    from cleanpose_core.fileio import atomic_path

    meta = {'format': _FORMAT, 'features': json.dumps(FEATURE_NAMES),
            'info': json.dumps(info or {})}
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)


def load_class_refiner(path: str | Path) -> ClassRefiner:
    """Read a refiner written by save_class_refiner.

    Raises:
        WeightsError: missing, not safetensors, another format or other features.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f'{path}: class refiner weights not found')
    try:
        with safe_open(str(path), framework='pt') as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as err:  # safetensors raises its own error types
        raise WeightsError(f'{path}: not a safetensors file ({err})') from None
    if meta.get('format') != _FORMAT:
        raise WeightsError(f'{path}: not a class refiner (format {meta.get("format")!r})')
    if json.loads(meta.get('features', '[]')) != list(FEATURE_NAMES):
        raise WeightsError(f'{path}: written for other features than this version computes')
    hidden = int(state['net.0.weight'].shape[0]) if 'net.0.weight' in state else 0
    model = ClassRefiner(np.zeros(len(FEATURE_NAMES)), np.ones(len(FEATURE_NAMES)), hidden)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise WeightsError(f'{path}: {err}') from None
    return model.eval()


@dataclass(frozen=True)
class TrainedRefiner:
    """A trained refiner and how it scored on its held-out part.

    Accuracies are over the held-out detections of real objects (label >= 1): the
    refiner's category (the most probable of the six) and the segmenter's.
    """

    model: ClassRefiner
    holdout_objects: int
    refiner_accuracy: float
    segmenter_accuracy: float


def train_class_refiner(features: np.ndarray, labels: np.ndarray, epochs: int = 60,
                        seed: int = 0, holdout: float = 0.1) -> TrainedRefiner:
    """Fit the MLP by Adam on cross-entropy (full batches of 512).

    Args:
        features: (N, F) detection_features.
        labels: (N,) 0 = none, 1..6 = the true category.
        epochs: passes over the data.
        seed: shuffling and initialisation.
        holdout: share of samples kept out of training to report accuracy on.

    Returns:
        TrainedRefiner.
    """
    features = np.asarray(features, np.float64)
    labels = np.asarray(labels, np.int64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    n_hold = int(round(holdout * len(labels)))
    hold, train = order[:n_hold], order[n_hold:]
    mean = features[train].mean(axis=0)
    std = features[train].std(axis=0) + 1e-6
    torch.manual_seed(seed)
    model = ClassRefiner(mean, std)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    x = torch.as_tensor(features[train], dtype=torch.float32)
    y = torch.as_tensor(labels[train])
    for _ in range(epochs):
        perm = torch.as_tensor(rng.permutation(len(train)))
        for start in range(0, len(train), 512):
            idx = perm[start:start + 512]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
    model.eval()
    objects = hold[labels[hold] >= 1]
    if len(objects) == 0:
        return TrainedRefiner(model, 0, float('nan'), float('nan'))
    ours = np.argmax(model.probabilities(features[objects])[:, 1:], axis=1) + 1
    seg = np.argmax(features[objects][:, -NUM_CATEGORIES:], axis=1) + 1
    return TrainedRefiner(model, len(objects), float((ours == labels[objects]).mean()),
                          float((seg == labels[objects]).mean()))
