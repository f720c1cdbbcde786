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

"""Time the class refiner (features + MLP) on the shipped segmenter's detections.

usage: python bench/class_refiner.py --data data/synth_val3 --out runs/bench_refiner
       [--split test] [--frames 30]

Prints and writes summary.json: milliseconds per detection and per frame (median, p90).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import time

import numpy as np

from cleanpose_core.config import PipelineConfig
from cleanpose_core.data.nocs import NocsSplit
from cleanpose_core.eval.evaluate import select_frames
from cleanpose_core.fileio import atomic_write_json
from cleanpose_core.pipeline.class_refiner import refine_frame
from cleanpose_core.pipeline.pipeline import PosePipeline
from cleanpose_core.pipeline.results import Frame


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data', required=True, help='dataset root')
    parser.add_argument('--split', default='test', help='split folder')
    parser.add_argument('--out', required=True, type=Path, help='output folder')
    parser.add_argument('--frames', type=int, default=30, help='frames timed, spread evenly')
    args = parser.parse_args()
    pipeline = PosePipeline.from_config(PipelineConfig(min_score=0.0, device='cpu'))
    refiner = pipeline.refiner
    if refiner is None:
        raise SystemExit('no class refiner is shipped')
    split = NocsSplit(args.data, args.split)
    per_frame, detections = [], 0
    for i in select_frames(len(split), args.frames):
        record = split[i]
        frame = Frame(record.color, record.depth, record.K)
        dets, plane = pipeline.detect(frame, refine=False)  # the segment stage without it ...
        if plane is None or not dets:
            continue
        start = time.perf_counter()                         # ... then just the refiner
        refine_frame(refiner, frame.depth, frame.K, dets, plane, pipeline.cfg.depth_gap)
        per_frame.append((time.perf_counter() - start) * 1e3)
        detections += len(dets)
    summary = {'frames': len(per_frame), 'detections': detections,
               'ms_per_detection': round(float(np.sum(per_frame)) / max(detections, 1), 2),
               'frame_median_ms': round(float(np.median(per_frame)), 2),
               'frame_p90_ms': round(float(np.percentile(per_frame, 90)), 2)}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / 'summary.json', summary)
    print(json.dumps(summary))


if __name__ == '__main__':
    main()
