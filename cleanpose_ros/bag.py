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

"""cleanpose_bag: run the pipeline over a recorded rosbag2, write what the node publishes.

    cleanpose_bag IN OUT [--color-topic T] [--depth-topic T] [--info-topic T]
                  [--params config/pose.yaml] [key=value ...]

Reads an mcap or sqlite3 rosbag2 (directory or .mcap file) with rosbags, streaming;
pairs colour, aligned depth and camera_info by header stamp; runs the pipeline; writes a
new mcap rosbag2 holding every input topic plus the node's outputs (detections, objects,
markers, /tf, /diagnostics, optionally debug_image), built by the same code as the
node's (processing.FrameProcessor). No ROS install needed. The output is written in a
temporary folder next to OUT and renamed onto OUT at the end: a failed run leaves no
output. Exit 0 ok, 1 failure (corrupt input, OUT exists, ...), 2 usage.
"""

from __future__ import annotations

import argparse
import contextlib
from dataclasses import dataclass, field
import logging
from pathlib import Path
import sys
import time
from typing import Any, Callable, Optional, Sequence

from cleanpose_core.errors import CleanPoseError, ConfigError, DataError
from cleanpose_core.log import progress, setup_logging
from cleanpose_core.pipeline.results import Frame, FrameResult
from cleanpose_ros.bag_io import (atomic_bag_writer, iterate_messages, reader_errors,
                                  StampSync)
from cleanpose_ros.conversions import stamp_to_ns
from cleanpose_ros.msg_types import MessageTypes, rosbags_types
from cleanpose_ros.outputs import OUTPUT_TOPICS
from cleanpose_ros.params import (load_params_file, NodeParams, params_from_values,
                                  parse_overrides)
from cleanpose_ros.processing import FrameProcessor

__all__ = ['BagSummary', 'process_bag', 'output_topics', 'main']

log = logging.getLogger(__name__)


def output_topics(namespace: str, debug_image: bool) -> dict:
    """Return output name -> (topic, message name) as the node in ``namespace`` publishes."""
    ns = '/' + namespace.strip('/') if namespace.strip('/') else ''
    out = {}
    for key, (topic, name) in OUTPUT_TOPICS.items():
        if key == 'debug_image' and not debug_image:
            continue
        out[key] = (topic if topic.startswith('/') else f'{ns}/{topic}', name)
    return out


@dataclass
class BagSummary:
    """What a bag run did.

    Attributes:
        frames: triples processed by the pipeline.
        objects: poses written.
        rejected: reason -> triples rejected (conversions, stamps).
        skipped: reason -> instances/frames the pipeline skipped.
        unmatched: colour images without depth/camera_info within the slop.
        messages_in: input messages copied.
        wall_s: total run time.
        setup_s: part of wall_s before the first message: opening both bags, adding the
            output connections, generating the message code.
        pipeline_ms: time spent inside the pipeline.
        convert_ms: time spent converting messages in and out.
    """

    frames: int = 0
    objects: int = 0
    rejected: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    unmatched: int = 0
    messages_in: int = 0
    wall_s: float = 0.0
    setup_s: float = 0.0
    pipeline_ms: float = 0.0
    convert_ms: float = 0.0

    @property
    def overhead(self) -> float:
        """Per-frame time outside the pipeline over time inside it, once set up.

        Reading, pairing, converting, serialising and writing, the closing of the output
        bag included; ``setup_s`` is not (see total_overhead). This is what compares with
        ``cleanpose bench``, which times warmed-up frames too.
        """
        pipeline_s = self.pipeline_ms / 1e3
        steady_s = self.wall_s - self.setup_s - pipeline_s
        return steady_s / pipeline_s if pipeline_s > 0 else float('nan')

    @property
    def total_overhead(self) -> float:
        """All time outside the pipeline (set-up included) over time inside it."""
        pipeline_s = self.pipeline_ms / 1e3
        return (self.wall_s - pipeline_s) / pipeline_s if pipeline_s > 0 else float('nan')


class _TimedPipeline:
    """Wrap a pipeline callable to sum the time spent in it."""

    def __init__(self, pipeline: Callable[[Frame], FrameResult]) -> None:
        self.pipeline = pipeline
        self.total_ms = 0.0
        self.device = getattr(pipeline, 'device', '')

    def __call__(self, frame: Frame) -> FrameResult:
        start = time.perf_counter()
        try:
            return self.pipeline(frame)
        finally:
            self.total_ms += (time.perf_counter() - start) * 1e3


