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
``<split>/camera.json``. Conventions follow the NOCS code (Wang et al., CVPR 2019):
OpenCV channel order on disk, the CAMERA set's 3-channel depth encoded as
``depth_mm = 256 * channel1 + channel2`` (OpenCV BGR channel indices: green is the
high byte, red the low byte), 3-channel masks read from OpenCV channel 2, and
NOCS maps stored as ``(coord + 0.5) * 255`` with z stored as ``1 - z``.

Label pickles are read with a restricted unpickler that only rebuilds numpy arrays,
dtypes, numpy scalars and plain builtin containers, so a crafted pickle cannot run code.
"""

from __future__ import annotations

from dataclasses import dataclass
import io
import json
import logging
import math
from pathlib import Path
import pickle
import re
from typing import Any, Optional, Sequence

import cv2
import numpy as np

from cleanpose_core.categories import NUM_CATEGORIES
from cleanpose_core.errors import DataError

__all__ = ['FrameRecord', 'NocsSplit', 'read_frame', 'read_camera', 'read_camera_file',
           'read_label', 'read_depth_mm', 'read_mask', 'read_coord', 'read_meta', 'decode_coord',
           'encode_coord', 'frame_path', 'list_frames', 'CAMERA_INTRINSICS',
           'REAL_INTRINSICS', 'BACKGROUND_ID']

log = logging.getLogger(__name__)

# (fx, fy, cx, cy) of the NOCS datasets (NOCS code, utils.py / SPD).
CAMERA_INTRINSICS = (577.5, 577.5, 319.5, 239.5)
REAL_INTRINSICS = (591.0125, 590.16775, 322.525, 244.11084)
BACKGROUND_ID = 255
_FRAME_RE = re.compile(r'^(\d+)_color\.png$')


def frame_path(split_dir: str | Path, scene: str, index: int, kind: str) -> Path:
    """Return the path of one file of a frame, e.g. kind 'color.png' or 'label.pkl'."""
    return Path(split_dir) / scene / f'{int(index):04d}_{kind}'


def intrinsics_matrix(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """Return the (3, 3) float64 pinhole matrix."""
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=np.float64)


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


def encode_coord(coord: np.ndarray) -> np.ndarray:
    """Encode (H, W, 3) canonical coords in [-0.5, 0.5] as the (H, W, 3) uint8 RGB NOCS map."""
    c = np.clip(np.asarray(coord, dtype=np.float64) + 0.5, 0.0, 1.0)
    c[..., 2] = 1.0 - c[..., 2]
    return np.rint(c * 255.0).astype(np.uint8)


def decode_coord(rgb: np.ndarray) -> np.ndarray:
    """Decode a (H, W, 3) uint8 RGB NOCS map to float32 coords in [-0.5, 0.5] (z un-flipped)."""
    c = np.asarray(rgb, dtype=np.float32) / np.float32(255.0)
    c[..., 2] = np.float32(1.0) - c[..., 2]
    return c - np.float32(0.5)


def _imread(path: Path, flags: int) -> np.ndarray:
    if not path.is_file():
        raise DataError(f'{path}: file is missing')
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, flags) if data.size else None
    if image is None:
        raise DataError(f'{path}: cannot decode the image (truncated or not an image file)')
    return image


def read_color(path: str | Path) -> np.ndarray:
    """Read an 8-bit colour PNG as (H, W, 3) uint8 RGB.

    Raises:
        DataError: missing, truncated or not 8-bit 3-channel.
    """
    path = Path(path)
    image = _imread(path, cv2.IMREAD_UNCHANGED)
    if image.dtype != np.uint8:
        raise DataError(f'{path}: colour must be 8-bit; got {image.dtype}')
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    elif image.shape[2] != 3:
        raise DataError(f'{path}: colour must have 3 channels; got {image.shape[2]}')
    return np.ascontiguousarray(image[:, :, ::-1])


def read_depth_mm(path: str | Path) -> np.ndarray:
    """Read a depth PNG as (H, W) uint16 depth units (mm by default), 0 = invalid.

    Single-channel files must be uint16; 3-channel 8-bit files are the CAMERA set's
    encoding, decoded as in the NOCS code: ``256 * bgr[..., 1] + bgr[..., 2]``.

    Raises:
        DataError: missing, truncated, or of the wrong dtype / channel count.
    """
    path = Path(path)
    image = _imread(path, cv2.IMREAD_UNCHANGED)
    if image.ndim == 3:
        if image.dtype != np.uint8 or image.shape[2] not in (3, 4):
            raise DataError(f'{path}: a multi-channel depth must be the 8-bit 3-channel CAMERA '
                            f'encoding; got {image.shape[2]} channels {image.dtype}')
        return image[:, :, 1].astype(np.uint16) * np.uint16(256) + image[:, :, 2]
    if image.dtype != np.uint16:
        raise DataError(f'{path}: depth must be uint16 millimetres; got {image.dtype} '
                        '(write depth as 16-bit PNG)')
    return image


def read_mask(path: str | Path) -> np.ndarray:
    """Read an instance mask as (H, W) uint8 ids, 255 = background.

    3-channel files hold the ids in OpenCV channel 2 (as the NOCS code reads them).

    Raises:
        DataError: missing, truncated or not 8-bit.
    """
    path = Path(path)
    image = _imread(path, cv2.IMREAD_UNCHANGED)
    if image.dtype != np.uint8:
        raise DataError(f'{path}: mask must be 8-bit instance ids; got {image.dtype}')
    if image.ndim == 3:
        if image.shape[2] < 3:
            raise DataError(f'{path}: mask must have 1 or 3 channels; got {image.shape[2]}')
        image = image[:, :, 2]
    return np.ascontiguousarray(image)


def read_coord(path: str | Path) -> np.ndarray:
    """Read a NOCS map PNG as (H, W, 3) float32 canonical coords in [-0.5, 0.5].

    Raises:
        DataError: missing, truncated or not 8-bit 3-channel.
    """
    path = Path(path)
    image = _imread(path, cv2.IMREAD_UNCHANGED)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise DataError(f'{path}: NOCS map must be 8-bit RGB; got shape {image.shape} '
                        f'{image.dtype}')
    return decode_coord(image[:, :, 2::-1])


def read_meta(path: str | Path) -> tuple[tuple[int, int, str], ...]:
    """Read _meta.txt lines ``inst_id class_id [synset] model_id`` (CAMERA has 4 words).

    Returns:
        ((inst_id, class_id, model_id), ...); class 0 = distractor.

    Raises:
        DataError: missing file, malformed line or class id outside 0..6.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise DataError(f'{path}: cannot read meta file: {err.strerror}') from None
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words:
            continue
        try:
            inst_id, class_id = int(words[0]), int(words[1])
        except (ValueError, IndexError):
            raise DataError(f'{path}:{number}: expected "inst_id class_id model_id"; '
                            f'got {line.strip()!r}') from None
        if not 0 <= class_id <= NUM_CATEGORIES:
            raise DataError(f'{path}:{number}: unknown class id {class_id}; expected 0 '
                            f'(distractor) or 1..{NUM_CATEGORIES}')
        lines.append((inst_id, class_id, words[-1] if len(words) > 2 else ''))
    return tuple(lines)


