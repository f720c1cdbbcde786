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

"""Measure the ROS adapter: message conversion per frame and the bag tool's overhead.

usage: python bench/ros_conversions.py --out runs/bench_ros [--runs 200] [--bag-frames 10]

1. Conversion per frame at 640x480 with 6 objects, with the rosbags message classes:
   messages in -> Frame (16UC1 and 32FC1 depth), FrameResult -> every output message
   (detections, objects, TF, markers; with and without the annotated image), and CDR
   serialisation (what the bag tool adds; rclpy serialises in C instead).
2. cleanpose_bag overhead: a synthetic 640x480 bag through process_bag vs the same
   frames through the pipeline alone (weights '' = shipped, else a tiny untrained
   net; ground-truth masks of 6 objects). Also the bag's own cost (read, sync,
   convert, write) with a pipeline that finds nothing.

Prints a table and writes summary.json (median and 90th percentile, milliseconds).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import sys
import tempfile
import time

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'test' / 'ros'))

from ros_factories import box_scene, K_640, random_result, save_tiny_net  # noqa: E402

from cleanpose_core.config import DEFAULT_WEIGHTS, PipelineConfig  # noqa: E402
from cleanpose_core.fileio import atomic_write_json  # noqa: E402
from cleanpose_core.pipeline.pipeline import PosePipeline  # noqa: E402
from cleanpose_core.pipeline.results import Frame  # noqa: E402
from cleanpose_ros.bag import process_bag  # noqa: E402
from cleanpose_ros.conversions import (depth_to_image, K_to_camera_info, make_header,  # noqa: E402
                                       msgs_to_frame, rgb_to_image)
from cleanpose_ros.make_bag import write_rgbd_bag  # noqa: E402
from cleanpose_ros.msg_types import rosbags_types  # noqa: E402
from cleanpose_ros.outputs import MarkerState, result_to_messages  # noqa: E402


def _stats(values_ms: list) -> dict:
    a = np.asarray(values_ms)
    return {'median': round(float(np.median(a)), 3), 'p90': round(float(np.percentile(a, 90)), 3)}


def _time(fn, runs: int) -> dict:
    fn()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1e3)
    return _stats(out)


def bench_conversions(runs: int) -> dict:
    """Time each conversion at 640x480 with 6 objects."""
    T = rosbags_types()
    rng = np.random.default_rng(0)
    header = make_header(T, 1_700_000_000_000_000_000, 'camera_color_optical_frame')
    rgb = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    depth = rng.uniform(0.3, 3.0, (480, 640)).astype(np.float32)
    color_msg = rgb_to_image(T, rgb, header)
    depth_mm = depth_to_image(T, depth, header, '16UC1')
    depth_m = depth_to_image(T, depth, header, '32FC1')
    info = K_to_camera_info(T, K_640, 640, 480, header)
    frame = msgs_to_frame(color_msg, depth_mm, info)
    result = random_result(6, seed=0)
    state = MarkerState()
    out = result_to_messages(T, frame, result, header, state, debug_image=True)

    def everything() -> None:
        f = msgs_to_frame(color_msg, depth_mm, info)
        result_to_messages(T, f, result, header, state)

    timings = {
        'in_16UC1': _time(lambda: msgs_to_frame(color_msg, depth_mm, info), runs),
        'in_32FC1': _time(lambda: msgs_to_frame(color_msg, depth_m, info), runs),
        'out_all': _time(lambda: result_to_messages(T, frame, result, header, state), runs),
        'out_all_with_debug_image': _time(
            lambda: result_to_messages(T, frame, result, header, state, debug_image=True), runs),
        'in_plus_out (node, per frame)': _time(everything, runs),
        'serialize_outputs (bag only)': _time(
            lambda: [T.serialize(m) for m in (out.detections, out.objects, out.tf, out.markers)],
            runs),
        'serialize_debug_image (bag only)': _time(lambda: T.serialize(out.debug_image), runs),
    }
    return {'image': '640x480', 'objects': 6, 'runs': runs, 'backend': 'rosbags',
            'timings_ms': timings}


def bench_bag(frames: int, weights: str) -> dict:
    """Time process_bag against the pipeline alone on the same 640x480, 6-object frames."""
    from cleanpose_core.model.weights import load_weights
    from cleanpose_core.pipeline.segmenter import Segmentation

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if weights:
            pose_weights = Path(weights)
        elif DEFAULT_WEIGHTS.is_file():
            pose_weights = DEFAULT_WEIGHTS
        else:
            pose_weights = save_tiny_net(tmp / 'tiny.safetensors')
        net = load_weights(pose_weights)
        frame, segmentation = box_scene(6, height=480, width=640)
        frames_in = [Frame(box_scene(6, 480, 640, seed=k)[0].color, frame.depth, frame.K)
                     for k in range(frames)]
        write_rgbd_bag(tmp / 'in', frames_in)

        def pipeline(seg: Segmentation) -> PosePipeline:
            pipe = PosePipeline(net, PipelineConfig(min_points=8), lambda color: seg, 'cpu')
            pipe(frames_in[0])
            pipe.reset()
            return pipe

        # Bag cost alone: a pipeline that finds nothing (no network call).
        empty = process_bag(tmp / 'in', tmp / 'out_empty', pipeline(Segmentation()))
        bag_only_s = empty.wall_s - empty.pipeline_ms / 1e3
        alone = pipeline(segmentation)
        start = time.perf_counter()
        for f in frames_in:
            alone(f)
        alone_s = time.perf_counter() - start
        summary = process_bag(tmp / 'in', tmp / 'out', pipeline(segmentation))
    return {'frames': frames, 'weights': str(pose_weights.name), 'image': '640x480',
            'objects': 6, 'bag_only_s': round(bag_only_s, 3),
            'bag_only_ms_per_frame': round(1e3 * bag_only_s / frames, 2),
            'pipeline_alone_s': round(alone_s, 3),
            'pipeline_alone_ms_per_frame': round(1e3 * alone_s / frames, 1),
            'bag_wall_s': round(summary.wall_s, 3),
            'bag_pipeline_s': round(summary.pipeline_ms / 1e3, 3),
            'overhead_vs_pipeline_inside_bag': round(summary.overhead, 4),
            'overhead_vs_pipeline_alone': round(summary.wall_s / alone_s - 1, 4)}


def main() -> int:
    """Run both benchmarks, print them and write summary.json."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', type=Path, default=Path('runs/bench_ros'))
    parser.add_argument('--runs', type=int, default=200)
    parser.add_argument('--bag-frames', type=int, default=10)
    parser.add_argument('--weights', default='', help="pose weights ('' = shipped or tiny)")
    args = parser.parse_args()
    summary = {'conversions': bench_conversions(args.runs),
               'bag': bench_bag(args.bag_frames, args.weights) if args.bag_frames else None,
               'cpu_count': os.cpu_count(),
               'load_avg_1min': round(os.getloadavg()[0], 2)}
    for name, stats in summary['conversions']['timings_ms'].items():
        sys.stdout.write(f'{name:34s} median {stats["median"]:7.3f} ms  '
                         f'p90 {stats["p90"]:7.3f} ms\n')
    if summary['bag']:
        sys.stdout.write(json.dumps(summary['bag'], indent=1) + '\n')
    atomic_write_json(args.out / 'summary.json', summary)
    sys.stdout.write(f'{args.out / "summary.json"}\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
