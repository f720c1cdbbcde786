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

"""Offline rosbag2 processing: sync, atomic output, same messages as the node, bad bags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ros_factories import (box_scene, fixture_types, image_msg,  # noqa: F401 (fixtures)
                           info_msg, save_tiny_net, save_tiny_segmenter)

from cleanpose_core.config import PipelineConfig
from cleanpose_core.errors import ConfigError, DataError
from cleanpose_core.pipeline.pipeline import PosePipeline
from cleanpose_core.pipeline.segmenter import Segmentation
from cleanpose_ros.bag import main, output_topics, process_bag
from cleanpose_ros.bag_io import atomic_bag_writer, StampSync
from cleanpose_ros.make_bag import RealSenseTopics, write_rgbd_bag
from cleanpose_ros.params import NodeOptions, NodeParams
from cleanpose_ros.processing import FrameProcessor

FRAMES = 3


class FixedSegmenter:
    """The exact masks of box_scene (its layout does not change between seeds)."""

    def __init__(self, segmentation: Segmentation) -> None:
        self.segmentation = segmentation

    def __call__(self, color: np.ndarray) -> Segmentation:
        return self.segmentation


@pytest.fixture(scope='module')
def weights(tmp_path_factory) -> Path:
    return save_tiny_net(tmp_path_factory.mktemp('net') / 'tiny.safetensors')


def _pipeline(weights: Path, n_objects: int) -> PosePipeline:
    from cleanpose_core.model.weights import load_weights

    segmentation = box_scene(n_objects)[1] if n_objects else Segmentation()
    return PosePipeline(load_weights(weights), PipelineConfig(min_points=8),
                        FixedSegmenter(segmentation), 'cpu')


@pytest.fixture(scope='module')
def in_bag(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp('bags') / 'in'
    assert write_rgbd_bag(path, [box_scene(2, seed=k)[0] for k in range(FRAMES)]) == FRAMES
    return path


def _read(path: Path) -> dict:
    from rosbags.highlevel import AnyReader

    out: dict = {}
    with AnyReader([path]) as reader:
        for conn, log_ns, raw in reader.messages():
            out.setdefault(conn.topic, []).append((log_ns, reader.deserialize(raw, conn.msgtype),
                                                   bytes(raw)))
    return out


def test_stamp_sync_pairs_by_stamp_within_slop():
    sync = StampSync(slop_ns=10)
    assert sync.push('color', 100, 1, 'c100') == []
    assert sync.push('info', 100, 2, 'i100') == []
    assert sync.push('depth', 95, 3, 'd95') == [('c100', 'd95', 'i100', 3)]
    assert sync.push('depth', 300, 4, 'd300') == []
    assert sync.push('color', 200, 5, 'c200') == []  # no depth near 200: waits
    assert sync.push('info', 301, 6, 'i301') == []   # both streams past 210: c200 dropped
    assert sync.unmatched == 1 and list(sync.queues['color']) == []
    assert sync.push('color', 305, 7, 'c305') == [('c305', 'd300', 'i301', 7)]


def test_stamp_sync_without_camera_info_counts_unmatched():
    sync = StampSync(slop_ns=10, queue_size=4)
    for k in range(10):
        assert sync.push('color', k * 100, k, k) == []
        assert sync.push('depth', k * 100, k, k) == []
    assert sync.flush() == []
    assert sync.unmatched == 10 and max(len(q) for q in sync.queues.values()) <= 4


def test_output_topics_follow_the_namespace():
    topics = output_topics('/robot/cleanpose/', debug_image=False)
    assert topics['detections'] == ('/robot/cleanpose/detections', 'Detection3DArray')
    assert topics['tf'] == ('/tf', 'TFMessage') and 'debug_image' not in topics
    assert output_topics('', True)['debug_image'] == ('/debug_image', 'Image')


def test_bag_outputs_equal_the_node_messages(weights, in_bag, tmp_path, T):
    params = NodeParams(node=NodeOptions(publish_debug_image=True))
    summary = process_bag(in_bag, tmp_path / 'out', _pipeline(weights, 2), params)
    assert (summary.frames, summary.objects, summary.unmatched) == (FRAMES, 2 * FRAMES, 0)
    assert summary.rejected == {} and summary.pipeline_ms > 0
    assert 0 < summary.setup_s < summary.wall_s
    pipeline_s = summary.pipeline_ms / 1e3
    assert summary.overhead == pytest.approx(
        (summary.wall_s - summary.setup_s - pipeline_s) / pipeline_s)
    assert summary.total_overhead > summary.overhead
    out, inp = _read(tmp_path / 'out'), _read(in_bag)
    for topic, msgs in inp.items():   # inputs copied byte for byte
        assert [m[2] for m in out[topic]] == [m[2] for m in msgs]
    assert {'/cleanpose/detections', '/cleanpose/objects', '/cleanpose/markers',
            '/cleanpose/debug_image', '/tf', '/diagnostics'} <= set(out)
    tfs = out['/tf']
    assert len(tfs) == FRAMES and all(len(m[1].transforms) == 2 for m in tfs)
    colour = inp[RealSenseTopics().color]
    for (_, tf, _), (_, image, _) in zip(tfs, colour):
        assert tf.transforms[0].header.stamp == image.header.stamp
        assert tf.transforms[0].header.frame_id == 'camera_color_optical_frame'
        assert tf.transforms[0].child_frame_id.startswith('cleanpose/')
    # The node path (FrameProcessor on the same messages) builds identical bytes.
    processor = FrameProcessor(_pipeline(weights, 2), T, params.node)
    depth, info = inp[RealSenseTopics().depth], inp[RealSenseTopics().info]
    for k in range(FRAMES):
        outcome = processor.process(colour[k][1], depth[k][1], info[k][1])
        for key, topic in (('detections', '/cleanpose/detections'),
                           ('objects', '/cleanpose/objects'), ('markers', '/cleanpose/markers'),
                           ('tf', '/tf'), ('debug_image', '/cleanpose/debug_image')):

            assert T.serialize(getattr(outcome.outputs, key)) == out[topic][k][2], key
    diag = out['/diagnostics'][-1][1].status[0]
    assert {kv.key: kv.value for kv in diag.values}['frames_processed'] == str(FRAMES)


def test_warm_message_code_counts_nothing(weights, T):
    processor = FrameProcessor(_pipeline(weights, 2), T, NodeOptions(publish_debug_image=True))
    processor.warm_message_code()
    assert processor.stats.received == 0 and processor.stats.processed == 0
    assert not any(processor.stats.rejected.values()) and processor.last_stamp_ns is None
    assert processor.marker_state.previous_ids == set()


def test_sqlite3_input(weights, in_bag, tmp_path):
    from rosbags.highlevel import AnyReader
    from rosbags.rosbag2 import StoragePlugin, Writer

    sqlite = tmp_path / 'in_sqlite'
    with AnyReader([in_bag]) as reader, Writer(sqlite, version=9,
                                               storage_plugin=StoragePlugin.SQLITE3) as writer:
        conns = {c.id: writer.add_connection(c.topic, c.msgtype, typestore=reader.typestore)
                 for c in reader.connections}
        for conn, log_ns, raw in reader.messages():
            writer.write(conns[conn.id], log_ns, raw)
    summary = process_bag(sqlite, tmp_path / 'out', _pipeline(weights, 0))
    assert summary.frames == FRAMES and summary.objects == 0
    assert summary.skipped == {}


def test_out_of_order_and_duplicate_stamps_are_counted(weights, tmp_path, T):
    from rosbags.rosbag2 import StoragePlugin, Writer

    path = tmp_path / 'shuffled'
    topics = RealSenseTopics()
    rgb, mm = np.zeros((8, 8, 3), np.uint8), np.full((8, 8), 900, '<u2')
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = [writer.add_connection(t, f'sensor_msgs/msg/{n}', typestore=T.typestore)
                 for t, n in ((topics.color, 'Image'), (topics.depth, 'Image'),
                              (topics.info, 'CameraInfo'))]
        for log_k, stamp_k in enumerate([1, 3, 2, 3, 4]):
            stamp = stamp_k * 10**9
            msgs = (image_msg(T, rgb, 'rgb8', stamp_ns=stamp),
                    image_msg(T, mm, '16UC1', stamp_ns=stamp),
                    info_msg(T, width=8, height=8, stamp_ns=stamp))
            for conn, msg in zip(conns, msgs):
                writer.write(conn, log_k * 10**9, T.serialize(msg))
    summary = process_bag(path, tmp_path / 'out', _pipeline(weights, 0))
    assert summary.frames == 3
    assert summary.rejected == {'out_of_order': 1, 'duplicate_stamp': 1}


def test_existing_output_is_refused_and_kept(weights, in_bag, tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'keep.txt').write_text('mine')
    with pytest.raises(ConfigError, match=r'output .*out exists; choose another path'):
        process_bag(in_bag, out, _pipeline(weights, 0))
    assert (out / 'keep.txt').read_text() == 'mine'


def test_missing_topic_names_the_available_ones(weights, in_bag, tmp_path):
    params = NodeParams(node=NodeOptions(color_topic='/cam/rgb'))
    with pytest.raises(DataError, match=r'has no /cam/rgb; its topics are '
                       r'/camera/camera/aligned_depth_to_color/camera_info, '):
        process_bag(in_bag, tmp_path / 'out', _pipeline(weights, 0), params)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def _corrupt_copy(in_bag: Path, tmp_path: Path, how: str) -> Path:
    import shutil

    bad = tmp_path / 'bad'
    shutil.copytree(in_bag, bad)
    mcap = next(bad.glob('*.mcap'))
    data = bytearray(mcap.read_bytes())
    if how == 'truncated':
        data = data[:len(data) // 2]
    elif how == 'garbage':
        data = bytearray(b'\x00' * len(data))
    elif how == 'no_metadata':
        (bad / 'metadata.yaml').write_text('rosbag2_bagfile_information: [\n')
    mcap.write_bytes(bytes(data))
    return bad


@pytest.mark.parametrize('how', ['truncated', 'garbage', 'no_metadata'])
def test_corrupt_input_fails_without_output(weights, in_bag, tmp_path, how):
    bad = _corrupt_copy(in_bag, tmp_path, how)
    with pytest.raises(DataError, match=r'(cannot read input bag|is corrupt or truncated)'):
        process_bag(bad, tmp_path / 'out', _pipeline(weights, 0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['bad']


def test_atomic_writer_removes_partial_output(tmp_path, T):
    with pytest.raises(RuntimeError, match='boom'):
        with atomic_bag_writer(tmp_path / 'x') as writer:
            conn = writer.add_connection('/a', 'std_msgs/msg/Header', typestore=T.typestore)
            writer.write(conn, 1, b'\x00\x01\x00\x00' + bytes(12))
            raise RuntimeError('boom')
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope='module')
def cli_weights(weights, tmp_path_factory) -> dict:
    seg = save_tiny_segmenter(tmp_path_factory.mktemp('seg') / 'seg.safetensors')
    return {'weights': weights, 'segmenter_weights': seg}


def test_cli_runs_and_prints_the_output(cli_weights, in_bag, tmp_path, capsys):
    out = tmp_path / 'out'
    code = main([str(in_bag), str(out), f'weights={cli_weights["weights"]}',
                 f'segmenter_weights={cli_weights["segmenter_weights"]}', 'device=cpu',
                 'min_score=1', 'segmenter_imgsz=64'])
    assert code == 0 and capsys.readouterr().out.strip() == str(out)
    assert len(_read(out)['/cleanpose/detections']) == FRAMES


@pytest.mark.parametrize('args,match', [
    (['{in}', '{in}'], 'exists; choose another path'),
    (['{in}', '{out}', 'min_scor=0.5'], "unknown parameter 'min_scor'; did you mean"),
    (['/no/such/bag', '{out}'], 'input bag /no/such/bag does not exist'),
], ids=['output_exists', 'bad_key', 'missing_input'])
def test_cli_errors_exit_1(cli_weights, in_bag, tmp_path, caplog, args, match):
    argv = [a.format(**{'in': in_bag, 'out': tmp_path / 'out'}) for a in args]
    argv += [f'weights={cli_weights["weights"]}',
             f'segmenter_weights={cli_weights["segmenter_weights"]}', 'segmenter_imgsz=64']
    assert main(argv) == 1
    assert match in caplog.text
    assert not (tmp_path / 'out').exists()
