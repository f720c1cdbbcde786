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

"""Latency of the full pipeline at 640x480 with 1, 3 and 6 objects, on the CPU and CUDA.

Synthetic frames with exactly that many objects go through PosePipeline; each
stage (segment, instances, network, track) and the end-to-end time are reported
as median and 90th percentile milliseconds, plus frames per second (1000 / median
end-to-end). With --masks gt (default) the segmenter runs on every frame and is
timed, but the ground-truth masks feed the later stages, so each row has exactly
that many objects whatever the segmenter finds; --masks segmenter uses its output.
Missing shipped weights are replaced by randomly initialised networks of the same
architecture (the timing is the same; the summary says so).

Writes DIR/summary.json: {"cpu": {"6": {"end_to_end_ms": {"median": .., "p90": ..},
"fps": .., "stages": {stage: {"median": .., "p90": ..}}, ...}, ...}, "cuda": {...},
"info": {...}}.

Examples:
  cleanpose bench --out runs/bench
  cleanpose bench --out runs/bench --objects 6 --runs 50 --devices cpu
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
import platform
import sys
import tempfile
from typing import Optional

import numpy as np
import torch

from cleanpose_core.categories import CATEGORIES
from cleanpose_core.config import (DEFAULT_SEGMENTER, DEFAULT_WEIGHTS, load_config, ModelConfig,
                                   PipelineConfig, resolve_device)
from cleanpose_core.errors import ConfigError
from cleanpose_core.fileio import atomic_write_json
from cleanpose_core.pipeline.demo import synth_spec
from cleanpose_core.pipeline.pipeline import PosePipeline, STAGES
from cleanpose_core.pipeline.results import Frame
from cleanpose_core.pipeline.segmenter import GtMaskSegmenter, Segmentation, YoloSegmenter
from cleanpose_core.pipeline.segmenter_weights import prepare_ultralytics, save_segmenter

__all__ = ['add_arguments', 'run', 'bench_frames', 'benchmark', 'format_table', 'TimedGtSegmenter',
           'percentiles']

log = logging.getLogger(__name__)

MIN_PIXELS = 400   # every object of a 640x480 bench frame shows at least this many pixels


def percentiles(values_ms: list) -> dict:
    """Median and 90th percentile of a list of milliseconds, rounded to 0.01 ms."""
    a = np.asarray(values_ms, dtype=np.float64)
    return {'median': round(float(np.median(a)), 2), 'p90': round(float(np.percentile(a, 90)), 2)}


def bench_frames(num_objects: int, count: int = 3, seed: int = 0, width: int = 640,
                 height: int = 480) -> list:
    """Render synthetic frames in which exactly num_objects category objects are visible.

    Returns:
        list of (Frame, Segmentation of the ground-truth masks, FrameRecord).
    """
    from cleanpose_core.data.synth.command import frame_to_record, render_frame

    spec = synth_spec(num_objects, 1, seed, width, height)
    min_pixels = max(1, round(MIN_PIXELS * width * height / (640 * 480)))
    out = []
    for index in range(count * 20):
        rendered = render_frame(spec, index, nthreads=0)
        record = frame_to_record(rendered, f'bench{num_objects}', index)
        counts = [int((record.mask == i).sum()) for i in record.instance_ids]
        if len(record) != num_objects or min(counts, default=0) < min_pixels:
            continue
        frame = Frame(record.color, record.depth, record.K, stamp_ns=index, frame_id='camera')
        out.append((frame, GtMaskSegmenter()(record), record))
        if len(out) == count:
            return out
    raise RuntimeError(f'could not render {count} frames with {num_objects} visible objects '
                       f'in {count * 20} tries')


class TimedGtSegmenter:
    """Run the real segmenter (so its time is measured), then hand over the GT masks."""

    def __init__(self, segmenter: YoloSegmenter) -> None:
        self.segmenter = segmenter
        self.next: Optional[Segmentation] = None

    def __call__(self, color: np.ndarray) -> Segmentation:
        """Segment color (timed, result dropped) and return the ground truth set in next."""
        self.segmenter(color)
        return self.next


def _pose_weights(path: str, tmp: Path) -> tuple[Path, str]:
    if path:
        return Path(path), path
    if DEFAULT_WEIGHTS.is_file():
        return DEFAULT_WEIGHTS, str(DEFAULT_WEIGHTS)
    from cleanpose_core.model.network import CleanPoseNet
    from cleanpose_core.model.weights import save_weights

    log.warning('no shipped pose weights at %s: timing a randomly initialised network of the '
                'default (small) architecture', DEFAULT_WEIGHTS)
    torch.manual_seed(0)
    return save_weights(tmp / 'random_small.safetensors', CleanPoseNet(ModelConfig())), \
        'random init, model config small'


def _segmenter_weights(path: str, tmp: Path) -> tuple[Path, str]:
    if path:
        return Path(path), path
    if DEFAULT_SEGMENTER.is_file():
        return DEFAULT_SEGMENTER, str(DEFAULT_SEGMENTER)
    prepare_ultralytics()
    from ultralytics.nn.tasks import SegmentationModel

    log.warning('no shipped segmenter at %s: timing an untrained yolo11n-seg (masks come from '
                'the ground truth)', DEFAULT_SEGMENTER)
    torch.manual_seed(0)
    net = SegmentationModel('yolo11n-seg.yaml', nc=len(CATEGORIES), verbose=False)
    net.names = dict(enumerate(CATEGORIES))
    return save_segmenter(tmp / 'untrained_seg.safetensors', net), 'untrained yolo11n-seg'


def benchmark(pipeline: PosePipeline, frames: list, runs: int, warmup: int,
              use_gt: bool) -> dict:
    """Time pipeline over frames (cycled) and summarise one table row.

    Args:
        pipeline: a pipeline whose segmenter is a TimedGtSegmenter when use_gt.
        frames: (Frame, Segmentation, record) triples.
        runs: timed frames.
        warmup: untimed frames first.
        use_gt: feed the ground-truth masks after timing the segmenter.
    """
    timed = pipeline.segmenter if use_gt else None
    per_stage = {s: [] for s in STAGES}
    found = []
    for i in range(warmup + runs):
        frame, gt, _ = frames[i % len(frames)]
        if timed is not None:
            timed.next = gt
        result = pipeline(frame)
        if i >= warmup:
            for s in STAGES:
                per_stage[s].append(result.timings_ms[s])
            found.append(len(result))
    end_to_end = percentiles(per_stage['total'])
    return {'end_to_end_ms': end_to_end,
            'fps': round(1000.0 / max(end_to_end['median'], 1e-6), 2),
            'stages': {s: percentiles(per_stage[s]) for s in STAGES if s != 'total'},
            'objects_found_mean': round(float(np.mean(found)), 2), 'runs': runs}


def format_table(summary: dict) -> str:
    """The summary as a Markdown table (README)."""
    lines = ['| device | objects | end-to-end median ms | p90 ms | fps | segment | instances '
             '| network | track |', '|---|---|---|---|---|---|---|---|---|']
    for device, rows in summary.items():
        if device == 'info':
            continue
        for n, row in rows.items():
            st = row['stages']
            lines.append(f"| {device} | {n} | {row['end_to_end_ms']['median']:.1f} | "
                         f"{row['end_to_end_ms']['p90']:.1f} | {row['fps']:.1f} | "
                         f"{st['segment']['median']:.1f} | {st['instances']['median']:.1f} | "
                         f"{st['network']['median']:.1f} | {st['track']['median']:.2f} |")
    return '\n'.join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `cleanpose bench`."""
    parser.add_argument('--out', default='runs/bench', help='output folder (summary.json)')
    parser.add_argument('-c', '--config', help='YAML config file (pipeline section used)')
    parser.add_argument('--weights', default='', help='pose weights; default: shipped')
    parser.add_argument('--segmenter', default='', help='segmenter weights; default: shipped')
    parser.add_argument('--objects', default='1,3,6', help='object counts, comma separated')
    parser.add_argument('--runs', type=int, default=30, help='timed frames per row')
    parser.add_argument('--warmup', type=int, default=5, help='untimed frames per row')
    parser.add_argument('--devices', default='auto',
                        help="'auto' (cpu, plus cuda when present) or e.g. 'cpu' or 'cpu,cuda'")
    parser.add_argument('--masks', choices=('gt', 'segmenter'), default='gt',
                        help='gt: time the segmenter, feed ground-truth masks (exact object '
                        'counts); segmenter: use its masks')
    parser.add_argument('--seed', type=int, default=0, help='seed of the synthetic frames')
    parser.add_argument('overrides', nargs='*', help='key=value overrides (pipeline.*)')


