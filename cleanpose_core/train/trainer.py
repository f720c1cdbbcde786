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

"""Training loop of CleanPoseNet: resumable, mixed precision on CUDA, DDP under torchrun.

A run directory holds ``config.yaml`` (the resolved config), ``metrics.jsonl`` (one
JSON line per epoch and per evaluation), ``checkpoints/last.pt`` (the training state,
written atomically every ``train.checkpoint_every`` steps and at every epoch end) and
``weights/{best,last}.safetensors``.

Resuming is exact: the data order of an epoch is a function of (seed, epoch), every
item's point subset of (seed, epoch, index), augmentation and dictionary sampling draw
from a dedicated generator whose state is checkpointed together with the global RNGs,
and a resumed epoch skips the batches it had consumed. A run killed at any moment and
resumed from its last checkpoint ends with the same weights as one never interrupted
(single process; exact on the CPU, up to non-deterministic kernels on CUDA).

The run's set-up (data, optimisation, initial network) is built in builders.py; the
checkpoint format and the resume checks live in checkpoint.py.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
import logging
import math
from pathlib import Path
import random
import time
from typing import Optional

import numpy as np
import torch
from torch import nn
import torch.distributed as dist

from cleanpose_core.config import CleanPoseConfig, config_to_dict, resolve_device, save_config
from cleanpose_core.errors import CleanPoseError, DataError
from cleanpose_core.eval.evaluate import EvalSummary, evaluate, network_predictor
from cleanpose_core.log import progress
from cleanpose_core.model.network import CleanPoseNet
from cleanpose_core.model.weights import save_weights
from cleanpose_core.train.builders import (build_optimisation, build_train_data,
                                           load_init_weights, seed_dictionary,
                                           wrap_step_module)
from cleanpose_core.train.checkpoint import (check_resumable, gather_rng_states,
                                             load_checkpoint, restore_rng_states,
                                             save_checkpoint)
from cleanpose_core.train.runtime import append_jsonl, dist_info, score_of, truncate_metrics

__all__ = ['train', 'TrainResult', 'CHECKPOINT_NAME']

log = logging.getLogger(__name__)

CHECKPOINT_NAME = 'last.pt'
# Consecutive steps with a NaN/inf loss or gradient after which training stops.
MAX_NONFINITE_STEPS = 20


@dataclass(frozen=True)
class TrainResult:
    """Where a training run left its outputs.

    Attributes:
        run_dir: the run directory.
        best_weights: weights/best.safetensors (best periodic evaluation, else the last).
        last_weights: weights/last.safetensors.
        steps: optimiser steps taken in total.
        epochs: epochs completed.
        best_score: mean of the seven mAPs of the best evaluation, or None.
        last_eval: summary dict of the last evaluation, or None.
    """

    run_dir: Path
    best_weights: Path
    last_weights: Path
    steps: int
    epochs: int
    best_score: Optional[float]
    last_eval: Optional[dict]


class _Run:
    """State of one training run (see train())."""

    def __init__(self, cfg: CleanPoseConfig, run_dir: Path, resume: bool,
                 show_progress: bool) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.resume = resume
        self.show_progress = show_progress
        self.info = dist_info()
        self.device = resolve_device(cfg.train.device, 'train.device', self.info.local_rank)
        self.ckpt_path = self.run_dir / 'checkpoints' / CHECKPOINT_NAME
        self.metrics_path = self.run_dir / 'metrics.jsonl'
        self.weights_dir = self.run_dir / 'weights'
        self.best_path = self.weights_dir / 'best.safetensors'
        self.last_path = self.weights_dir / 'last.safetensors'

    # ------------------------------------------------------------------ set-up
    def _barrier(self) -> None:
        if self.info.distributed:
            dist.barrier()

    def _build_model(self) -> None:
        cfg = self.cfg
        self.net = CleanPoseNet(cfg.model).to(self.device)
        self.net.loss_weights = cfg.train.loss
        self.optimizer, self.scheduler, self.scaler, self.amp_dtype = build_optimisation(
            self.net, cfg.train, self.data.schedule_steps, self.device)
        self.generator = torch.Generator().manual_seed(cfg.train.seed * 7919 + self.info.rank + 1)
        n_params = sum(p.numel() for p in self.net.parameters())
        log.info('CleanPoseNet %s: %.2f M parameters, front_door=%s, distill=%s, device %s%s',
                 cfg.model.name, n_params / 1e6, cfg.model.front_door, cfg.model.distill,
                 self.device, f', amp {self.amp_dtype}' if self.amp_dtype else '')

    # ------------------------------------------------------------------ state
    def _state(self) -> dict:
        rngs = gather_rng_states(self.generator, self.info)
        return {
            'model': self.net.state_dict(), 'optimizer': self.optimizer.state_dict(),
            'scheduler': self.scheduler.state_dict(), 'scaler': self.scaler.state_dict(),
            'rng': rngs, 'step': self.step, 'epoch': self.epoch,
            'batch_in_epoch': self.batch_in_epoch, 'epoch_sums': dict(self.epoch_sums),
            'epoch_batches': self.epoch_batches, 'epoch_instances': self.epoch_instances,
            'epoch_seconds': self.epoch_seconds, 'best_score': self.best_score,
            'last_eval': self.last_eval, 'world_size': self.info.world_size,
            'steps_per_epoch': self.data.steps_per_epoch,
            'config': config_to_dict(self.cfg),
        }

    def _save(self) -> None:
        state = self._state()  # every rank joins the RNG gather
        if self.info.is_main:
            save_checkpoint(self.ckpt_path, state)
            log.debug('checkpoint at step %d (epoch %d, batch %d)', self.step, self.epoch,
                      self.batch_in_epoch)

    def _restore(self) -> None:
        state = load_checkpoint(self.ckpt_path, map_location='cpu')
        check_resumable(state, self.cfg, self.data.steps_per_epoch, self.ckpt_path)
        self.net.load_state_dict(state['model'])
        self.optimizer.load_state_dict(state['optimizer'])
        self.scheduler.load_state_dict(state['scheduler'])
        self.scaler.load_state_dict(state['scaler'])
        restore_rng_states(state['rng'], self.generator, self.info)
        for key in ('step', 'epoch', 'batch_in_epoch', 'epoch_batches', 'epoch_instances',
                    'epoch_seconds', 'best_score', 'last_eval'):
            setattr(self, key, state[key])
        self.epoch_sums = dict(state['epoch_sums'])
        log.info('resumed %s at step %d (epoch %d, batch %d of %d)', self.run_dir, self.step,
                 self.epoch + 1, self.batch_in_epoch, self.data.steps_per_epoch)

    # ------------------------------------------------------------------ loop
    def _evaluate(self) -> Optional[EvalSummary]:
        if self.data.val_split is None:
            return None
        with torch.random.fork_rng(devices=[]):
            summary = evaluate(network_predictor(self.net, self.device, seed=0),
                               self.data.val_split, max_frames=self.cfg.data.max_val_frames)
        record = {'type': 'eval', 'epoch': self.epoch + 1, 'step': self.step,
                  'score': round(score_of(summary.metrics), 4), 'metrics': summary.metrics,
                  'per_category': summary.per_category, 'frames': summary.frames,
                  'instances': summary.instances, 'skipped': summary.skipped}
        append_jsonl(self.metrics_path, record)
        self.last_eval = record
        score = record['score']
        if self.best_score is None or score > self.best_score:
            self.best_score = score
            save_weights(self.best_path, self.net,
                         extra_meta={'step': self.step, 'epoch': self.epoch + 1,
                                     'score': score, 'metrics': summary.metrics})
            log.info('new best score %.2f at epoch %d', score, self.epoch + 1)
        return summary

    def _end_epoch(self) -> None:
        n = max(self.epoch_batches, 1)
        record = {'type': 'train', 'epoch': self.epoch + 1, 'step': self.step,
                  'lr': self.optimizer.param_groups[0]['lr'],
                  'loss': {k: round(v / n, 6) for k, v in self.epoch_sums.items()},
                  'instances': self.epoch_instances,
                  'instances_per_s': round(self.epoch_instances / max(self.epoch_seconds, 1e-9),
                                           2),
                  'seconds': round(self.epoch_seconds, 2),
                  'partial': self.batch_in_epoch < self.data.steps_per_epoch}
        if self.info.is_main:
            append_jsonl(self.metrics_path, record)
            terms = ' '.join(f'{k} {v:.4f}' for k, v in record['loss'].items())
            log.info('epoch %d/%d step %d: %s | %.1f instances/s', self.epoch + 1,
                     self.cfg.train.epochs, self.step, terms, record['instances_per_s'])
            every = self.cfg.train.eval_every
            last = self.epoch + 1 == self.cfg.train.epochs or self.step >= self.data.total_steps
            if every and ((self.epoch + 1) % every == 0 or last):
                self._evaluate()
        self._barrier()

    def _train_step(self, inp, target) -> dict:
        cfg = self.cfg.train
        autocast = (torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)
                    if self.amp_dtype is not None else contextlib.nullcontext())
        with autocast:
            loss = self.step_module(inp, target, self.generator)
        self.optimizer.zero_grad(set_to_none=True)
        # Backward always runs, so DDP's gradient all-reduce stays in step on every rank;
        # the (all-reduced, hence identical) gradient norm then decides whether to step.
        self.scaler.scale(loss.total).backward()
        self.scaler.unscale_(self.optimizer)
        norm = nn.utils.clip_grad_norm_(self.net.parameters(),
                                        cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
        if self.scaler.is_enabled():
            self.scaler.step(self.optimizer)  # fp16: skips inf/NaN steps and lowers the scale
            self.scaler.update()
        elif torch.isfinite(norm):
            self.optimizer.step()
        if torch.isfinite(norm) or self.scaler.is_enabled():
            self.nonfinite = 0
        else:
            self.nonfinite += 1
            log.warning('step %d: non-finite loss or gradient; step skipped', self.step + 1)
            if self.nonfinite >= MAX_NONFINITE_STEPS:
                raise CleanPoseError(f'the loss or its gradient was NaN/inf in {self.nonfinite} '
                                     f'consecutive steps (last at step {self.step + 1}); lower '
                                     'train.lr or check the data')
        self.scheduler.step()
        return {k: float(v) for k, v in loss.terms.items()}

    def run(self) -> TrainResult:
        cfg = self.cfg
        torch.manual_seed(cfg.train.seed)
        np.random.seed(cfg.train.seed)
        random.seed(cfg.train.seed)
        self.data = build_train_data(cfg, self.run_dir, self.info, self.device)
        self._build_model()
        self.step = self.epoch = self.batch_in_epoch = 0
        self.epoch_sums: dict = {}
        self.epoch_batches = self.epoch_instances = 0
        self.epoch_seconds = 0.0
        self.best_score: Optional[float] = None
        self.last_eval: Optional[dict] = None
        self.nonfinite = 0
        if cfg.model.distill:
            self.net.teacher()  # fail now, not at the first step, when it is missing
        if self.resume:
            self._restore()
        elif cfg.train.init:
            load_init_weights(self.net, cfg)
        else:
            seed_dictionary(self.net, self.data.dataset, cfg, self.device)
        if self.info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.run_dir / 'config.yaml')
            if self.resume:
                truncate_metrics(self.metrics_path, self.epoch)
        self.step_module = wrap_step_module(self.net, self.info, self.device)
        log.info('training %d epochs x %d steps (batch %d%s) -> %s', cfg.train.epochs,
                 self.data.steps_per_epoch, cfg.train.batch_size,
                 f' x {self.info.world_size} processes' if self.info.distributed else '',
                 self.run_dir)
        stop = self.step >= self.data.total_steps
        while self.epoch < cfg.train.epochs and not stop:
            stop = self._run_epoch()
            if self.batch_in_epoch >= self.data.steps_per_epoch:
                self._end_epoch()
                self.epoch += 1
                self.batch_in_epoch = 0
                self.epoch_sums, self.epoch_batches = {}, 0
                self.epoch_instances, self.epoch_seconds = 0, 0.0
                self._save()
            elif stop:  # max_steps reached inside an epoch
                self._end_epoch()
                self._save()
        return self._finish()

    def _run_epoch(self) -> bool:
        """Train the rest of the current epoch; True when max_steps is reached."""
        cfg = self.cfg.train
        self.data.dataset.set_epoch(self.epoch)
        self.data.sampler.set_epoch(self.epoch, self.batch_in_epoch * cfg.batch_size)
        self.data.loader_gen.manual_seed(cfg.seed * 1_000_003 + self.epoch * 101 + self.info.rank)
        bar = progress(total=self.data.steps_per_epoch, initial=self.batch_in_epoch, leave=True,
                       disable=not self.show_progress or not self.info.is_main or None,
                       bar_format='{desc}{percentage:3.0f}%|{bar:20}| {n_fmt}/{total_fmt} '
                                  '[{elapsed}<{remaining}]')
        header_done = False
        start = time.perf_counter()
        try:
            for inp, target in self.data.loader:
                if self.batch_in_epoch >= self.data.steps_per_epoch:
                    break
                inp, target = inp.to(self.device), target.to(self.device)
                terms = self._train_step(inp, target)
                self.step += 1
                self.batch_in_epoch += 1
                self.epoch_batches += 1
                self.epoch_instances += len(inp) * self.info.world_size
                log.debug('step %d: loss %.5f', self.step, terms.get('total', float('nan')))
                for k, v in terms.items():
                    self.epoch_sums[k] = self.epoch_sums.get(k, 0.0) + v
                now = time.perf_counter()
                self.epoch_seconds += now - start
                start = now
                if not header_done and terms and not bar.disable:
                    bar.write(self._columns(['epoch', *self.epoch_sums, 'inst/s']))
                    header_done = True
                bar.set_description_str(self._columns(
                    [f'{self.epoch + 1}/{cfg.epochs}',
                     *[f'{v / max(self.epoch_batches, 1):.4f}'
                       for v in self.epoch_sums.values()],
                     f'{self.epoch_instances / max(self.epoch_seconds, 1e-9):.1f}']))
                bar.update(1)
                if self.step % cfg.checkpoint_every == 0:
                    self._save()
                    start = time.perf_counter()  # saving time is not training speed
                if self.step >= self.data.total_steps:
                    return True
        finally:
            bar.close()
        return False

    @staticmethod
    def _columns(values: list) -> str:
        return ''.join(f'{str(v)[:10]:>11}' for v in values) + ' '

    def _finish(self) -> TrainResult:
        if self.info.is_main:
            save_weights(self.last_path, self.net,
                         extra_meta={'step': self.step, 'epoch': self.epoch,
                                     'run': str(self.run_dir)})
            if not self.best_path.is_file():
                save_weights(self.best_path, self.net,
                             extra_meta={'step': self.step, 'epoch': self.epoch,
                                         'note': 'no evaluation ran; same as last'})
            log.info('finished %d steps; weights in %s', self.step, self.weights_dir)
        self._barrier()
        return TrainResult(run_dir=self.run_dir, best_weights=self.best_path,
                           last_weights=self.last_path, steps=self.step, epochs=self.epoch,
                           best_score=self.best_score, last_eval=self.last_eval)


def train(cfg: CleanPoseConfig, run_dir: str | Path, resume: bool = False,
          show_progress: bool = False) -> TrainResult:
    """Train CleanPoseNet on cfg.data.train_split and write the run directory.

    Args:
        cfg: the resolved configuration.
        run_dir: where config.yaml, metrics.jsonl, checkpoints/ and weights/ go.
        resume: continue from run_dir/checkpoints/last.pt.
        show_progress: tqdm bar (command line; off when stderr is not a terminal).

    Returns:
        The TrainResult.

    Raises:
        DataError: missing split, unusable data, missing or corrupt checkpoint on resume.
        ConfigError: the checkpoint does not fit the config; CUDA requested but absent.
        WeightsError: distillation on but no usable teacher.
        CleanPoseError: the loss stayed NaN/inf.
    """
    run_dir = Path(run_dir)
    if resume and not (run_dir / 'checkpoints' / CHECKPOINT_NAME).is_file():
        raise DataError(f'{run_dir}: nothing to resume (no checkpoints/{CHECKPOINT_NAME}); '
                        'start the run without --resume')
    return _Run(cfg, run_dir, resume, show_progress).run()
