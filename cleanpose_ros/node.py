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

"""The ROS 2 node: synchronised colour, aligned depth and camera_info in; poses out.

A thin adapter: parameters (params.PARAMS) -> PipelineConfig -> PosePipeline; the
synchroniser's callback only stores the newest triple (counting the one it replaces as
dropped); a worker timer in its own callback group hands it to FrameProcessor and
publishes what comes back. The only module that imports rclpy.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any, Iterator, Optional

import message_filters
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                ParameterType, SetParametersResult)
import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
import rclpy.exceptions
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.logging import get_logger
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data, QoSOverridingOptions
from tf2_ros import TransformBroadcaster

from cleanpose_core.errors import CleanPoseError
from cleanpose_core.pipeline.pipeline import PosePipeline
from cleanpose_ros.msg_types import rclpy_types
from cleanpose_ros.outputs import OUTPUT_TOPICS
from cleanpose_ros.params import (NODE_NAME, PARAMS, params_from_values, ParamSpec,
                                  runtime_update)
from cleanpose_ros.processing import FrameProcessor

__all__ = ['PoseNode', 'main', 'descriptor']

_ROS_TYPES = {'bool': ParameterType.PARAMETER_BOOL, 'int': ParameterType.PARAMETER_INTEGER,
              'double': ParameterType.PARAMETER_DOUBLE, 'string': ParameterType.PARAMETER_STRING,
              'string_array': ParameterType.PARAMETER_STRING_ARRAY}
_UNINITIALIZED = getattr(rclpy.exceptions, 'ParameterUninitializedException', LookupError)
# A params file value of the wrong type or out of range fails rclpy's declare_parameter.
_BAD_PARAMETER = tuple(getattr(rclpy.exceptions, name) for name in (
    'InvalidParameterTypeException', 'InvalidParameterValueException')
    if hasattr(rclpy.exceptions, name))
_WORKER_PERIOD_S = 0.005
_STALL_S = 5.0


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """Build the ParameterDescriptor of one PARAMS entry (description, range, read_only)."""
    desc = ParameterDescriptor(name=spec.name, type=_ROS_TYPES[spec.kind],
                               description=spec.description,
                               additional_constraints=spec.constraints,
                               read_only=spec.read_only)
    if spec.low is not None and spec.high is not None:
        if spec.kind == 'double':
            desc.floating_point_range = [FloatingPointRange(
                from_value=float(spec.low), to_value=float(spec.high), step=0.0)]
        elif spec.kind == 'int':
            desc.integer_range = [IntegerRange(from_value=int(spec.low), to_value=int(spec.high),
                                               step=int(spec.step))]
    return desc


class _RosLogHandler(logging.Handler):
    """Forward cleanpose_core / cleanpose_ros log records to the node's logger."""

    def __init__(self, node: Node) -> None:
        super().__init__()
        self.ros_logger = node.get_logger()

    def emit(self, record: logging.LogRecord) -> None:
        text = f'{record.name}: {record.getMessage()}'
        if record.levelno >= logging.ERROR:
            self.ros_logger.error(text)
        elif record.levelno >= logging.WARNING:
            self.ros_logger.warning(text)
        elif record.levelno >= logging.INFO:
            self.ros_logger.info(text)
        else:
            self.ros_logger.debug(text)


