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


"""One frame of the NOCS layout in memory (FrameRecord), shared by reader and writer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from cleanpose_core.categories import NUM_CATEGORIES

__all__ = ['FrameRecord', 'mask_bboxes', 'BACKGROUND_ID']

# Mask value of pixels that belong to no instance.
BACKGROUND_ID = 255


@dataclass(frozen=True, repr=False)
class FrameRecord:
    """One RGB-D frame with its per-instance ground truth (n labelled instances).

    Attributes:
        color: (H, W, 3) uint8 RGB.
        depth: (H, W) float32 metres; 0 = invalid.
        mask: (H, W) uint8 instance id per pixel, 255 = background.
        K: (3, 3) float64 intrinsics of the colour camera (depth is aligned to colour).
        class_ids: (n,) int64 NOCS class ids 1..6 (distractors, class 0, are only in meta).
        instance_ids: (n,) int64 mask value of each instance.
        rotations: (n, 3, 3) float64 R_cam_obj, object -> camera.
        translations: (n, 3) float64 t_cam_obj, metres, camera frame.
        scales: (n,) float64 metric bounding-box diagonal, metres.
        sizes: (n, 3) float64 normalised extents (diagonal 1).
        coord: (H, W, 3) float32 canonical coordinates in [-0.5, 0.5] (z un-flipped),
            or None when the frame has no NOCS map.
        bboxes: (n, 4) int64 [y1, x1, y2, x2] (exclusive end); None = from the mask.
        handle_visibility: (n,) int64 1 = mug handle visible; None = all ones.
        model_list: (n,) model ids; None = from meta or ''.
        meta: ((inst_id, class_id, model_id), ...) lines of _meta.txt, distractors
            included; None = the labelled instances plus every other mask id as class 0.
        scene: scene folder name.
        index: frame number in the scene.
    """

    color: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    K: np.ndarray
    class_ids: np.ndarray
    instance_ids: np.ndarray
    rotations: np.ndarray
    translations: np.ndarray
    scales: np.ndarray
    sizes: np.ndarray
    coord: Optional[np.ndarray] = None
    bboxes: Optional[np.ndarray] = None
    handle_visibility: Optional[np.ndarray] = None
    model_list: Optional[Sequence[str]] = None
    meta: Optional[Sequence[tuple[int, int, str]]] = None
    scene: str = ''
    index: int = 0

    def __post_init__(self) -> None:
        color = np.asarray(self.color)
        if color.ndim != 3 or color.shape[2] != 3 or color.dtype != np.uint8:
            raise ValueError(f'color must be (H, W, 3) uint8; got {color.shape} {color.dtype}')
        hw = color.shape[:2]
        depth = np.asarray(self.depth, dtype=np.float32)
        if depth.shape != hw:
            raise ValueError(f'depth must be (H, W) = {hw} like color; got {depth.shape}')
        mask = np.asarray(self.mask)
        if mask.shape != hw or mask.dtype != np.uint8:
            raise ValueError(f'mask must be (H, W) = {hw} uint8; got {mask.shape} {mask.dtype}')
        K = np.asarray(self.K, dtype=np.float64)
        if K.shape != (3, 3):
            raise ValueError(f'K must have shape (3, 3); got {K.shape}')
        coord = self.coord
        if coord is not None:
            coord = np.asarray(coord, dtype=np.float32)
            if coord.shape != hw + (3,):
                raise ValueError(f'coord must be (H, W, 3) = {hw + (3,)}; got {coord.shape}')
        class_ids = np.asarray(self.class_ids, dtype=np.int64).reshape(-1)
        n = len(class_ids)
        fields = {
            'class_ids': class_ids,
            'instance_ids': np.asarray(self.instance_ids, dtype=np.int64).reshape(-1),
            'rotations': np.asarray(self.rotations, dtype=np.float64),
            'translations': np.asarray(self.translations, dtype=np.float64),
            'scales': np.asarray(self.scales, dtype=np.float64).reshape(-1),
            'sizes': np.asarray(self.sizes, dtype=np.float64),
        }
        if self.bboxes is not None:
            fields['bboxes'] = np.asarray(self.bboxes, dtype=np.int64)
        if self.handle_visibility is not None:
            fields['handle_visibility'] = np.asarray(self.handle_visibility,
                                                     dtype=np.int64).reshape(-1)
        expected = {'class_ids': (n,), 'instance_ids': (n,), 'rotations': (n, 3, 3),
                    'translations': (n, 3), 'scales': (n,), 'sizes': (n, 3),
                    'bboxes': (n, 4), 'handle_visibility': (n,)}
        for name, value in fields.items():
            if value.size == 0 and n == 0:
                value = value.reshape(expected[name])
                fields[name] = value
            if value.shape != expected[name]:
                raise ValueError(f'{name} must have shape {expected[name]} for {n} instances; '
                                 f'got {value.shape}')
        if n and (class_ids.min() < 1 or class_ids.max() > NUM_CATEGORIES):
            raise ValueError(f'class_ids must be in 1..{NUM_CATEGORIES}; got '
                             f'{sorted(set(class_ids.tolist()))} (distractors go in meta only)')
        inst = fields['instance_ids']
        if n and (len(set(inst.tolist())) != n or inst.min() < 0 or inst.max() > 254):
            raise ValueError('instance_ids must be distinct values in 0..254; got '
                             f'{inst.tolist()}')
        if 'bboxes' not in fields:
            fields['bboxes'] = mask_bboxes(mask, inst)
        if 'handle_visibility' not in fields:
            fields['handle_visibility'] = np.ones(n, dtype=np.int64)
        meta = self.meta
        model_list = self.model_list
        if model_list is None:
            by_id = {m[0]: m[2] for m in meta} if meta is not None else {}
            model_list = [by_id.get(int(i), '') for i in inst]
        model_list = tuple(str(m) for m in model_list)
        if len(model_list) != n:
            raise ValueError(f'model_list must have {n} entries; got {len(model_list)}')
        if meta is None:
            meta = [(int(i), int(c), m) for i, c, m in zip(inst, class_ids, model_list)]
            labelled = set(inst.tolist())
            for value in np.unique(mask).tolist():
                if value != BACKGROUND_ID and value not in labelled:
                    meta.append((int(value), 0, 'distractor'))
            meta.sort()
        meta = tuple((int(i), int(c), str(m)) for i, c, m in meta)
        for name, value in dict(color=color, depth=depth, mask=mask, K=K, coord=coord,
                                model_list=model_list, meta=meta, index=int(self.index),
                                scene=str(self.scene), **fields).items():
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return int(len(self.class_ids))

    def __repr__(self) -> str:
        return (f'FrameRecord({self.frame_id!r}, {self.width}x{self.height}, '
                f'class_ids={self.class_ids.tolist()}, coord={self.coord is not None})')

    @property
    def height(self) -> int:
        """Image height H, pixels."""
        return int(self.color.shape[0])

    @property
    def width(self) -> int:
        """Image width W, pixels."""
        return int(self.color.shape[1])

    def instance_mask(self, i: int) -> np.ndarray:
        """Return the (H, W) bool mask of labelled instance i."""
        return self.mask == self.instance_ids[i]

    @property
    def frame_id(self) -> str:
        """Return 'scene/NNNN'."""
        return f'{self.scene}/{self.index:04d}'


def mask_bboxes(mask: np.ndarray, instance_ids: np.ndarray) -> np.ndarray:
    """Return (n, 4) int64 [y1, x1, y2, x2] boxes (end exclusive) of mask ids; zeros if empty."""
    out = np.zeros((len(instance_ids), 4), dtype=np.int64)
    for k, inst in enumerate(instance_ids):
        rows, cols = np.nonzero(mask == inst)
        if len(rows):
            out[k] = (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1)
    return out
