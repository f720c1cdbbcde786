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

"""Property test: malformed messages never raise out of the node's processing path.

Hypothesis drives 1000 (colour, depth, camera_info) triples with broken encodings,
strides, sizes, byte lengths, byte orders, NaNs, zero intrinsics, empty frame ids and
bad stamps through FrameProcessor (the conversions, then the real PosePipeline's frame
validation with an empty segmentation, so no network runs). Every triple ends in exactly
one of: a counted rejection with a known reason, a counted pipeline frame skip, or a
processed frame.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import given, HealthCheck, settings, strategies as st
import numpy as np
import pytest
from ros_factories import fixture_types, save_tiny_net  # noqa: F401 (fixtures)

from cleanpose_core.config import PipelineConfig
from cleanpose_core.pipeline.pipeline import PosePipeline
from cleanpose_core.pipeline.segmenter import Segmentation
from cleanpose_ros.conversions import make_header, REJECT_REASONS
from cleanpose_ros.params import NodeOptions
from cleanpose_ros.processing import FrameProcessor

# Faults applied to an otherwise valid triple (0, 1 or 2 per example).
FAULTS = ('color_encoding', 'depth_encoding', 'depth_color_encoding', 'zero_width', 'huge',
          'endianness', 'big_endian_depth', 'short_step', 'odd_step', 'padded_step',
          'short_data', 'long_data', 'float_data', 'nan_depth', 'zero_depth', 'inf_depth',
          'negative_depth', 'zero_intrinsics', 'nan_intrinsics', 'negative_fx', 'last_row',
          'short_k', 'info_size', 'info_size_zero', 'size_mismatch', 'frame_id',
          'color_frame_id_only', 'negative_sec', 'nanosec', 'mono8', 'bgra8', 'mono16')
FRAME_REASONS = ('frame_bad_color', 'frame_bad_depth', 'frame_size_mismatch',
                 'frame_bad_intrinsics', 'frame_no_valid_depth')
COUNTS: Counter = Counter()


@pytest.fixture(scope='module')
def pipeline(tmp_path_factory) -> PosePipeline:
    from cleanpose_core.model.weights import load_weights

    weights = save_tiny_net(tmp_path_factory.mktemp('net') / 'tiny.safetensors')
    return PosePipeline(load_weights(weights), PipelineConfig(),
                        lambda color: Segmentation(), 'cpu')


def _image(T, pixels: np.ndarray, encoding: str, header, pad: int = 0) -> dict:
    height, width = pixels.shape[:2]
    rows = np.ascontiguousarray(pixels).reshape(height, -1).view(np.uint8)
    rows = np.concatenate([rows, np.zeros((height, pad), np.uint8)], axis=1)
    return dict(header=header, height=height, width=width, encoding=encoding,
                is_bigendian=int(pixels.dtype.byteorder == '>'), step=rows.shape[1],
                data=rows.reshape(-1))


@st.composite
def triples(draw) -> tuple:
    """A valid triple's fields, then up to two faults from FAULTS."""
    width, height = draw(st.sampled_from([(8, 6), (5, 4), (16, 12)]))
    faults = set(draw(st.lists(st.sampled_from(FAULTS), max_size=2)))
    seed = draw(st.integers(0, 2**16))
    depth_value = draw(st.floats(0.2, 5.0))
    return width, height, faults, seed, depth_value


