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

Writes OUT/summary.json (mAP in percent: iou25, iou50, iou75, 5deg2cm, 5deg5cm,
10deg2cm, 10deg5cm, overall and per category; frames, instances, skipped
instances by reason), OUT/predictions/<scene>/<NNNN>.pkl in the NOCS results
layout, and the AP curves (OUT/ap_*.png). With --masks gt every ground-truth
instance mask gets one prediction, scored 1.0. --method baseline scores the
non-learned geometric reference (table plane + primitives) instead of the network.

Examples:
  cleanpose eval --data data/synth --split test --masks gt --out runs/eval/small
  cleanpose eval --data data/synth --split test --weights runs/train/exp/weights/best.safetensors
  cleanpose eval --data data/synth --split test --method baseline --out runs/eval/baseline
  cleanpose eval --data data/synth --split test --out runs/eval/no_grow model.box_grow=0
  cleanpose eval --data data/synth --split test --out runs/eval/no_snap pipeline.upright_snap=0
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path
import sys

from cleanpose_core.config import DEFAULT_WEIGHTS, load_config, PipelineConfig, resolve_device
from cleanpose_core.data.nocs import NocsSplit
from cleanpose_core.errors import ConfigError
from cleanpose_core.eval.baseline import baseline_predictor
from cleanpose_core.eval.evaluate import EvalSummary, evaluate, network_predictor
from cleanpose_core.geometry.resting import BOX_PRIOR_KEYS, box_prior_settings

__all__ = ['add_arguments', 'run', 'evaluate_method', 'report_summary', 'split_overrides',
           'apply_model_overrides', 'INFERENCE_MODEL_KEYS']

