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


"""Time pipeline.table.clear_table alone on the ground-truth masks of real split frames.

usage: python bench/table_clearance.py --data data/synth_val --out runs/bench_table
       [--split test] [--frames 20] [--repeats 20]

Prints and writes summary.json: median and 90th percentile milliseconds per frame.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import time

import numpy as np

from cleanpose_core.data.nocs import NocsSplit
from cleanpose_core.fileio import atomic_write_json
from cleanpose_core.pipeline.table import clear_table


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data', required=True, help='dataset root')
    parser.add_argument('--split', default='test', help='split folder')
    parser.add_argument('--out', required=True, type=Path, help='output folder')
    parser.add_argument('--frames', type=int, default=20, help='frames timed')
    parser.add_argument('--repeats', type=int, default=20, help='calls per frame')
    parser.add_argument('--clearance', type=float, default=0.005, help='metres')
    args = parser.parse_args()
    split = NocsSplit(args.data, args.split)
    times = []
    for f in range(min(args.frames, len(split))):
        record = split[f]
        masks = [record.instance_mask(i) for i in range(len(record))]
        for _ in range(args.repeats):
            start = time.perf_counter()
            clear_table(record.depth, record.K, masks, args.clearance, np.random.default_rng(0))
            times.append((time.perf_counter() - start) * 1e3)
    summary = {'frames': min(args.frames, len(split)), 'calls': len(times),
               'median_ms': round(float(np.median(times)), 2),
               'p90_ms': round(float(np.percentile(times, 90)), 2)}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / 'summary.json', summary)
    print(json.dumps(summary))


if __name__ == '__main__':
    main()
