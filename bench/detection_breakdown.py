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

"""Where a full-pipeline evaluation loses its IoU50 AP: a breakdown of its predictions.

usage: python bench/detection_breakdown.py --eval runs/eval/seg9_test_final
       [--out runs/eval/seg9_test_final/breakdown.json]

Reads the predictions that `cleanpose eval --masks segmenter` wrote and, per category,
goes through each frame's predictions by descending score, as the benchmark does: a
prediction is found when a not yet taken ground-truth object of its category overlaps
it by 3D IoU >= 0.5. Every ground-truth object left over is counted as localised badly
(its category's best prediction overlaps 0.1-0.5), mislabelled (only predictions of
another category overlap it by > 0.1) or missed; every other prediction as a
duplicate, badly localised, another category's object, or background. Prints the table
and the most common mislabellings, writes them as JSON.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from cleanpose_core.categories import CATEGORIES
from cleanpose_core.data.nocs_files import read_label
from cleanpose_core.eval.metrics import is_symmetric, pair_iou
from cleanpose_core.eval.results_layout import read_result_frame
from cleanpose_core.fileio import atomic_write_json


def breakdown(frames: list) -> tuple[dict, Counter]:
    """Per-category counts and (truth, predicted) mislabelling counts."""
    counts = {name: Counter() for name in CATEGORIES}
    confused: Counter = Counter()
    for f in frames:
        n_pred, n_gt = len(f.pred_ids), len(f.gt_ids)
        iou = np.zeros((n_pred, n_gt))
        for i in range(n_pred):
            for j in range(n_gt):
                iou[i, j] = pair_iou(f.pred_R[i], f.pred_t[i], f.pred_s[i] * f.pred_size[i],
                                     f.gt_R[j], f.gt_t[j], f.gt_s[j] * f.gt_size[j],
                                     is_symmetric(int(f.gt_ids[j]), int(f.handle[j])))
        taken: set = set()
        for i in np.argsort(-f.scores, kind='stable'):
            name = CATEGORIES[int(f.pred_ids[i]) - 1]
            same = [j for j in range(n_gt) if f.gt_ids[j] == f.pred_ids[i]]
            free = [j for j in same if j not in taken and iou[i, j] >= 0.5]
            best_same = max((iou[i, j] for j in same), default=0.0)
            if free:
                taken.add(max(free, key=lambda j: iou[i, j]))
                counts[name]['found'] += 1
            elif best_same >= 0.5:
                counts[name]['pred_duplicate'] += 1
            elif best_same > 0.1:
                counts[name]['pred_localised_badly'] += 1
            elif n_gt and iou[i].max() > 0.1:
                counts[name]['pred_other_category'] += 1
            else:
                counts[name]['pred_background'] += 1
        for j in range(n_gt):
            name = CATEGORIES[int(f.gt_ids[j]) - 1]
            counts[name]['objects'] += 1
            if j in taken:
                continue
            same = iou[f.pred_ids == f.gt_ids[j], j]
            other = iou[f.pred_ids != f.gt_ids[j], j]
            if same.size and same.max() > 0.1:
                counts[name]['localised_badly'] += 1
            elif other.size and other.max() > 0.1:
                counts[name]['mislabelled'] += 1
                k = np.flatnonzero(f.pred_ids != f.gt_ids[j])[int(np.argmax(other))]
                confused[(name, CATEGORIES[int(f.pred_ids[k]) - 1])] += 1
            else:
                counts[name]['missed'] += 1
    return counts, confused


def main() -> None:
    """Run the breakdown."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--eval', required=True, type=Path,
                        help='output folder of cleanpose eval (holds predictions/)')
    parser.add_argument('--out', type=Path, default=None,
                        help='JSON to write (default EVAL/breakdown.json)')
    args = parser.parse_args()
    paths = sorted((args.eval / 'predictions').glob('*/*.pkl'))
    if not paths:
        raise SystemExit(f'no predictions under {args.eval / "predictions"}')
    frames = [read_result_frame(read_label(p), k) for k, p in enumerate(paths)]
    counts, confused = breakdown(frames)
    keys = ('objects', 'found', 'localised_badly', 'mislabelled', 'missed', 'pred_duplicate',
            'pred_localised_badly', 'pred_other_category', 'pred_background')
    total = sum(counts.values(), Counter())
    print('category ' + ' '.join(f'{k:>12.12}' for k in keys))
    for name, c in [*counts.items(), ('all', total)]:
        print(f'{name:8} ' + ' '.join(f'{c[k]:12d}' for k in keys))
    common = confused.most_common(8)
    print('mislabelled as:', ', '.join(f'{a} as {b} {n}' for (a, b), n in common))
    out = args.out or args.eval / 'breakdown.json'
    atomic_write_json(out, {'frames': len(frames),
                            'per_category': {n: {k: c[k] for k in keys}
                                             for n, c in [*counts.items(), ('all', total)]},
                            'mislabelled_as': [[a, b, n] for (a, b), n in common]})
    print(out)


if __name__ == '__main__':
    main()