def process_bag(in_path: str | Path, out_path: str | Path,
                pipeline: Callable[[Frame], FrameResult], params: NodeParams = NodeParams(),
                namespace: str = 'cleanpose', types: Optional[MessageTypes] = None,
                show_progress: bool = False) -> BagSummary:
    """Run the pipeline over a rosbag2 and write a new mcap bag with inputs + outputs.

    Args:
        in_path: rosbag2 folder (mcap or sqlite3) or .mcap file.
        out_path: new bag folder; must not exist.
        pipeline: ``pipeline(frame) -> FrameResult`` (a PosePipeline).
        params: node options (topics, tf_prefix, debug image, sync slop).
        namespace: the node's namespace, prefix of the relative output topics.
        types: rosbags message classes (default: rosbags_types()).
        show_progress: tqdm bar over the input messages (on a terminal).

    Raises:
        DataError: missing, corrupt or truncated input, or a missing input topic.
        ConfigError: the output exists.
    """
    from rosbags.highlevel import AnyReader

    start = time.perf_counter()
    in_path, out_path = Path(in_path), Path(out_path)
    types = types or rosbags_types()
    options = params.node
    if not in_path.exists():
        raise DataError(f'input bag {in_path} does not exist')
    if out_path.exists():
        raise ConfigError(f'output {out_path} exists; choose another path or delete it first')
    errors = reader_errors()
    timed = _TimedPipeline(pipeline)
    processor = FrameProcessor(timed, types, options)
    topics = {'color': options.color_topic, 'depth': options.depth_topic,
              'info': options.info_topic}
    summary = BagSummary()
    sync = StampSync(int(options.sync_slop * 1e9), queue_size=max(30, options.sync_queue_size))
    outputs = output_topics(namespace, options.publish_debug_image)
    try:
        reader = AnyReader([in_path], default_typestore=types.typestore)
        reader.open()
    except errors as err:
        raise DataError(f'cannot read input bag {in_path}: {err}') from None
    with contextlib.closing(reader), atomic_bag_writer(out_path) as writer:
        by_topic = {c.topic: c for c in reader.connections}
        missing = [t for t in topics.values() if t not in by_topic]
        if missing:
            raise DataError(f'input bag {in_path} has no {", ".join(missing)}; its topics are '
                            f'{", ".join(sorted(by_topic)) or "none"} (set --color-topic, '
                            '--depth-topic, --info-topic)')
        copies = {}
        for conn in reader.connections:
            copies[conn.id] = writer.add_connection(
                conn.topic, conn.msgtype, typestore=reader.typestore,
                serialization_format=conn.ext.serialization_format,
                offered_qos_profiles=conn.ext.offered_qos_profiles)
        out_conns = {}
        for key, (topic, name) in outputs.items():
            msgtype = types.type_name(name)
            existing = next((copies[c.id] for c in reader.connections
                             if c.topic == topic and c.msgtype == msgtype), None)
            out_conns[key] = existing or writer.add_connection(topic, msgtype,
                                                               typestore=types.typestore)
        key_of = {by_topic[t].id: k for k, t in topics.items()}
        processor.warm_message_code()
        summary.setup_s = time.perf_counter() - start
        next_diag_ns: Optional[int] = None
        period_ns = int(options.diagnostics_period * 1e9)
        total = sum(c.msgcount for c in reader.connections)
        bar = {} if show_progress else {'disable': True}
        for conn, log_ns, raw in progress(iterate_messages(reader, in_path, errors), total=total,
                                          unit='msg', **bar):
            writer.write(copies[conn.id], log_ns, raw)
            summary.messages_in += 1
            key = key_of.get(conn.id)
            if key is None:
                continue
            try:
                msg = reader.deserialize(raw, conn.msgtype)
                stamp = stamp_to_ns(msg.header.stamp)
            except errors as err:
                raise DataError(f'input bag {in_path}: cannot decode a {conn.msgtype} on '
                                f'{conn.topic}: {err}') from None
            for color, depth, info, ready_ns in sync.push(key, stamp, log_ns, msg):
                next_diag_ns = _process(processor, writer, out_conns, color, depth, info,
                                        ready_ns, next_diag_ns, period_ns, summary)
        for color, depth, info, ready_ns in sync.flush():
            next_diag_ns = _process(processor, writer, out_conns, color, depth, info, ready_ns,
                                    next_diag_ns, period_ns, summary)
        if processor.last_stamp_ns is not None:
            diag = processor.diagnostics(processor.last_stamp_ns)
            writer.write(out_conns['diagnostics'], processor.last_stamp_ns,
                         types.serialize(diag))
    stats = processor.stats
    summary.frames = stats.processed
    summary.rejected = dict(stats.rejected)
    summary.skipped = dict(stats.skipped)
    summary.unmatched = sync.unmatched
    summary.pipeline_ms = timed.total_ms
    summary.wall_s = time.perf_counter() - start
    return summary


