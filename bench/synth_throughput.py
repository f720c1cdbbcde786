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

"""Measure `cleanpose synth` throughput (frames/s, files included) and write summary.json.

usage: python bench/synth_throughput.py --out runs/bench_synth [--frames 100] [--workers 1 2]

Each worker count renders the same frames (640x480, 3-5 category objects = 4 on
average, no distractors, mixed poses, 25 frames per scene) into a fresh folder
and times the whole run, process start-up of the workers included. Also times the
stages of one process (scene build, ray casting + shading, file writes).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import platform
import shutil
import sys
import time

import numpy as np

from cleanpose_core.data.synth.command import (
    frame_to_record, render_frame, scene_name, setup_synthesis_process, synthesize, SynthSpec)
from cleanpose_core.data.synth.scene import SceneOptions
from cleanpose_core.data.writer import write_frame
from cleanpose_core.fileio import atomic_write_json


def _stage_times(spec: SynthSpec, out: Path, frames: int) -> dict:
    """Median wall and CPU milliseconds of render and write per frame, one process."""
    times = {'render_wall': [], 'render_cpu': [], 'write_wall': [], 'write_cpu': []}
    render_frame(spec, 0, nthreads=1)                      # imports, first scene
    for i in range(frames):
        w0, c0 = time.perf_counter(), time.process_time()
        frame = render_frame(spec, i, nthreads=1)
        w1, c1 = time.perf_counter(), time.process_time()
        scene, k = divmod(i, spec.frames_per_scene)
        write_frame(out, scene_name(scene), k, frame_to_record(frame, scene_name(scene), k))
        w2, c2 = time.perf_counter(), time.process_time()
        times['render_wall'].append(w1 - w0)
        times['render_cpu'].append(c1 - c0)
        times['write_wall'].append(w2 - w1)
        times['write_cpu'].append(c2 - c1)
    out = {f'{k}_ms_median': 1000 * float(np.median(v)) for k, v in times.items()}
    cpu = out['render_cpu_ms_median'] + out['write_cpu_ms_median']
    out['frames'] = frames
    out['single_core_frames_per_s_from_cpu'] = 1000.0 / cpu
    return out


def main(argv=None) -> int:
    """Run the benchmark; print and write OUT/summary.json."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='runs/bench_synth', help='output folder')
    parser.add_argument('--frames', type=int, default=100, help='frames per run')
    parser.add_argument('--workers', type=int, nargs='+', default=[1, 2], help='worker counts')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    setup_synthesis_process()          # as `cleanpose synth` does
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    spec = SynthSpec(seed=args.seed, split='train',
                     scene=SceneOptions(min_objects=3, max_objects=5, max_distractors=0))
    runs = []
    for w in args.workers:
        split_dir = out / f'workers{w}'
        shutil.rmtree(split_dir, ignore_errors=True)
        stats = synthesize(spec, split_dir, args.frames, workers=w, show_progress=False)
        runs.append({'workers': w, **stats})
        sys.stdout.write(f'workers={w}: {stats["frames_per_s"]:.1f} frames/s '
                         f'({stats["frames_written"]} frames in {stats["seconds"]:.1f} s)\n')
    stages_dir = out / 'stages'
    shutil.rmtree(stages_dir, ignore_errors=True)
    stages = _stage_times(spec, stages_dir, min(args.frames, 40))
    st = stages
    sys.stdout.write(
        f'one process, per frame (median): render {st["render_cpu_ms_median"]:.1f} ms CPU '
        f'({st["render_wall_ms_median"]:.1f} ms wall), write {st["write_cpu_ms_median"]:.1f} ms '
        f'CPU ({st["write_wall_ms_median"]:.1f} ms wall) -> '
        f'{st["single_core_frames_per_s_from_cpu"]:.1f} frames/s per free core\n')
    summary = {
        'benchmark': 'synth_throughput', 'width': spec.width, 'height': spec.height,
        'objects_per_scene': [3, 5], 'frames_per_scene': spec.frames_per_scene,
        'runs': runs, 'stages_single_process': stages,
        'cpu_count': os.cpu_count(), 'load_average_1m_at_end': os.getloadavg()[0],
        'python': platform.python_version(), 'time': time.strftime('%Y-%m-%dT%H:%M:%S'),
    }
    atomic_write_json(out / 'summary.json', summary)
    sys.stdout.write(f'{out / "summary.json"}\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
