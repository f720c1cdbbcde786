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

"""The dataset writer's PNG encoder: two independent decoders read back every pixel."""

import io

import cv2
import numpy as np
from PIL import Image
import pytest

from cleanpose_core.data import png
from cleanpose_core.data.png import encode_png, FILTER_NONE, FILTER_SUB


def _images(rng):
    yield rng.integers(0, 256, (7, 5), dtype=np.uint8)
    yield rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)
    yield rng.integers(0, 256, (4, 3, 4), dtype=np.uint8)
    depth = rng.integers(0, 65536, (5, 8), dtype=np.uint16)
    depth[0, :4] = [0, 255, 256, 65535]        # byte order and the extremes
    yield depth
    yield np.full((3, 1), 200, np.uint8)      # one pixel wide: Sub has nothing to subtract


def _cv2_rgb(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB if image.shape[2] == 3 else
                             cv2.COLOR_BGRA2RGBA)
    return image


@pytest.mark.parametrize('filter_type', [FILTER_NONE, FILTER_SUB])
@pytest.mark.parametrize('level', [0, 1])
def test_every_pixel_decodes_back_with_opencv_and_pillow(filter_type, level):
    for image in _images(np.random.default_rng(filter_type * 2 + level)):
        data = encode_png(image, filter_type, level)
        assert data.startswith(b'\x89PNG\r\n\x1a\n')
        from_cv2 = _cv2_rgb(data)
        assert from_cv2.dtype == image.dtype
        np.testing.assert_array_equal(from_cv2, image)
        from_pil = np.asarray(Image.open(io.BytesIO(data)))
        np.testing.assert_array_equal(from_pil.astype(image.dtype), image)


def test_noisy_colour_is_compressed_by_the_sub_filter():
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, 640, dtype=np.float32)[None, :, None]
    colour = (ramp + rng.normal(0, 2, (480, 640, 3))).clip(0, 255).astype(np.uint8)
    stored = len(encode_png(colour, FILTER_NONE, level=0))
    assert len(encode_png(colour, FILTER_SUB)) < 0.6 * stored
    assert len(encode_png(colour, FILTER_SUB)) < len(encode_png(colour, FILTER_NONE))


def test_the_stdlib_zlib_fallback_writes_the_same_image(monkeypatch):
    image = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    monkeypatch.setattr(png, '_deflate', __import__('zlib'))
    np.testing.assert_array_equal(_cv2_rgb(encode_png(image, FILTER_SUB)), image)


@pytest.mark.parametrize('image, filter_type', [
    (np.zeros((4, 4), np.float32), FILTER_NONE),
    (np.zeros((4, 4, 3), np.uint16), FILTER_NONE),
    (np.zeros((4, 4, 2), np.uint8), FILTER_NONE),
    (np.zeros((0, 4), np.uint8), FILTER_NONE),
    (np.zeros(4, np.uint8), FILTER_NONE),
    (np.zeros((4, 4), np.uint8), 4),
])
def test_unsupported_images_and_filters_are_refused(image, filter_type):
    with pytest.raises(ValueError):
        encode_png(image, filter_type)
