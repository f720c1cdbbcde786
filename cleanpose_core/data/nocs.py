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

"""Reader of the NOCS dataset layout (DESIGN.md "Data contract: NOCS layout").

One reader serves the built-in synthetic data and the real CAMERA25 / REAL275 sets:
``<split>/<scene>/<NNNN>_{color,depth,mask,coord}.png``, ``_meta.txt`` and
``_label.pkl`` (written last: a frame is complete when it exists), plus
``<split>/camera.json``. The single files are read (and their
encodings documented) in cleanpose_core.data.nocs_files; label pickles go through a
restricted unpickler that cannot run code.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
import re
from typing import Optional

import numpy as np

from cleanpose_core.categories import NUM_CATEGORIES
from cleanpose_core.data.nocs_files import (decode_coord, encode_coord, read_color,
                                            read_coord, read_depth_mm, read_label, read_mask,
                                            read_meta)
from cleanpose_core.data.record import BACKGROUND_ID, FrameRecord
from cleanpose_core.errors import DataError

__all__ = ['FrameRecord', 'NocsSplit', 'read_frame', 'read_camera', 'read_camera_file',
           'read_label', 'read_color', 'read_depth_mm', 'read_mask', 'read_coord', 'read_meta',
           'decode_coord', 'encode_coord', 'frame_path', 'list_frames', 'CAMERA_INTRINSICS',
           'REAL_INTRINSICS', 'BACKGROUND_ID']

log = logging.getLogger(__name__)

# (fx, fy, cx, cy) of the NOCS datasets (NOCS code, utils.py / SPD).
CAMERA_INTRINSICS = (577.5, 577.5, 319.5, 239.5)
REAL_INTRINSICS = (591.0125, 590.16775, 322.525, 244.11084)
_FRAME_RE = re.compile(r'^(\d+)_color\.png$')


def frame_path(split_dir: str | Path, scene: str, index: int, kind: str) -> Path:
    """Return the path of one file of a frame, e.g. kind 'color.png' or 'label.pkl'."""
    return Path(split_dir) / scene / f'{int(index):04d}_{kind}'


def intrinsics_matrix(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """Return the (3, 3) float64 pinhole matrix."""
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=np.float64)


def read_camera_file(path: str | Path) -> tuple[np.ndarray, float, tuple]:
    """Read a camera.json: fx, fy, cx, cy and optional width, height, depth_scale.

    Returns:
        K (3, 3) float64, depth_scale (depth units per metre, default 1000), (width, height)
        or (None, None).

    Raises:
        DataError: unreadable file, missing keys or non-positive values.
    """
    path = Path(path)
    try:
        cam = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f'{path}: cannot read camera file: {err}') from None
    if not isinstance(cam, dict):
        raise DataError(f'{path}: must hold an object with fx, fy, cx, cy')
    missing = [k for k in ('fx', 'fy', 'cx', 'cy') if k not in cam]
    if missing:
        raise DataError(f'{path}: missing keys {missing}; expected fx, fy, cx, cy '
                        '(and optionally width, height, depth_scale)')
    try:
        fx, fy, cx, cy = (float(cam[k]) for k in ('fx', 'fy', 'cx', 'cy'))
        depth_scale = float(cam.get('depth_scale', 1000.0))
        size = (int(cam['width']), int(cam['height'])) if 'width' in cam and 'height' in cam \
            else (None, None)
    except (TypeError, ValueError):
        raise DataError(f'{path}: fx, fy, cx, cy, width, height, depth_scale must be '
                        'numbers') from None
    if not (fx > 0 and fy > 0 and depth_scale > 0 and math.isfinite(cx + cy)):
        raise DataError(f'{path}: fx, fy and depth_scale must be > 0 and cx, cy finite')
    return intrinsics_matrix(fx, fy, cx, cy), depth_scale, size


def read_camera(split_dir: str | Path) -> tuple[np.ndarray, float]:
    """Read <split>/camera.json, or fall back to the NOCS dataset's intrinsics.

    The fallback is chosen from the split path (the split and its parent folder): one with
    'camera' gets the CAMERA25 intrinsics, one containing 'real' the REAL275 ones.

    Returns:
        K (3, 3) float64 and depth_scale (depth units per metre; 1000 = millimetres).

    Raises:
        DataError: unreadable camera.json, missing keys, or no camera.json and no
            recognisable dataset name.
    """
    split_dir = Path(split_dir)
    path = split_dir / 'camera.json'
    if path.is_file():
        K, depth_scale, _ = read_camera_file(path)
        return K, depth_scale
    names = ' '.join(p.lower() for p in split_dir.resolve().parts[-2:])
    is_camera, is_real = 'camera' in names, 'real' in names
    if is_camera != is_real:
        intr = CAMERA_INTRINSICS if is_camera else REAL_INTRINSICS
        log.debug('%s has no camera.json; using the %s intrinsics %s', split_dir,
                  'CAMERA' if is_camera else 'REAL', intr)
        return intrinsics_matrix(*intr), 1000.0
    raise DataError(f'{split_dir}: no camera.json and the path names neither the CAMERA nor '
                    'the REAL dataset; add camera.json with fx, fy, cx, cy, width, height, '
                    'depth_scale')


def list_frames(split_dir: str | Path) -> list[tuple[str, int]]:
    """List the complete frames (those with a _label.pkl) as sorted (scene, index).

    Raises:
        DataError: split_dir is not a directory.
    """
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise DataError(f'{split_dir}: split directory does not exist')
    frames = []
    for scene_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        for path in sorted(scene_dir.iterdir()):
            match = _FRAME_RE.match(path.name)
            if not match:
                continue
            index = int(match.group(1))
            if not frame_path(split_dir, scene_dir.name, index, 'label.pkl').is_file():
                log.debug('skipping incomplete frame %s (no _label.pkl)', path)
                continue
            frames.append((scene_dir.name, index))
    return frames


def _label_array(label: dict, key: str, path: Path, dtype, shape: tuple) -> np.ndarray:
    try:
        value = np.asarray(label[key], dtype=dtype)
    except (TypeError, ValueError):
        raise DataError(f'{path}: {key} cannot be read as {np.dtype(dtype).name}') from None
    if value.size == 0 and shape[0] == 0:
        value = value.reshape(shape)
    if value.shape != shape:
        raise DataError(f'{path}: {key} must have shape {shape}; got {value.shape} '
                        '(label arrays have inconsistent lengths)')
    return value


def read_frame(split_dir: str | Path, scene: str, index: int,
               K: Optional[np.ndarray] = None, depth_scale: float = 1000.0) -> FrameRecord:
    """Read one frame of a NOCS-layout split.

    Args:
        split_dir: the split folder.
        scene: scene folder name.
        index: frame number.
        K: (3, 3) intrinsics; None reads camera.json (or the dataset default).
        depth_scale: depth units per metre in the depth PNG.

    Raises:
        DataError: naming the file and the problem (missing or truncated PNG, depth of the
            wrong dtype or size, mask size mismatch, label without mask, unknown class id,
            meta and label that disagree).
    """
    split_dir = Path(split_dir)
    if K is None:
        K, depth_scale = read_camera(split_dir)

    def path(kind: str) -> Path:
        return frame_path(split_dir, scene, index, kind)

    label_path = path('label.pkl')
    label = read_label(label_path)
    color = read_color(path('color.png'))
    hw = color.shape[:2]
    depth_mm = read_depth_mm(path('depth.png'))
    if depth_mm.shape != hw:
        raise DataError(f'{path("depth.png")}: depth is {depth_mm.shape[1]}x{depth_mm.shape[0]} '
                        f'but colour is {hw[1]}x{hw[0]}; align depth to colour')
    if not path('mask.png').is_file():
        raise DataError(f'{label_path}: label without mask ({path("mask.png")} is missing)')
    mask = read_mask(path('mask.png'))
    if mask.shape != hw:
        raise DataError(f'{path("mask.png")}: mask is {mask.shape[1]}x{mask.shape[0]} but '
                        f'colour is {hw[1]}x{hw[0]}')
    coord = None
    if path('coord.png').is_file():
        coord = read_coord(path('coord.png'))
        if coord.shape[:2] != hw:
            raise DataError(f'{path("coord.png")}: NOCS map is {coord.shape[1]}x'
                            f'{coord.shape[0]} but colour is {hw[1]}x{hw[0]}')
    meta = read_meta(path('meta.txt'))

    for key in ('class_ids', 'instance_ids', 'rotations', 'translations', 'scales'):
        if key not in label:
            raise DataError(f'{label_path}: missing key {key!r}; found {sorted(label)}')
    class_ids = np.asarray(label['class_ids']).reshape(-1)
    n = len(class_ids)
    class_ids = _label_array(label, 'class_ids', label_path, np.int64, (n,))
    bad = sorted(set(c for c in class_ids.tolist() if not 1 <= c <= NUM_CATEGORIES))
    if bad:
        raise DataError(f'{label_path}: unknown class id {bad}; expected 1..{NUM_CATEGORIES}')
    instance_ids = _label_array(label, 'instance_ids', label_path, np.int64, (n,))
    rotations = _label_array(label, 'rotations', label_path, np.float64, (n, 3, 3))
    translations = _label_array(label, 'translations', label_path, np.float64, (n, 3))
    scales = _label_array(label, 'scales', label_path, np.float64, (n,))
    bboxes = (_label_array(label, 'bboxes', label_path, np.int64, (n, 4))
              if 'bboxes' in label else None)
    handle = (_label_array(label, 'handle_visibility', label_path, np.int64, (n,))
              if 'handle_visibility' in label else None)
    model_list = None
    if 'model_list' in label:
        model_list = [str(m) for m in np.asarray(label['model_list']).reshape(-1).tolist()]
        if len(model_list) != n:
            raise DataError(f'{label_path}: model_list has {len(model_list)} entries for {n} '
                            'instances (label arrays have inconsistent lengths)')

    meta_classes = {inst: cls for inst, cls, _ in meta}
    for inst, cls in zip(instance_ids.tolist(), class_ids.tolist()):
        if inst not in meta_classes:
            raise DataError(f'{path("meta.txt")}: labelled instance {inst} is not listed; meta '
                            f'has {len(meta)} lines for {n} labelled instances')
        if meta_classes[inst] != cls:
            raise DataError(f'{path("meta.txt")}: instance {inst} has class {meta_classes[inst]} '
                            f'but {label_path.name} says {cls}')
        if not np.any(mask == inst):
            raise DataError(f'{label_path}: instance {inst} has no pixels in '
                            f'{path("mask.png").name}')

    if 'sizes' in label:
        sizes = _label_array(label, 'sizes', label_path, np.float64, (n, 3))
    elif coord is not None:
        # The real NOCS labels carry no sizes: estimate the normalised extents from
        # the observed canonical coordinates, symmetric about the box centre.
        sizes = np.stack([2.0 * np.abs(coord[mask == inst]).max(axis=0)
                          for inst in instance_ids.tolist()]) if n else np.zeros((0, 3))
        sizes = sizes / np.maximum(np.linalg.norm(sizes, axis=-1, keepdims=True), 1e-9)
    else:
        raise DataError(f'{label_path}: no sizes and no {path("coord.png").name} to estimate '
                        'them from')

    depth = depth_mm.astype(np.float32) / np.float32(depth_scale)
    try:
        return FrameRecord(color=color, depth=depth, mask=mask, K=K, class_ids=class_ids,
                           instance_ids=instance_ids, rotations=rotations,
                           translations=translations, scales=scales, sizes=sizes, coord=coord,
                           bboxes=bboxes, handle_visibility=handle, model_list=model_list,
                           meta=meta, scene=scene, index=index)
    except ValueError as err:
        raise DataError(f'{label_path}: {err}') from None


class NocsSplit:
    """The complete frames of one split of a NOCS-layout dataset.

    Args:
        root: dataset root holding split folders (or the split folder itself when split
            is '' or None).
        split: split name, e.g. 'train', 'test', 'val', 'real_test'.

    Raises:
        DataError: the split folder does not exist or has no usable intrinsics.
    """

    def __init__(self, root: str | Path, split: Optional[str] = None) -> None:
        self.root = Path(root)
        self.split = split or ''
        self.split_dir = self.root / self.split if self.split else self.root
        if not self.split_dir.is_dir():
            raise DataError(f'{self.split_dir}: split directory does not exist')
        self.K, self.depth_scale = read_camera(self.split_dir)
        self.frames = list_frames(self.split_dir)
        log.debug('%s: %d complete frames', self.split_dir, len(self.frames))

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> FrameRecord:
        scene, index = self.frames[i]
        return read_frame(self.split_dir, scene, index, K=self.K, depth_scale=self.depth_scale)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f'NocsSplit({str(self.split_dir)!r}, frames={len(self)})'