# ModelConfig keys that change only how outputs become poses, not the weights: an
# evaluation may set them (model.KEY=VALUE) on any weights file.
INFERENCE_MODEL_KEYS = ('box_grow',)

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `cleanpose eval`."""
    parser.add_argument('--data', required=True, help='dataset root holding the split folder')
    parser.add_argument('--split', default='test', help='split folder name (default test)')
    parser.add_argument('--weights', default=None,
                        help=f'network weights (default the shipped {DEFAULT_WEIGHTS.name})')
    parser.add_argument('--masks', choices=('gt', 'segmenter'), default='gt',
                        help='instance masks: ground truth (default) or the segmenter')
    parser.add_argument('--method', choices=('network', 'baseline'), default='network',
                        help='network (default) or the geometric reference')
    parser.add_argument('--out', default=None,
                        help='output folder (default runs/eval/exp, -2, -3, ...)')
    parser.add_argument('--max-frames', type=int, default=0,
                        help='score at most N frames spread over the split (default all)')
    parser.add_argument('--device', default='auto', help="'auto', 'cpu', 'cuda' or 'cuda:N'")
    parser.add_argument('--seed', type=int, default=0, help='seed of the point sampling')


def split_overrides(overrides: list[str]) -> tuple[dict, list[str]]:
    """Separate model.KEY=VALUE inference settings from the other overrides.

    Returns:
        ({key: float value} of the model settings, the remaining overrides).

    Raises:
        ConfigError: a model key that is not an inference setting, or a bad value.
    """
    model, rest = {}, []
    for item in overrides:
        key, sep, value = item.partition('=')
        if not key.startswith('model.'):
            rest.append(item)
            continue
        name = key[len('model.'):]
        if not sep or name not in INFERENCE_MODEL_KEYS:
            raise ConfigError(f'eval takes only the inference settings '
                              f'{["model." + k + "=VALUE" for k in INFERENCE_MODEL_KEYS]} '
                              f'of the model; got {item!r}')
        try:
            model[name] = float(value)
        except ValueError:
            raise ConfigError(f'{key} must be a number; got {value!r}') from None
    return model, rest


def apply_model_overrides(net, values: dict) -> None:
    """Set inference settings (INFERENCE_MODEL_KEYS) on a loaded CleanPoseNet.

    Raises:
        ConfigError: a value out of its range.
    """
    if values:
        net.cfg = dataclasses.replace(net.cfg, **values)


def evaluate_method(data: str | Path, split: str, method: str, out_dir: Path | None,
                    weights: str | Path | None = None, device: str = 'auto',
                    max_frames: int = 0, seed: int = 0,
                    show_progress: bool = False,
                    model_overrides: dict | None = None,
                    priors: PipelineConfig | None = None) -> EvalSummary:
    """Score the network (or the geometric reference) with ground-truth masks.

    Args:
        data: dataset root.
        split: split folder name.
        method: 'network' or 'baseline'.
        out_dir: where summary.json, predictions and plots go (None: nowhere).
        weights: network weights; None = the shipped default.
        device: 'auto', 'cpu', 'cuda' or 'cuda:N'.
        max_frames: frames scored, spread evenly; 0 = all.
        seed: seed of the point sampling (network) or RANSAC (baseline).
        show_progress: tqdm bar.
        model_overrides: inference settings for the network (see split_overrides).
        priors: the pipeline settings whose table priors the network's boxes get
            (upright_snap, footprint_yaw, table_contact, top_trim, right_side_up; see
            geometry.resting.apply_box_priors); None = the pipeline defaults.

    Raises:
        DataError: missing or empty split.
        WeightsError: missing, corrupt or incompatible weights.
        ConfigError: unknown method or unavailable device.
    """
    nocs = NocsSplit(data, split)
    info = {'method': method, 'masks': 'gt', 'data': str(data), 'split': split}
    if method == 'network':
        from cleanpose_core.model.weights import load_weights

        path = Path(weights) if weights else DEFAULT_WEIGHTS
        dev = resolve_device(device, '--device', local_rank=0)
        net = load_weights(path, device=dev)
        apply_model_overrides(net, model_overrides or {})
        priors = PipelineConfig() if priors is None else priors
        predict = network_predictor(net, dev, seed=seed, priors=priors)
        info.update(weights=str(path), device=str(dev), box_grow=net.cfg.box_grow,
                    **box_prior_settings(priors))
    elif method == 'baseline':
        predict = baseline_predictor(seed=seed)
        info.update(weights=None)
    else:
        raise ConfigError(f"method must be 'network' or 'baseline'; got {method!r}")
    log.info('evaluating %s on %s (%d frames%s)', method, nocs.split_dir, len(nocs),
             f', at most {max_frames}' if max_frames else '')
    return evaluate(predict, nocs, out_dir=out_dir, max_frames=max_frames, info=info,
                    show_progress=show_progress)


def report_summary(summary: EvalSummary, out: Path) -> None:
    """Print the one-screen result of `cleanpose eval`: counts, mAPs and the output folder."""
    m = summary.metrics
    sys.stdout.write(
        f'{summary.frames} frames, {summary.instances} instances, skipped {summary.skipped}\n'
        + '  '.join(f'{k} {m[k]:.1f}' for k in m) + '\n'
        + f'results saved to {out}\n')


def run(args: argparse.Namespace) -> int:
    """Run `cleanpose eval`."""
    from cleanpose_core.train.checkpoint import increment_path

    if args.masks == 'segmenter':
        raise ConfigError('--masks segmenter is not served by this command; score the '
                          'segmenter with the pipeline evaluation, or use --masks gt')
    if args.max_frames < 0:
        raise ConfigError(f'--max-frames must be >= 0; got {args.max_frames}')
    model_overrides, rest = split_overrides(getattr(args, 'overrides', []))
    # With ground-truth masks the pipeline's only settings that apply are its priors.
    prior_keys = tuple(f'pipeline.{k}' for k in BOX_PRIOR_KEYS)
    wrong = [o for o in rest if o.split('=', 1)[0] not in prior_keys]
    if wrong:
        raise ConfigError(f'pipeline.KEY=VALUE settings other than {", ".join(prior_keys)} '
                          f'apply to --masks segmenter only; got {wrong}')
    if (model_overrides or rest) and args.method != 'network':
        raise ConfigError(f'model.KEY=VALUE and {", ".join(prior_keys)} apply to '
                          f'--method network only')
    priors = load_config(None, rest).pipeline
    out = Path(args.out) if args.out else increment_path(Path('runs/eval/exp'))
    summary = evaluate_method(args.data, args.split, args.method, out, weights=args.weights,
                              device=args.device, max_frames=args.max_frames, seed=args.seed,
                              show_progress=True, model_overrides=model_overrides,
                              priors=priors)
    report_summary(summary, out)
    return 0
