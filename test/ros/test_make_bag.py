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

"""cleanpose make-bag: RealSense-style synthetic RGB-D bags that read back exactly."""

from __future__ import annotations

from importlib import metadata

import numpy as np
import pytest
from ros_factories import box_scene

from cleanpose_core.errors import ConfigError
from cleanpose_ros.conversions import msgs_to_frame, stamp_to_ns
from cleanpose_ros.make_bag import (OPTICAL_FRAME, RealSenseTopics, START_NS,
                                    write_rgbd_bag)


def _read(path):
    from rosbags.highlevel import AnyReader

    with AnyReader([path]) as reader:
        qos = {c.topic: c.ext.offered_qos_profiles for c in reader.connections}
        msgs: dict = {}
        for conn, log_ns, raw in reader.messages():
            msgs.setdefault(conn.topic, []).append((log_ns, reader.deserialize(raw,
                                                                               conn.msgtype)))
    return msgs, qos


@pytest.mark.parametrize('encoding', ['16UC1', '32FC1'])
def test_bag_reads_back_as_the_frames(tmp_path, encoding):
    frames = [box_scene(2, seed=k)[0] for k in range(3)]
    assert write_rgbd_bag(tmp_path / 'bag', frames, fps=10.0, depth_encoding=encoding) == 3
    msgs, qos = _read(tmp_path / 'bag')
    topics = RealSenseTopics()
    assert {t: len(m) for t, m in msgs.items()} == {
        topics.color: 3, topics.depth: 3, topics.info: 3, topics.depth_info: 3, '/tf_static': 1}
    for k, frame in enumerate(frames):
        color, depth, info = (msgs[t][k][1] for t in (topics.color, topics.depth, topics.info))
        assert depth.encoding == encoding and color.encoding == 'rgb8'
        back = msgs_to_frame(color, depth, info)
        np.testing.assert_array_equal(back.color, frame.color)
        np.testing.assert_allclose(back.depth, frame.depth, atol=5e-4 if encoding == '16UC1'
                                   else 0)
        np.testing.assert_array_equal(back.K, frame.K)
        assert back.stamp_ns == START_NS + k * 100_000_000 == msgs[topics.color][k][0]
        assert back.frame_id == OPTICAL_FRAME
    static = msgs['/tf_static'][0][1].transforms[0]
    assert (static.header.frame_id, static.child_frame_id) == ('camera_link', OPTICAL_FRAME)
    assert stamp_to_ns(static.header.stamp) == START_NS
    assert qos['/tf_static'][0].durability.name == 'TRANSIENT_LOCAL'


def test_refuses_existing_output_and_bad_fps(tmp_path):
    (tmp_path / 'bag').mkdir()
    with pytest.raises(ConfigError, match='exists; choose another path'):
        write_rgbd_bag(tmp_path / 'bag', [])
    with pytest.raises(ConfigError, match=r'fps must be > 0; got 0'):
        write_rgbd_bag(tmp_path / 'other', [], fps=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['bag']


def test_failed_frame_leaves_no_bag(tmp_path):
    def frames():
        yield box_scene(1)[0]
        raise RuntimeError('renderer died')

    with pytest.raises(RuntimeError, match='renderer died'):
        write_rgbd_bag(tmp_path / 'bag', frames())
    assert list(tmp_path.iterdir()) == []


def test_make_bag_is_a_cleanpose_command():
    entries = {e.name: e.value for e in metadata.entry_points(group='cleanpose.commands')}
    assert entries.get('make-bag') == 'cleanpose_ros.make_bag'


def test_cleanpose_make_bag_command(tmp_path, capsys):
    from cleanpose_core.cli import main

    out = tmp_path / 'demo_bag'
    assert main(['make-bag', '--out', str(out), '--frames', '2', '--objects', '2']) == 0
    assert capsys.readouterr().out.strip() == str(out)
    msgs, _ = _read(out)
    assert len(msgs[RealSenseTopics().color]) == 2