def run(args: argparse.Namespace) -> int:
    """Benchmark and write summary.json; print the table."""
    try:
        counts = [int(v) for v in str(args.objects).split(',') if v.strip()]
    except ValueError:
        raise ConfigError(f'--objects must be comma-separated integers; got {args.objects!r}') \
            from None
    if not counts or min(counts) < 1 or args.runs < 1 or args.warmup < 0:
        raise ConfigError('--objects must be >= 1, --runs >= 1 and --warmup >= 0')
    if args.devices == 'auto':
        devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    else:
        devices = [d.strip() for d in args.devices.split(',') if d.strip()]
    cfg = load_config(args.config, args.overrides).pipeline
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        weights, weights_info = _pose_weights(args.weights or cfg.weights, tmp)
        seg_weights, seg_info = _segmenter_weights(args.segmenter or cfg.segmenter_weights, tmp)
        use_gt = args.masks == 'gt'
        frames = {n: bench_frames(n, seed=args.seed) for n in counts}
        for device_name in devices:
            device = resolve_device(device_name, '--devices')
            dcfg = PipelineConfig(**{**cfg.__dict__, 'weights': str(weights),
                                     'segmenter_weights': str(seg_weights),
                                     'device': str(device), 'min_score': 0.0})
            pipeline = PosePipeline.from_config(dcfg)
            if use_gt:
                pipeline.segmenter = TimedGtSegmenter(pipeline.segmenter)
            rows = {}
            for n in counts:
                pipeline.reset()
                rows[str(n)] = benchmark(pipeline, frames[n], args.runs, args.warmup, use_gt)
                log.info('bench %s, %d objects: %.1f ms median end to end', device.type, n,
                         rows[str(n)]['end_to_end_ms']['median'])
            summary[device.type] = rows
    summary['info'] = {
        'image': '640x480', 'masks': args.masks, 'weights': weights_info,
        'segmenter': seg_info, 'segmenter_imgsz': cfg.segmenter_imgsz,
        'torch_threads': torch.get_num_threads(), 'cpu_count': os.cpu_count(),
        'cuda_device': torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        'torch': torch.__version__, 'python': platform.python_version(),
        'runs': args.runs, 'warmup': args.warmup, 'seed': args.seed,
    }
    path = out / 'summary.json'
    atomic_write_json(path, summary)
    sys.stdout.write(format_table(summary) + '\n')
    log.info('bench: wrote %s', path)
    return 0
