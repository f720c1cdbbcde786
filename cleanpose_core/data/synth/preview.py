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

"""Contact sheet of written frames with their ground-truth 3D boxes and axes."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from cleanpose_core.categories import category_name
from cleanpose_core.data.nocs import FrameRecord, list_frames, read_frame
from cleanpose_core.draw import CATEGORY_COLORS, draw_pose
from cleanpose_core.errors import DataError
from cleanpose_core.fileio import atomic_write_bytes

log = logging.getLogger(__name__)

__all__ = ['draw_ground_truth', 'write_preview']


def draw_ground_truth(record: FrameRecord) -> np.ndarray:
    """Draw each labelled instance's 3D box, axes and category on the colour image.

    Returns:
        (H, W, 3) uint8 BGR image (ready for cv2.imencode).
    """
    img = np.ascontiguousarray(record.color, dtype=np.uint8).copy()
    for i in range(len(record.class_ids)):
        cid = int(record.class_ids[i])
        draw_pose(img, record.K, record.rotations[i], record.translations[i], record.scales[i],
                  record.sizes[i], CATEGORY_COLORS[(cid - 1) % len(CATEGORY_COLORS)],
                  category_name(cid), thickness=1)
    return np.ascontiguousarray(img[:, :, ::-1])


def write_preview(split_dir: str | Path, out_path: str | Path, max_frames: int = 12,
                  columns: int = 4, tile_width: int = 320) -> Path:
    """Write a contact sheet PNG of up to ``max_frames`` frames spread over the split.

    Raises:
        DataError: the split holds no complete frame.
    """
    frames = list_frames(split_dir)
    if not frames:
        raise DataError(f'{split_dir}: no complete frames to preview')
    pick = np.unique(np.linspace(0, len(frames) - 1, min(max_frames, len(frames))).astype(int))
    tiles = []
    for j in pick:
        scene, index = frames[j]
        img = draw_ground_truth(read_frame(split_dir, scene, index))
        h = int(round(img.shape[0] * tile_width / img.shape[1]))
        tile = cv2.resize(img, (tile_width, h), interpolation=cv2.INTER_AREA)
        cv2.putText(tile, f'{scene}/{index:04d}', (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    rows = [tiles[r:r + columns] for r in range(0, len(tiles), columns)]
    blank = np.zeros_like(tiles[0])
    sheet = np.vstack([np.hstack(row + [blank] * (columns - len(row))) for row in rows])
    ok, buf = cv2.imencode('.png', sheet, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise DataError(f'{out_path}: PNG encoding failed')
    atomic_write_bytes(out_path, buf.tobytes())
    log.info('preview of %d frames written to %s', len(tiles), out_path)
    return Path(out_path)
