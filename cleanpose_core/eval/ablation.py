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

"""Train and score the ablation: baseline, +front-door, +distillation, full, and the reference.

Every variant trains with the same config, budget and seeds; each run's last weights
(not the best: periodic evaluation is off, so nothing is selected on the test split)
are scored with ground-truth masks on the same frames, next to the non-learned
geometric reference. Writes OUT/summary.json and OUT/ablation.md (mean ± std over
seeds, the budget stated); runs go to OUT/runs/<variant>-s<seed> (or --runs DIR),
evaluations to OUT/eval/. Finished runs are reused and interrupted ones resumed, so the
command can be restarted. The boxes are scored as `cleanpose eval` scores them: with the
config's pipeline table priors (pipeline.upright_snap, footprint_yaw, table_contact,
top_trim, right_side_up) and its model.box_grow; pipeline.upright_snap=0
model.box_grow=0 scores the networks' own boxes (with --runs pointing at finished runs,
nothing trains again).

Examples:
  cleanpose ablation --data data/synth --out runs/ablation --epochs 4 --seeds 0 1
  cleanpose ablation -c config/model/small.yaml --data data/synth --out runs/abl --max-frames 100
  cleanpose ablation --data data/synth --out runs/ablation_raw --runs runs/ablation/runs \
      --epochs 4 pipeline.upright_snap=0 model.box_grow=0 --seeds 0 1
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
import json
import logging
from pathlib import Path
import platform
import sys
import time
from typing import Optional, Sequence

import numpy as np
import torch

from cleanpose_core.categories import CATEGORIES
from cleanpose_core.config import CleanPoseConfig, config_to_dict, load_config
from cleanpose_core.errors import ConfigError
from cleanpose_core.eval.command import evaluate_method, INFERENCE_MODEL_KEYS
from cleanpose_core.eval.evaluate import METRIC_KEYS
from cleanpose_core.fileio import atomic_write_json
from cleanpose_core.geometry.resting import BOX_PRIOR_KEYS, box_prior_settings

__all__ = ['VARIANTS', 'Variant', 'run_ablation', 'ablation_table', 'add_arguments', 'run']

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variant:
    """One row of the ablation: a name and its two switches."""

    name: str
    front_door: bool
    distill: bool


VARIANTS = (Variant('baseline', False, False), Variant('+front-door', True, False),
            Variant('+distillation', False, True), Variant('full', True, True))
REFERENCE = 'geometric reference'
_LABELS = {'iou25': 'IoU25', 'iou50': 'IoU50', 'iou75': 'IoU75', '5deg2cm': '5°2cm',
           '5deg5cm': '5°5cm', '10deg2cm': '10°2cm', '10deg5cm': '10°5cm'}


def _run_name(variant: Variant, seed: int) -> str:
    return f'{variant.name.strip("+").replace(" ", "-")}-s{seed}'


def _variant_config(base: CleanPoseConfig, variant: Variant, seed: int, epochs: int
                    ) -> CleanPoseConfig:
    model = dataclasses.replace(base.model, front_door=variant.front_door,
                                distill=variant.distill)
    tr = dataclasses.replace(base.train, seed=seed, epochs=epochs, eval_every=0)
    return dataclasses.replace(base, model=model, train=tr)


def _train_or_reuse(cfg: CleanPoseConfig, run_dir: Path) -> dict:
    """Train a run, resume it when interrupted, or reuse it when finished."""
    from cleanpose_core.train.trainer import CHECKPOINT_NAME, train

    weights = run_dir / 'weights' / 'last.safetensors'
    if weights.is_file():
        log.info('reusing finished run %s', run_dir)
    else:
        resume = (run_dir / 'checkpoints' / CHECKPOINT_NAME).is_file()
        train(cfg, run_dir, resume=resume, show_progress=True)
    lines = [json.loads(x) for x in (run_dir / 'metrics.jsonl').read_text().splitlines()
             if x.strip()]
    epochs = [x for x in lines if x.get('type') == 'train']
    done = max((x['epoch'] for x in epochs), default=0)
    if done != cfg.train.epochs:
        raise ConfigError(f'{run_dir} trained {done} epochs; this ablation asks for '
                          f'{cfg.train.epochs} (another --runs folder or --epochs?)')
    return {'steps': epochs[-1]['step'] if epochs else 0,
            'train_seconds': round(sum(x.get('seconds', 0.0) for x in epochs), 1),
            'instances_per_epoch': epochs[0]['instances'] if epochs else 0,
            'weights': str(weights)}


def _mean_std(rows: Sequence[dict], keys: Sequence[str]) -> tuple[dict, dict]:
    mean = {k: round(float(np.mean([r[k] for r in rows])), 2) for k in keys}
    std = {k: round(float(np.std([r[k] for r in rows])), 2) for k in keys}
    return mean, std


def run_ablation(base: CleanPoseConfig, out: Path, epochs: int, seeds: Sequence[int],
                 split: str = 'test', max_frames: int = 0,
                 variants: Sequence[Variant] = VARIANTS, runs: Optional[Path] = None) -> dict:
    """Train every variant with every seed, score them and the reference; write the table.

    Args:
        base: config shared by all runs (data.root, model size, schedule).
        out: output folder (runs/, eval/, summary.json, ablation.md).
        epochs: training epochs of every run.
        seeds: training seeds of every variant.
        split: split scored (ground-truth masks).
        max_frames: frames scored, spread evenly; 0 = all.
        variants: the rows to train.
        runs: folder of the training runs; None = OUT/runs.

    Returns:
        The summary.json content.
    """
    out = Path(out)
    runs = out / 'runs' if runs is None else Path(runs)
    inference = {k: getattr(base.model, k) for k in INFERENCE_MODEL_KEYS}
    priors = base.pipeline
    device = 'cuda' if base.train.device == 'auto' and torch.cuda.is_available() \
        else base.train.device
    rows: dict = {}
    started = time.time()
    for variant in variants:
        per_seed = {}
        for seed in seeds:
            name = _run_name(variant, seed)
            cfg = _variant_config(base, variant, seed, epochs)
            log.info('ablation: %s (seed %d)', variant.name, seed)
            trained = _train_or_reuse(cfg, runs / name)
            summary = evaluate_method(base.data.root, split, 'network', out / 'eval' / name,
                                      weights=trained['weights'], device=base.train.device,
                                      max_frames=max_frames, model_overrides=inference,
                                      priors=priors)
            per_seed[str(seed)] = {'metrics': summary.metrics,
                                   'per_category': summary.per_category,
                                   'frames': summary.frames, 'instances': summary.instances,
                                   'skipped': summary.skipped, **trained}
        metrics = [v['metrics'] for v in per_seed.values()]
        mean, std = _mean_std(metrics, METRIC_KEYS)
        per_category = {}
        for cat in CATEGORIES:
            cats = [v['per_category'][cat] for v in per_seed.values() if cat in v['per_category']]
            if cats:
                per_category[cat] = _mean_std(cats, METRIC_KEYS)[0]
        rows[variant.name] = {'front_door': variant.front_door, 'distill': variant.distill,
                              'mean': mean, 'std': std, 'per_category_mean': per_category,
                              'seeds': per_seed}
    ref = evaluate_method(base.data.root, split, 'baseline', out / 'eval' / 'reference',
                          max_frames=max_frames)
    first = next(iter(next(iter(rows.values()))['seeds'].values())) if rows else {}
    summary = {
        'split': split, 'data': base.data.root, 'frames': ref.frames, 'instances': ref.instances,
        'masks': 'gt',
        'budget': {'epochs': epochs, 'seeds': list(seeds), 'steps_per_run': first.get('steps'),
                   'batch_size': base.train.batch_size,
                   'instances_per_epoch': first.get('instances_per_epoch'),
                   'device': device, 'cpu_threads': torch.get_num_threads(),
                   'machine': f'{platform.system()} {platform.machine()}',
                   'wall_seconds': round(time.time() - started, 1)},
        'model': config_to_dict(base.model),
        'scoring': {**inference, **box_prior_settings(priors)},
        'variants': rows,
        'reference': {'metrics': ref.metrics, 'per_category': ref.per_category,
                      'skipped': ref.skipped},
    }
    atomic_write_json(out / 'summary.json', summary)
    table = ablation_table(summary)
    (out / 'ablation.md').write_text(table)
    log.info('ablation table:\n%s', table)
    return summary


def _cell(mean: float, std: Optional[float]) -> str:
    return f'{mean:.1f}' if std is None else f'{mean:.1f} ± {std:.1f}'


def _scoring_text(scoring: dict) -> str:
    if not scoring:
        return 'the settings of their weights'
    growth = f'model.box_grow={scoring.get("box_grow", 0):g}'
    if scoring.get('upright_snap', 0) <= 0:
        return f'no table priors (pipeline.upright_snap=0), {growth}'
    priors = ', '.join(f'{k}={scoring[k]}' if k == 'right_side_up' else f'{k}={scoring[k]:g}'
                       for k in BOX_PRIOR_KEYS if k in scoring)
    return f'the table priors ({priors}) and {growth}'


def ablation_table(summary: dict) -> str:
    """Render the ablation summary as markdown.

    One row per variant (mean ± std over seeds) plus the geometric reference, then the
    per-category comparison of the full model (or the last variant) with the reference.
    """
    b = summary['budget']
    lines = [f'Ablation on split `{summary["split"]}` of `{summary["data"]}`: '
             f'{summary["frames"]} frames, {summary["instances"]} instances, ground-truth '
             'masks; mAP in percent, mean ± std over seeds '
             f'{", ".join(str(s) for s in b["seeds"])}.',
             f'Budget per run: {b["epochs"]} epochs = {b["steps_per_run"]} steps of '
             f'{b["batch_size"]} instances ({b["instances_per_epoch"]} instances per epoch) '
             f'on {b["device"]} ({b["cpu_threads"]} CPU threads, {b["machine"]}); '
             f'whole ablation {b["wall_seconds"] / 60:.0f} min.',
             f'Network boxes scored with {_scoring_text(summary.get("scoring", {}))}.', '',
             '| variant | front-door | distillation | '
             + ' | '.join(_LABELS[k] for k in METRIC_KEYS) + ' |',
             '|---|---|---|' + '---|' * len(METRIC_KEYS)]
    for name, row in summary['variants'].items():
        cells = [_cell(row['mean'][k], row['std'][k]) for k in METRIC_KEYS]
        lines.append(f'| {name} | {"yes" if row["front_door"] else "no"} | '
                     f'{"yes" if row["distill"] else "no"} | ' + ' | '.join(cells) + ' |')
    ref = summary['reference']
    lines.append(f'| {REFERENCE} | – | – | '
                 + ' | '.join(_cell(ref['metrics'][k], None) for k in METRIC_KEYS) + ' |')
    if summary['variants']:
        name = 'full' if 'full' in summary['variants'] else list(summary['variants'])[-1]
        learned = summary['variants'][name]['per_category_mean']
        keys = ('iou50', 'iou75', '5deg2cm', '10deg5cm')
        lines += ['', f'Per category, {name} (mean over seeds) / {REFERENCE}:', '',
                  '| category | ' + ' | '.join(_LABELS[k] for k in keys) + ' |',
                  '|---|' + '---|' * len(keys)]
        for cat in CATEGORIES:
            if cat in learned and cat in ref['per_category']:
                lines.append(f'| {cat} | ' + ' | '.join(
                    f'{learned[cat][k]:.1f} / {ref["per_category"][cat][k]:.1f}' for k in keys)
                    + ' |')
    return '\n'.join(lines) + '\n'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `cleanpose ablation`."""
    parser.add_argument('-c', '--config', help='YAML config shared by all runs')
    parser.add_argument('--data', required=True, help='dataset root (train and test splits)')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--epochs', type=int, default=None,
                        help='epochs per run (default train.epochs of the config)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1],
                        help='training seeds (default 0 1); put key=value overrides before '
                        'this option')
    parser.add_argument('--split', default='test', help='split scored (default test)')
    parser.add_argument('--runs', default=None,
                        help='folder of the training runs (default OUT/runs); finished runs '
                        'are reused, e.g. to score them again with other pipeline settings')
    parser.add_argument('--max-frames', type=int, default=0,
                        help='score at most N frames spread over the split (default all)')
    parser.add_argument('overrides', nargs='*', help='key=value config overrides')


def run(args: argparse.Namespace) -> int:
    """Run `cleanpose ablation`."""
    cfg = load_config(args.config, args.overrides)
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, root=str(args.data)))
    epochs = cfg.train.epochs if args.epochs is None else args.epochs
    if epochs < 1 or args.max_frames < 0 or not args.seeds:
        raise ConfigError(f'need --epochs >= 1, --max-frames >= 0 and at least one seed; got '
                          f'{epochs}, {args.max_frames}, {args.seeds}')
    run_ablation(cfg, Path(args.out), epochs, args.seeds, args.split, args.max_frames,
                 runs=Path(args.runs) if args.runs else None)
    sys.stdout.write(f'results saved to {args.out} (ablation.md, summary.json)\n')
    return 0
