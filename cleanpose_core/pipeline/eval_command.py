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

"""Score poses on a NOCS-layout split the way the NOCS benchmark does.

`--masks gt` gives each ground-truth instance mask one prediction (score 1.0);
`--masks segmenter` runs the full pipeline, detection included, so a missed or
spurious object costs average precision. Writes OUT/summary.json (mAP in percent),
OUT/predictions/<scene>/<NNNN>.pkl in the NOCS results layout and the AP curves.

Examples:
  cleanpose eval --data data/synth --split test --masks gt --out runs/eval/gt
  cleanpose eval --data data/synth --split test --masks segmenter --out runs/eval/seg
  cleanpose eval --data data/synth --split test --method baseline --out runs/eval/baseline
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from cleanpose_core.config import load_config, PipelineConfig
from cleanpose_core.data.nocs import NocsSplit
from cleanpose_core.errors import ConfigError
from cleanpose_core.eval import command as eval_command
from cleanpose_core.eval.evaluate import evaluate
from cleanpose_core.pipeline.eval_segmenter import predict_frame_fn
from cleanpose_core.pipeline.pipeline import PosePipeline

__all__ = ['add_arguments', 'run']

# Average precision needs the low-confidence detections too (as NOCS scores them; COCO-
# style evaluations go lower still), and room for them: more instances than the node's
# default. Measured on the validation splits against 0.1 and 12 (README, "Full pipeline").
EVAL_SEGMENTER_CONF = 0.05
EVAL_MAX_INSTANCES = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `cleanpose eval` (the eval module's, plus the segmenter weights)."""
    eval_command.add_arguments(parser)
    parser.add_argument('--segmenter', default=None,
                        help='segmenter weights for --masks segmenter (default the shipped one)')
    parser.add_argument('overrides', nargs='*', metavar='pipeline.KEY=VALUE',
                        help='pipeline settings for --masks segmenter, e.g. '
                             'pipeline.mask_erode=2 (defaults: min_score=0, '
                             f'segmenter_conf={EVAL_SEGMENTER_CONF}, '
                             f'max_instances={EVAL_MAX_INSTANCES}, track=false; '
                             'pipeline.track=true runs each scene through the tracker '
                             'in order, as the node does); and, '
                             "with either masks, the network's inference settings, e.g. "
                             'model.box_grow=0, and the upright priors, '
                             'pipeline.upright_snap=0 pipeline.footprint_yaw=0 '
                             'pipeline.table_contact=0 pipeline.top_trim=0 pipeline.side_trim=0')


def eval_pipeline_config(args: argparse.Namespace) -> PipelineConfig:
    """The pipeline config that `cleanpose eval --masks segmenter` scores."""
    _, rest = eval_command.split_overrides(args.overrides)
    wrong = [o for o in rest if not o.startswith('pipeline.')]
    if wrong:
        raise ConfigError(f'eval takes only pipeline.KEY=VALUE settings; got {wrong}')
    cfg = load_config(None, ['pipeline.min_score=0',
                             f'pipeline.segmenter_conf={EVAL_SEGMENTER_CONF}',
                             f'pipeline.max_instances={EVAL_MAX_INSTANCES}',
                             'pipeline.track=false', *rest]).pipeline
    return dataclasses.replace(cfg, weights=args.weights or cfg.weights,
                               segmenter_weights=args.segmenter or cfg.segmenter_weights,
                               device=args.device, seed=args.seed)


def run(args: argparse.Namespace) -> int:
    """Run `cleanpose eval`; --masks segmenter goes through the full pipeline."""
    if args.masks != 'segmenter':
        return eval_command.run(args)
    if args.method != 'network':
        raise ConfigError('--masks segmenter scores the network; use --masks gt with '
                          '--method baseline')
    if args.max_frames < 0:
        raise ConfigError(f'--max-frames must be >= 0; got {args.max_frames}')
    from cleanpose_core.train.checkpoint import increment_path

    cfg = eval_pipeline_config(args)
    nocs = NocsSplit(args.data, args.split)
    out = Path(args.out) if args.out else increment_path(Path('runs/eval/exp'))
    info = {'method': 'network', 'masks': 'segmenter', 'data': str(args.data),
            'split': args.split, 'weights': cfg.weights or 'shipped',
            'segmenter': cfg.segmenter_weights or 'shipped',
            'pipeline': {k: v for k, v in dataclasses.asdict(cfg).items()
                         if k not in ('weights', 'segmenter_weights')}}
    pipeline = PosePipeline.from_config(cfg)
    eval_command.apply_model_overrides(pipeline.net, eval_command.split_overrides(
        args.overrides)[0])
    info['box_grow'] = pipeline.net.cfg.box_grow
    summary = evaluate(predict_frame_fn(cfg, 'segmenter', pipeline), nocs, out_dir=out,
                       max_frames=args.max_frames, info=info, show_progress=True)
    eval_command.report_summary(summary, out)
    return 0