_NUMPY_GLOBALS = {
    ('numpy.core.multiarray', '_reconstruct'): ('numpy._core.multiarray', '_reconstruct'),
    ('numpy._core.multiarray', '_reconstruct'): ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'): ('numpy._core.multiarray', 'scalar'),
    ('numpy._core.multiarray', 'scalar'): ('numpy._core.multiarray', 'scalar'),
    ('numpy.core.numeric', '_frombuffer'): ('numpy._core.numeric', '_frombuffer'),
    ('numpy._core.numeric', '_frombuffer'): ('numpy._core.numeric', '_frombuffer'),
    ('numpy', 'ndarray'): ('numpy', 'ndarray'),
    ('numpy', 'dtype'): ('numpy', 'dtype'),
    ('_codecs', 'encode'): ('_codecs', 'encode'),
}
_SAFE_BUILTINS = frozenset({'list', 'dict', 'tuple', 'set', 'frozenset', 'int', 'float',
                            'complex', 'bool', 'str', 'bytes', 'bytearray', 'slice', 'range'})


class _ForbiddenGlobal(pickle.UnpicklingError):
    """A pickle asked for a global outside the whitelist."""


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays, dtypes, scalars and builtin containers."""

    def find_class(self, module: str, name: str) -> Any:
        target = _NUMPY_GLOBALS.get((module, name))
        if target is not None:
            import importlib

            return getattr(importlib.import_module(target[0]), target[1])
        if module in ('builtins', '__builtin__') and name in _SAFE_BUILTINS:
            import builtins

            return getattr(builtins, name)
        if module == 'numpy.dtypes' and name.endswith('DType'):
            import numpy.dtypes

            value = getattr(numpy.dtypes, name, None)
            if isinstance(value, type) and issubclass(value, np.dtype):
                return value
        raise _ForbiddenGlobal(f'global {module}.{name} is not allowed in a label file')


def read_label(path: str | Path) -> dict:
    """Read a _label.pkl with the restricted unpickler.

    Raises:
        DataError: missing, truncated, not a dict, or referring to disallowed globals.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f'{path}: cannot read label: {err.strerror}') from None
    try:
        label = _RestrictedUnpickler(io.BytesIO(data), encoding='latin1').load()
    except _ForbiddenGlobal as err:
        raise DataError(f'{path}: refused to load the label pickle: {err}') from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, UnicodeDecodeError) as err:
        raise DataError(f'{path}: truncated or corrupt label pickle ({type(err).__name__}: '
                        f'{err})') from None
    if not isinstance(label, dict):
        raise DataError(f'{path}: label must be a dict; got {type(label).__name__}')
    return label


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
