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

"""One synchronised triple in, the node's messages out: shared by the node and the bag tool.

The node calls ``FrameProcessor.process`` from its worker, the bag tool from its read
loop, so both convert, validate, count and build messages with the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
import time
from typing import Any, Callable, Optional

import numpy as np

from cleanpose_core.pipeline.results import Frame, FrameResult
from cleanpose_ros.conversions import (depth_to_image, InputTopics, K_to_camera_info,
                                       make_header, MessageError, msgs_to_frame, rgb_to_image)
from cleanpose_ros.msg_types import MessageTypes
from cleanpose_ros.outputs import (MarkerState, OutputMessages, PipelineStats,
                                   result_to_messages, stats_to_diagnostics)
from cleanpose_ros.params import NodeOptions

__all__ = ['Outcome', 'FrameProcessor']


@dataclass(frozen=True)
class Outcome:
    """What became of one triple.

    Attributes:
        frame: the converted frame (None when rejected).
        result: the pipeline's result (None when rejected).
        outputs: the messages to publish (None when rejected).
        reason: None when processed, else the counted rejection reason.
        message: the rejection's explanation ('' when processed).
        topic: the topic the rejected message came from.
    """

    frame: Optional[Frame] = None
    result: Optional[FrameResult] = None
    outputs: Optional[OutputMessages] = None
    reason: Optional[str] = None
    message: str = ''
    topic: str = ''


class FrameProcessor:
    """Convert, validate, run the pipeline and build the outputs of one triple.

    Args:
        pipeline: ``pipeline(frame) -> FrameResult`` (a PosePipeline).
        types: message classes to build the outputs with.
        options: topics, tf_prefix, debug image switch.
    """

    def __init__(self, pipeline: Callable[[Frame], FrameResult], types: MessageTypes,
                 options: NodeOptions = NodeOptions()) -> None:
        self.pipeline = pipeline
        self.types = types
        self.options = options
        self.topics = InputTopics(options.color_topic, options.depth_topic,
                                  options.info_topic)
        self.stats = PipelineStats()
        self.marker_state = MarkerState()
        self.last_stamp_ns: Optional[int] = None

    def _reject(self, reason: str, message: str, topic: str) -> Outcome:
        self.stats.rejected[reason] += 1
        return Outcome(reason=reason, message=message, topic=topic)

    def process(self, color_msg: Any, depth_msg: Any, info_msg: Any) -> Outcome:
        """Process one synchronised (colour, depth, camera_info) triple; never raises on bad input.

        Rejections (bad messages, stamps not after the last processed one) are counted in
        ``stats.rejected`` and returned with their reason; the pipeline's own skips are
        counted in ``stats.skipped``.
        """
        start = time.perf_counter()
        try:
            frame = msgs_to_frame(color_msg, depth_msg, info_msg, self.topics)
        except MessageError as err:
            return self._reject(err.reason, str(err), err.topic)
        if self.last_stamp_ns is not None and frame.stamp_ns <= self.last_stamp_ns:
            reason = 'duplicate_stamp' if frame.stamp_ns == self.last_stamp_ns \
                else 'out_of_order'
            return self._reject(reason, f'colour image on {self.topics.color} has stamp '
                                f'{frame.stamp_ns} ns, not after the last processed '
                                f'{self.last_stamp_ns} ns ({reason})', self.topics.color)
        convert_ms = (time.perf_counter() - start) * 1e3
        result = self.pipeline(frame)
        self.last_stamp_ns = frame.stamp_ns
        start = time.perf_counter()
        header = make_header(self.types, frame.stamp_ns, frame.frame_id)
        outputs = result_to_messages(self.types, frame, result, header, self.marker_state,
                                     self.options.tf_prefix, self.options.publish_debug_image)
        convert_ms += (time.perf_counter() - start) * 1e3
        self.stats.add_result(result, convert_ms)
        return Outcome(frame=frame, result=result, outputs=outputs)

    def warm_message_code(self) -> None:
        """Build and (de)serialise one message of every type this processor handles.

        rosbags generates each type's CDR code on first use (tens of milliseconds per
        type); doing it here keeps that one-off cost out of the first frame. Nothing is
        counted and the marker state is left as it was.
        """
        if self.types.typestore is None:  # rclpy: nothing is generated lazily here
            return
        frame = Frame(np.zeros((4, 4, 3), np.uint8), np.ones((4, 4), np.float32),
                      np.array([[4.0, 0, 2], [0, 4.0, 2], [0, 0, 1]]), stamp_ns=1,
                      frame_id='warm_up')
        result = FrameResult(
            category_ids=np.array([1]), scores=np.array([1.0]), R_cam_obj=np.eye(3)[None],
            t_cam_obj=np.array([[0.0, 0.0, 1.0]]), scales=np.array([0.1]),
            sizes=np.full((1, 3), 3 ** -0.5), boxes_xyxy=np.array([[0.0, 0.0, 2.0, 2.0]]),
            track_ids=np.array([1]))
        header = make_header(self.types, frame.stamp_ns, frame.frame_id)
        outputs = result_to_messages(self.types, frame, result, header, MarkerState(),
                                     self.options.tf_prefix, self.options.publish_debug_image)
        messages = [outputs.detections, outputs.objects, outputs.markers, outputs.tf,
                    self.diagnostics(1), rgb_to_image(self.types, frame.color, header),
                    depth_to_image(self.types, frame.depth, header),
                    K_to_camera_info(self.types, frame.K, 4, 4, header)]
        if outputs.debug_image is not None:
            messages.append(outputs.debug_image)
        for msg in messages:
            self.types.typestore.deserialize_cdr(self.types.serialize(msg), msg.__msgtype__)

    def diagnostics(self, stamp_ns: int, node_name: str = 'cleanpose_pose_node') -> Any:
        """Return the diagnostics message of the counters so far."""
        return stats_to_diagnostics(self.types, self.stats, stamp_ns,
                                    name=f'{node_name}: pipeline',
                                    hardware_id=str(getattr(self.pipeline, 'device', '')))
