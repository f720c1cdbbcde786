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


"""Readers and codecs of the single files of the NOCS layout.

Conventions follow the NOCS code (Wang et al., CVPR 2019): OpenCV channel order on
disk, the CAMERA set's 3-channel depth encoded as ``depth_mm = 256 * channel1 +
channel2`` (OpenCV BGR channel indices: green is the high byte, red the low byte),
3-channel masks read from OpenCV channel 2, and NOCS maps stored as
``(coord + 0.5) * 255`` with z stored as ``1 - z``.

Label pickles are read with a restricted unpickler that only rebuilds numpy arrays,
dtypes, numpy scalars and plain builtin containers, so a crafted pickle cannot run code.
"""

from __future__ import annotations

import io
from pathlib import Path
import pickle
from typing import Any

import cv2
import numpy as np

from cleanpose_core.categories import NUM_CATEGORIES
from cleanpose_core.errors import DataError

__all__ = ['encode_coord', 'decode_coord', 'read_color', 'read_depth_mm', 'read_mask',
           'read_coord', 'read_meta', 'read_label']


def encode_coord(coord: np.ndarray) -> np.ndarray:
    """Encode (H, W, 3) canonical coords in [-0.5, 0.5] as the (H, W, 3) uint8 RGB NOCS map."""
    # float32 in place: ~10x faster than float64 temporaries on a 640x480 map; the
    # codes agree with a float64 encoding but for a rare tie rounded the other way.
    c = np.asarray(coord, dtype=np.float32) + np.float32(0.5)
    np.clip(c, 0.0, 1.0, out=c)
    c[..., 2] = np.float32(1.0) - c[..., 2]
    c *= np.float32(255.0)
    return np.rint(c, out=c).astype(np.uint8)


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