def _build(T, spec):
    width, height, faults, seed, depth_value = spec
    rng = np.random.default_rng(seed)
    sec = -1 if 'negative_sec' in faults else 5
    nanosec = 1_000_000_000 if 'nanosec' in faults else 123
    frame_id = '' if faults & {'frame_id', 'color_frame_id_only'} else 'cam'
    header = T.Header(stamp=T.Time(sec=sec, nanosec=nanosec), frame_id=frame_id)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    enc = 'rgb8'
    if 'mono8' in faults:
        rgb, enc = rgb[:, :, :1], 'mono8'
    elif 'bgra8' in faults:
        rgb, enc = np.concatenate([rgb, rgb[:, :, :1]], axis=2), 'bgra8'
    color = _image(T, rgb, enc, header, pad=3 if 'padded_step' in faults else 0)
    dh, dw = (height, width + 1) if 'size_mismatch' in faults else (height, width)
    metres = np.full((dh, dw), depth_value, np.float32)
    for fault, value in (('nan_depth', np.nan), ('zero_depth', 0.0), ('inf_depth', np.inf),
                         ('negative_depth', -1.0)):
        if fault in faults:
            metres[:] = value
    if faults & {'big_endian_depth', 'mono16'} or rng.random() < 0.5:
        mm = np.nan_to_num(metres * 1000, nan=0, posinf=0).clip(0, 65535)
        pixels = mm.astype('>u2' if 'big_endian_depth' in faults else '<u2')
        depth_enc = 'mono16' if 'mono16' in faults else '16UC1'
    else:
        pixels, depth_enc = metres.astype('<f4'), '32FC1'
    depth = _image(T, pixels, depth_enc, header)
    target = color if rng.random() < 0.5 else depth
    if 'color_encoding' in faults:
        color['encoding'] = 'yuv422'
    if 'depth_encoding' in faults:
        depth['encoding'] = '32FC3'
    if 'depth_color_encoding' in faults:
        depth['encoding'] = 'rgb8'
    if 'zero_width' in faults:
        target['width'] = 0
    if 'huge' in faults:
        target['height'] = 70000
    if 'endianness' in faults:
        target['is_bigendian'] = 2
    if 'short_step' in faults:
        target['step'] -= 1 if target is color else 2
    if 'odd_step' in faults:
        depth['step'] += 1
    if 'short_data' in faults:
        target['data'] = target['data'][:-1]
    if 'long_data' in faults:
        target['data'] = np.concatenate([target['data'], np.zeros(5, np.uint8)])
    if 'float_data' in faults:
        target['data'] = target['data'].astype(np.float32)
    k = np.array([50.0, 0.0, width / 2, 0.0, 50.0, height / 2, 0.0, 0.0, 1.0])
    for fault, index, value in (('zero_intrinsics', slice(None), 0.0),
                                ('nan_intrinsics', 4, np.nan), ('negative_fx', 0, -50.0),
                                ('last_row', 8, 0.0)):

        if fault in faults:
            k[index] = value
    if 'short_k' in faults:
        k = k[:4]
    iw, ih = (640, 480) if 'info_size' in faults else (width, height)
    if 'info_size_zero' in faults:
        iw, ih = 0, 0
    info_frame = '' if 'frame_id' in faults else 'cam'
    info = T.CameraInfo(header=make_header(T, 0, info_frame), height=ih, width=iw,
                        distortion_model='', d=np.zeros(0), k=k, r=np.eye(3).ravel(),
                        p=np.zeros(12), binning_x=0, binning_y=0,
                        roi=T.RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0,
                                               do_rectify=False))
    return T.Image(**color), T.Image(**depth), info


def test_malformed_triples_are_counted_never_raised(T, pipeline):
    COUNTS.clear()

    @settings(max_examples=1000, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(spec=triples())
    def check(spec):
        processor = FrameProcessor(pipeline, T, NodeOptions())
        outcome = processor.process(*_build(T, spec))   # must not raise
        stats = processor.stats
        if outcome.reason is not None:
            assert outcome.reason in REJECT_REASONS and outcome.message
            assert outcome.topic.startswith('/camera/camera/')
            assert stats.rejected == Counter({outcome.reason: 1}) and stats.processed == 0
            COUNTS[f'rejected.{outcome.reason}'] += 1
            return
        assert stats.processed == 1 and not stats.rejected
        frame_skips = [r for r in outcome.result.skipped if r.startswith('frame_')]
        assert set(frame_skips) <= set(FRAME_REASONS) and len(frame_skips) <= 1
        COUNTS[f'skipped.{frame_skips[0]}' if frame_skips else 'processed'] += 1
        assert len(outcome.result) == 0 and outcome.outputs.detections.detections == []

    check()
    assert sum(COUNTS.values()) >= 1000
    # The generator reaches every rejection of the conversions and a valid frame.
    reached = {k.split('.', 1)[1] for k in COUNTS if k.startswith('rejected.')}
    assert reached == set(REJECT_REASONS) - {'out_of_order', 'duplicate_stamp'}
    assert COUNTS['processed'] > 100 and COUNTS['skipped.frame_no_valid_depth'] > 10