class PoseNode(Node):
    """Category-level 6D poses of the objects seen by an RGB-D camera.

    Raises:
        CleanPoseError: a bad parameter or missing/corrupt weights (at start-up).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._log_handler = _RosLogHandler(self)
        for name in ('cleanpose_core', 'cleanpose_ros'):
            logging.getLogger(name).addHandler(self._log_handler)
            logging.getLogger(name).setLevel(logging.INFO)
        self.params = params_from_values(self._declare_parameters(), strict=True,
                                         source='node parameters')
        options = self.params.node
        self.types = rclpy_types()
        self.pipeline = PosePipeline.from_config(self.params.pipeline)
        self.pipeline.warmup()
        self.processor = FrameProcessor(self.pipeline, self.types, options)
        self._lock = threading.Lock()
        self._pending: Optional[tuple] = None
        self._arrivals = {'color': 0, 'depth': 0, 'info': 0}
        self._last_triple = time.monotonic()
        self._seen_at_check = dict(self._arrivals)

        T = self.types
        self.pubs = {
            'detections': self.create_publisher(T.Detection3DArray,
                                                OUTPUT_TOPICS['detections'][0], 10),
            'objects': self.create_publisher(T.ObjectPoseArray, OUTPUT_TOPICS['objects'][0], 10),
            'diagnostics': self.create_publisher(T.DiagnosticArray,
                                                 OUTPUT_TOPICS['diagnostics'][0], 10),
        }
        if options.publish_markers:
            self.pubs['markers'] = self.create_publisher(
                T.MarkerArray, OUTPUT_TOPICS['markers'][0], 10)
        if options.publish_debug_image:
            self.pubs['debug_image'] = self.create_publisher(
                T.Image, OUTPUT_TOPICS['debug_image'][0], 10)
        self.tf_broadcaster = TransformBroadcaster(self) if options.publish_tf else None

        # Sensor-data QoS (best effort), overridable per topic with qos_overrides.* params.
        subs = []
        for key, msg_type, topic in (('color', T.Image, options.color_topic),
                                     ('depth', T.Image, options.depth_topic),
                                     ('info', T.CameraInfo, options.info_topic)):
            sub = message_filters.Subscriber(
                self, msg_type, topic, qos_profile=qos_profile_sensor_data,
                qos_overriding_options=QoSOverridingOptions.with_default_policies())
            sub.registerCallback(self._count_arrival, key)
            subs.append(sub)
        self.sync = message_filters.ApproximateTimeSynchronizer(
            subs, queue_size=options.sync_queue_size, slop=options.sync_slop)
        self.sync.registerCallback(self._on_triple)

        worker_group = MutuallyExclusiveCallbackGroup()
        self.worker = self.create_timer(_WORKER_PERIOD_S, self._work,
                                        callback_group=worker_group)
        self.diag_timer = self.create_timer(options.diagnostics_period, self._diagnose,
                                            callback_group=worker_group)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.get_logger().info(
            f'listening to {options.color_topic}, {options.depth_topic}, {options.info_topic}; '
            f'publishing {", ".join(sorted(self.pubs))}'
            f'{", tf" if self.tf_broadcaster else ""}')

    def _declare_parameters(self) -> dict:
        """Declare every PARAMS entry with its descriptor; return the values set."""
        values = {}
        for spec in PARAMS:
            default = spec.default
            if spec.kind == 'string_array' and not default:
                default = Parameter.Type.STRING_ARRAY  # [] would be typed as a byte array
            self.declare_parameter(spec.name, default, descriptor(spec))
            try:
                value = self.get_parameter(spec.name).value
            except _UNINITIALIZED:
                continue
            if value is None:
                continue
            values[spec.name] = list(value) if spec.kind == 'string_array' else value
        return values

    def _count_arrival(self, msg: Any, key: str) -> None:
        self._arrivals[key] += 1

    def _on_triple(self, color: Any, depth: Any, info: Any) -> None:
        """Keep only the newest triple; the one it replaces is counted as dropped."""
        with self._lock:
            if self._pending is not None:
                self.processor.stats.dropped += 1
            self._pending = (color, depth, info)
            self.processor.stats.received += 1
            self._last_triple = time.monotonic()

    def _work(self) -> None:
        with self._lock:
            triple, self._pending = self._pending, None
        if triple is None:
            return
        try:
            outcome = self.processor.process(*triple)
        except Exception as err:  # the node outlives one bad frame; counted and logged
            self.processor.stats.rejected['pipeline_error'] += 1
            self.get_logger().error(f'pipeline failed on a frame from '
                                    f'{self.processor.topics.color}: {err!r}',
                                    throttle_duration_sec=5.0)
            return
        if outcome.reason is not None:
            self.get_logger().warning(f'skipping frame ({outcome.reason}): {outcome.message}',
                                      throttle_duration_sec=5.0)
            return
        out = outcome.outputs
        self.pubs['detections'].publish(out.detections)
        self.pubs['objects'].publish(out.objects)
        if 'markers' in self.pubs:
            self.pubs['markers'].publish(out.markers)
        if 'debug_image' in self.pubs and out.debug_image is not None:
            self.pubs['debug_image'].publish(out.debug_image)
        if self.tf_broadcaster is not None and out.tf.transforms:
            self.tf_broadcaster.sendTransform(list(out.tf.transforms))

    def _diagnose(self) -> None:
        now_ns = self.get_clock().now().nanoseconds
        self.pubs['diagnostics'].publish(self.processor.diagnostics(now_ns, NODE_NAME))
        if time.monotonic() - self._last_triple > _STALL_S:
            silent = [k for k, n in self._arrivals.items() if n == self._seen_at_check[k]]
            topics = {'color': self.processor.topics.color,
                      'depth': self.processor.topics.depth, 'info': self.processor.topics.info}
            if silent and len(silent) < 3:
                self.get_logger().warning(
                    f'no synchronised frame for {_STALL_S:.0f} s: nothing received on '
                    f'{", ".join(topics[k] for k in silent)} (check the topic names, the '
                    'camera_info publisher and the QoS)', throttle_duration_sec=5.0)
            elif not silent:
                self.get_logger().warning(
                    f'no synchronised frame for {_STALL_S:.0f} s although colour, depth and '
                    'camera_info arrive: their stamps differ by more than sync_slop '
                    f'({self.params.node.sync_slop} s)', throttle_duration_sec=5.0)
        self._seen_at_check = dict(self._arrivals)

    def _on_set_parameters(self, parameters: list) -> SetParametersResult:
        """Validate runtime changes (thresholds only) exactly as at start-up."""
        known = {spec.name for spec in PARAMS}
        changes = {p.name: list(p.value) if isinstance(p.value, (list, tuple)) else p.value
                   for p in parameters if p.name in known}
        if not changes:
            return SetParametersResult(successful=True)
        try:
            updated = runtime_update(self.params, changes)
        except CleanPoseError as err:
            return SetParametersResult(successful=False, reason=str(err))
        self.params = updated
        # runtime_update allows only runtime pipeline keys; the pipeline applies them.
        self.pipeline.update_config(**{k: getattr(updated.pipeline, k) for k in changes
                                       if hasattr(updated.pipeline, k)})
        self.get_logger().info('updated ' + ', '.join(f'{k}={v}' for k, v in changes.items()))
        return SetParametersResult(successful=True)

    def destroy_node(self) -> None:
        """Detach the log forwarding, then destroy the node."""
        for name in ('cleanpose_core', 'cleanpose_ros'):
            logging.getLogger(name).removeHandler(self._log_handler)
        super().destroy_node()


@contextlib.contextmanager
def _ros_initialized(args: Optional[list]) -> Iterator[None]:
    """``with rclpy.init(args=args):`` on Jazzy and newer; init/try_shutdown on Humble."""
    manager = rclpy.init(args=args)
    if manager is not None:
        with manager:
            yield
        return
    try:
        yield
    finally:
        rclpy.try_shutdown()


def main(args: Optional[list] = None) -> int:
    """Run the node until Ctrl-C or shutdown; exit 1 on a start-up error."""
    try:
        with _ros_initialized(args):
            node = PoseNode()
            executor = MultiThreadedExecutor(num_threads=2)
            executor.add_node(node)
            try:
                executor.spin()
            finally:
                node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0
    except (CleanPoseError, *_BAD_PARAMETER) as err:
        get_logger(NODE_NAME).fatal(str(err))
        return 1
    return 0
