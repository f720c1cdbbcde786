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

"""Export NOCS-layout splits as an ultralytics YOLO segmentation dataset.

Writes ``OUT/images/<split>/<scene>_<NNNN>.png`` (hard links where OUT is on the same
file system as the data, copies otherwise), ``OUT/labels/<split>/<scene>_<NNNN>.txt``
with one line ``class x1 y1 x2 y2 ...`` (normalised polygon) per labelled instance,
class = NOCS class id - 1 (distractors are not labelled), and ``OUT/data.yaml``
(the first split is 'train', the second 'val' (the first again when there is only
one), a third 'test').

Example:
  cleanpose export-yolo --data data/synth --out data/yolo --splits train test
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
import shutil
import sys
from typing import Sequence, Union

import cv2
import numpy as np
import yaml

from cleanpose_core.categories import CATEGORIES, NUM_CATEGORIES
from cleanpose_core.data.nocs import frame_path, list_frames, read_label, read_mask
from cleanpose_core.errors import DataError
from cleanpose_core.fileio import atomic_path, atomic_write_bytes
from cleanpose_core.log import progress

__all__ = ['export_yolo', 'mask_to_polygon', 'add_arguments', 'run']

log = logging.getLogger(__name__)


def _bridge(segments: list[np.ndarray]) -> np.ndarray:
    """Join closed contours into one polygon through zero-width bridges.

    Segments are chained greedily (each to the nearest remaining one); the walk
    enters a segment at the point nearest the previous one, goes round it, detours
    into the rest of the chain at the point nearest the next one and comes back.
    """
    order = [int(np.argmax([cv2.contourArea(s.astype(np.float32)) for s in segments]))]
    left = [k for k in range(len(segments)) if k != order[0]]
    links = []  # (exit index in previous, entry index in next)
    while left:
        prev = segments[order[-1]]
        best = None
        for k in left:
            d = np.linalg.norm(prev[:, None, :] - segments[k][None, :, :], axis=-1)
            a, b = np.unravel_index(int(np.argmin(d)), d.shape)
            if best is None or d[a, b] < best[0]:
                best = (d[a, b], k, int(a), int(b))
        order.append(best[1])
        left.remove(best[1])
        links.append((best[2], best[3]))
    tail = None
    for pos in range(len(order) - 1, -1, -1):
        seg = segments[order[pos]]
        start = links[pos - 1][1] if pos > 0 else 0
        loop = np.roll(seg, -start, axis=0)
        if tail is not None:
            j = (links[pos][0] - start) % len(seg)
            loop = np.concatenate([loop[:j + 1], tail, loop[j:]])
        tail = np.concatenate([loop, loop[:1]])
    return tail[:-1]


def mask_to_polygon(mask: np.ndarray, min_area: float = 4.0) -> np.ndarray:
    """Trace a (H, W) bool mask into one polygon of pixel (x, y) vertices.

    Outer contours (cv2.findContours, RETR_EXTERNAL) smaller than min_area pixels are
    dropped; several pieces (an occluded object) are joined by zero-width bridges.

    Returns:
        (V, 2) float64 vertices, V = 0 when nothing is left.
    """
    contours, _ = cv2.findContours(np.asarray(mask, dtype=np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    segments = [c.reshape(-1, 2).astype(np.float64) for c in contours
                if len(c) >= 3 and cv2.contourArea(c) >= min_area]
    if not segments:
        return np.zeros((0, 2))
    return segments[0] if len(segments) == 1 else _bridge(segments)


def _link_or_copy(src: Path, dst: Path) -> None:
    if dst.exists() and os.path.samefile(src, dst):
        return  # already linked; rename() between two links of one file does nothing
    with atomic_path(dst) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def _frame_labels(split_dir: Path, scene: str, index: int, min_area: float) -> list[str]:
    label_path = frame_path(split_dir, scene, index, 'label.pkl')
    label = read_label(label_path)
    mask_path = frame_path(split_dir, scene, index, 'mask.png')
    if not mask_path.is_file():
        raise DataError(f'{label_path}: label without mask ({mask_path} is missing)')
    mask = read_mask(mask_path)
    try:
        class_ids = np.asarray(label['class_ids'], dtype=np.int64).reshape(-1)
        instance_ids = np.asarray(label['instance_ids'], dtype=np.int64).reshape(-1)
    except KeyError as err:
        raise DataError(f'{label_path}: missing key {err}') from None
    if len(class_ids) != len(instance_ids):
        raise DataError(f'{label_path}: {len(class_ids)} class_ids but {len(instance_ids)} '
                        'instance_ids (label arrays have inconsistent lengths)')
    h, w = mask.shape
    lines = []
    for cls, inst in zip(class_ids.tolist(), instance_ids.tolist()):
        if not 1 <= cls <= NUM_CATEGORIES:
            raise DataError(f'{label_path}: unknown class id {cls}; expected 1..{NUM_CATEGORIES}')
        poly = mask_to_polygon(mask == inst, min_area)
        if len(poly) < 3:
            continue
        xy = np.clip(poly / np.array([w, h]), 0.0, 1.0).reshape(-1)
        lines.append(f'{cls - 1} ' + ' '.join(f'{v:.6f}' for v in xy))
    return lines


def export_yolo(root: Union[str, Path], out: Union[str, Path],
                splits: Sequence[str] = ('train', 'test'), min_area: float = 4.0) -> Path:
    """Export NOCS-layout splits as an ultralytics segmentation dataset.

    Args:
        root: dataset root holding the split folders.
        out: output folder (created; existing files of the same frames are replaced).
        splits: split names; the first is 'train', the second 'val', a third 'test'.
        min_area: instance mask pieces smaller than this (pixels) are dropped.

    Returns:
        The path of data.yaml.

    Raises:
        DataError: a split is missing or empty, or a frame's files are broken.
        ValueError: no splits.
    """
    if not splits:
        raise ValueError('splits must name at least one split, e.g. train test')
    root, out = Path(root), Path(out)
    counts = {}
    for split in splits:
        split_dir = root / split
        frames = list_frames(split_dir)
        if not frames:
            raise DataError(f'{split_dir}: no complete frames to export')
        (out / 'images' / split).mkdir(parents=True, exist_ok=True)
        (out / 'labels' / split).mkdir(parents=True, exist_ok=True)
        instances = 0
        for scene, index in progress(frames, desc=f'export {split}', unit='frame'):
            name = f'{scene}_{index:04d}'
            lines = _frame_labels(split_dir, scene, index, min_area)
            instances += len(lines)
            color = frame_path(split_dir, scene, index, 'color.png')
            if not color.is_file():
                raise DataError(f'{color}: file is missing')
            _link_or_copy(color, out / 'images' / split / f'{name}.png')
            text = ''.join(line + '\n' for line in lines)
            atomic_write_bytes(out / 'labels' / split / f'{name}.txt', text.encode())
        counts[split] = (len(frames), instances)
        log.info('exported %s: %d frames, %d instances', split, len(frames), instances)
    data = {'path': str(out.resolve()), 'train': f'images/{splits[0]}',
            'val': f'images/{splits[1] if len(splits) > 1 else splits[0]}'}
    if len(splits) > 2:
        data['test'] = f'images/{splits[2]}'
    data['names'] = {k: name for k, name in enumerate(CATEGORIES)}
    yaml_path = out / 'data.yaml'
    atomic_write_bytes(yaml_path, yaml.safe_dump(data, sort_keys=False).encode())
    return yaml_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `cleanpose export-yolo`."""
    parser.add_argument('--data', required=True, help='dataset root holding split folders')
    parser.add_argument('--out', required=True, help='output folder of the YOLO dataset')
    parser.add_argument('--splits', nargs='+', default=['train', 'test'],
                        help='splits to export: train, then val (default: train test)')
    parser.add_argument('--min-area', type=float, default=4.0,
                        help='drop mask pieces smaller than this many pixels (default 4)')


def run(args: argparse.Namespace) -> int:
    """Export and print where data.yaml went."""
    yaml_path = export_yolo(args.data, args.out, args.splits, args.min_area)
    sys.stdout.write(f'{yaml_path}\n')
    return 0
