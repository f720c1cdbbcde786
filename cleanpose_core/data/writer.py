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

"""Writer of the NOCS dataset layout; the inverse of cleanpose_core.data.nocs.

Every file is written to a temporary name next to its target and moved into place with
``os.replace``; the ``_label.pkl`` that marks a frame complete is removed first and
written last, so an interrupted writer never leaves a frame that the reader lists.
"""

from __future__ import annotations

import json
from pathlib import Path
import pickle

import numpy as np

from cleanpose_core.data.nocs import encode_coord, frame_path, FrameRecord
from cleanpose_core.data.png import encode_png, FILTER_NONE, FILTER_SUB
from cleanpose_core.fileio import atomic_write_bytes

__all__ = ['write_frame', 'write_camera_json', 'depth_to_mm']


def _write_png(path: Path, image: np.ndarray, filter_type: int) -> None:
    atomic_write_bytes(path, encode_png(image, filter_type))


def depth_to_mm(depth: np.ndarray, depth_scale: float = 1000.0) -> np.ndarray:
    """Convert (H, W) depth in metres to uint16 depth units; NaN, inf, <= 0 and overflow -> 0."""
    d = np.asarray(depth, dtype=np.float64) * depth_scale
    valid = np.isfinite(d) & (d > 0) & (d < 65535.5)
    out = np.zeros(d.shape, dtype=np.uint16)
    out[valid] = np.rint(d[valid]).astype(np.uint16)
    return out


def write_camera_json(split_dir: str | Path, K: np.ndarray, width: int, height: int,
                      depth_scale: float = 1000.0) -> Path:
    """Write <split>/camera.json (fx, fy, cx, cy, width, height, depth_scale) atomically.

    Args:
        split_dir: the split folder (created if missing).
        K: (3, 3) pinhole intrinsics.
        width: image width, pixels.
        height: image height, pixels.
        depth_scale: depth units per metre in the depth PNGs (1000 = millimetres).

    Returns:
        The path written.

    Raises:
        ValueError: K not (3, 3) or non-positive sizes.
    """
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f'K must have shape (3, 3); got {K.shape}')
    if width < 1 or height < 1 or depth_scale <= 0:
        raise ValueError(f'width, height and depth_scale must be > 0; got {width}, {height}, '
                         f'{depth_scale}')
    cam = {'fx': float(K[0, 0]), 'fy': float(K[1, 1]), 'cx': float(K[0, 2]),
           'cy': float(K[1, 2]), 'width': int(width), 'height': int(height),
           'depth_scale': float(depth_scale)}
    path = Path(split_dir) / 'camera.json'
    atomic_write_bytes(path, (json.dumps(cam, indent=2) + '\n').encode())
    return path


def write_frame(split_dir: str | Path, scene: str, index: int, record: FrameRecord,
                depth_scale: float = 1000.0) -> Path:
    """Write one frame in the NOCS layout; _label.pkl goes last and marks it complete.

    Writes ``<split>/<scene>/<NNNN>_{color,depth,mask,coord}.png``, ``_meta.txt`` and
    ``_label.pkl`` (numpy arrays and a list of str, readable by the restricted unpickler).
    The coord PNG is skipped when record.coord is None.

    Args:
        split_dir: the split folder.
        scene: scene folder name (no path separators).
        index: frame number, 0..9999 gives the 4-digit NNNN of the NOCS layout.
        record: the frame; its own scene and index are ignored.
        depth_scale: depth units per metre (must match camera.json).

    Returns:
        The path of the _label.pkl written.

    Raises:
        TypeError: record is not a FrameRecord.
        ValueError: bad scene name or index, or a labelled instance without mask pixels.
    """
    if not isinstance(record, FrameRecord):
        raise TypeError(f'record must be a FrameRecord; got {type(record).__name__}')
    if not scene or '/' in scene or '\\' in scene or scene in ('.', '..'):
        raise ValueError(f'scene must be a plain folder name; got {scene!r}')
    if index < 0:
        raise ValueError(f'index must be >= 0; got {index}')
    present = set(np.flatnonzero(np.bincount(record.mask.ravel(), minlength=1)).tolist())
    hidden = [int(i) for i in record.instance_ids if int(i) not in present]
    if hidden:
        raise ValueError(f'labelled instances {hidden} have no pixels in the mask; drop fully '
                         'occluded objects from the label (the reader rejects such frames)')
    split_dir = Path(split_dir)
    (split_dir / scene).mkdir(parents=True, exist_ok=True)

    def path(kind: str) -> Path:
        return frame_path(split_dir, scene, index, kind)

    label_path = path('label.pkl')
    # Un-mark the frame before touching its files, so a rewrite that is interrupted
    # does not leave old label + new images behind.
    label_path.unlink(missing_ok=True)
    # Filters measured on 640x480 synthetic frames: Sub shrinks colour (518 against 658
    # kB), the NOCS map and the mask; depth is smaller unfiltered (163 against 184 kB).
    _write_png(path('color.png'), record.color, FILTER_SUB)
    _write_png(path('depth.png'), depth_to_mm(record.depth, depth_scale), FILTER_NONE)
    _write_png(path('mask.png'), record.mask, FILTER_SUB)
    if record.coord is not None:
        _write_png(path('coord.png'), encode_coord(record.coord), FILTER_SUB)
    else:
        path('coord.png').unlink(missing_ok=True)
    for inst, cls, model in record.meta:
        if model and len(model.split()) != 1:
            raise ValueError(f'model id {model!r} of instance {inst} must not contain spaces')
    meta = ''.join(f'{inst} {cls} {model}'.rstrip() + '\n' for inst, cls, model in record.meta)
    atomic_write_bytes(path('meta.txt'), meta.encode())
    label = {
        'class_ids': record.class_ids.astype(np.int64),
        'instance_ids': record.instance_ids.astype(np.int64),
        'bboxes': record.bboxes.astype(np.int64),
        'scales': record.scales.astype(np.float64),
        'sizes': record.sizes.astype(np.float64),
        'rotations': record.rotations.astype(np.float64),
        'translations': record.translations.astype(np.float64),
        'handle_visibility': record.handle_visibility.astype(np.int64),
        'model_list': list(record.model_list),
    }
    atomic_write_bytes(label_path, pickle.dumps(label, protocol=pickle.HIGHEST_PROTOCOL))
    return label_path