def _process(processor: FrameProcessor, writer: Any, out_conns: dict, color: Any, depth: Any,
             info: Any, ready_ns: int, next_diag_ns: Optional[int], period_ns: int,
             summary: BagSummary) -> Optional[int]:
    """Process one triple and write its outputs; return the next diagnostics time."""
    types = processor.types
    processor.stats.received += 1
    outcome = processor.process(color, depth, info)
    if outcome.reason is not None:
        if processor.stats.rejected[outcome.reason] == 1:
            log.warning('skipping frame (%s): %s', outcome.reason, outcome.message)
        return next_diag_ns
    out = outcome.outputs
    write_start = time.perf_counter()
    writer.write(out_conns['detections'], ready_ns, types.serialize(out.detections))
    writer.write(out_conns['objects'], ready_ns, types.serialize(out.objects))
    writer.write(out_conns['markers'], ready_ns, types.serialize(out.markers))
    if out.tf.transforms:
        writer.write(out_conns['tf'], ready_ns, types.serialize(out.tf))
    if 'debug_image' in out_conns and out.debug_image is not None:
        writer.write(out_conns['debug_image'], ready_ns, types.serialize(out.debug_image))
    summary.objects += len(outcome.result)
    summary.convert_ms += processor.stats.timings_ms.get('convert', 0.0) + (
        time.perf_counter() - write_start) * 1e3
    stamp_ns = outcome.frame.stamp_ns
    if next_diag_ns is None or stamp_ns >= next_diag_ns:
        writer.write(out_conns['diagnostics'], ready_ns,
                     types.serialize(processor.diagnostics(stamp_ns)))
        next_diag_ns = stamp_ns + period_ns
    return next_diag_ns


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of cleanpose_bag."""
    parser = argparse.ArgumentParser(
        prog='cleanpose_bag', description=__doc__.split('\n\n')[0],
        epilog='examples:\n  cleanpose_bag demo_bag out_bag\n'
               '  cleanpose_bag in.mcap out_bag min_score=0.5 device=cpu\n'
               '  cleanpose_bag rec out --params config/pose.yaml --debug-image',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('input', type=Path, help='rosbag2 folder (mcap or sqlite3) or .mcap file')
    parser.add_argument('output', type=Path, help='new rosbag2 (mcap) folder; must not exist')
    parser.add_argument('--color-topic', help='colour image topic (default: params)')
    parser.add_argument('--depth-topic', help='aligned depth topic (default: params)')
    parser.add_argument('--info-topic', help='colour camera_info topic (default: params)')
    parser.add_argument('--params', type=Path, help='ROS 2 params file (config/pose.yaml)')
    parser.add_argument('--namespace', default='cleanpose',
                        help='node namespace of the output topics (default: cleanpose)')
    parser.add_argument('--debug-image', action='store_true',
                        help='also write the annotated image')
    parser.add_argument('--debug', action='store_true', help='show tracebacks of errors')
    parser.add_argument('-v', '--verbose', action='store_true', help='debug logging')
    parser.add_argument('overrides', nargs='*', help='parameter overrides key=value, '
                        'e.g. min_score=0.5 device=cpu')
    return parser


def params_from_args(args: argparse.Namespace) -> NodeParams:
    """Resolve defaults, then --params, then key=value, then the topic/debug options."""
    params = load_params_file(args.params) if args.params else NodeParams()
    values = parse_overrides(args.overrides)
    for name in ('color_topic', 'depth_topic', 'info_topic'):
        if getattr(args, name):
            values[name] = getattr(args, name)
    if args.debug_image:
        values['publish_debug_image'] = True
    return params_from_values(values, strict=False, base=params, source='command line')


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run cleanpose_bag; exit 0 ok, 1 failure, 2 usage."""
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        params = params_from_args(args)
        # Fail on the paths before the (slow) model loading.
        if not args.input.exists():
            raise DataError(f'input bag {args.input} does not exist')
        if args.output.exists():
            raise ConfigError(f'output {args.output} exists; choose another path or delete it '
                              'first')
        from cleanpose_core.pipeline.pipeline import PosePipeline

        pipeline = PosePipeline.from_config(params.pipeline)
        pipeline.warmup()  # as the node does: lazy set-up stays out of the first frame
        summary = process_bag(args.input, args.output, pipeline, params, args.namespace,
                              show_progress=True)
    except CleanPoseError as err:
        if args.debug:
            raise
        log.error('%s', err)
        return 1
    except KeyboardInterrupt:
        log.error('interrupted; no output written')
        return 130
    log.info('%d frames, %d poses; rejected %s; unmatched colour images %d; pipeline %.2f s, '
             'wall %.2f s, set-up %.2f s (overhead per frame %.1f %%, with set-up %.1f %%)',
             summary.frames, summary.objects, summary.rejected or 'none', summary.unmatched,
             summary.pipeline_ms / 1e3, summary.wall_s, summary.setup_s,
             100 * summary.overhead, 100 * summary.total_overhead)
    sys.stdout.write(f'{args.output}\n')
    return 0
