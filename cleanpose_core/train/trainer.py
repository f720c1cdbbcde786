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
"""

from __future__ import annotations

import contextlib
import dataclasses
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
from torch.utils.data import DataLoader

from cleanpose_core.categories import NUM_CATEGORIES
from cleanpose_core.config import (CleanPoseConfig, config_to_dict, DEFAULT_WEIGHTS,
                                   resolve_device, save_config)
from cleanpose_core.data.dataset import collate_instances, InstanceDataset
from cleanpose_core.data.nocs import NocsSplit
from cleanpose_core.errors import CleanPoseError, ConfigError, DataError
from cleanpose_core.eval.evaluate import EvalSummary, evaluate, network_predictor
from cleanpose_core.log import progress
from cleanpose_core.model.network import CleanPoseNet
from cleanpose_core.model.weights import load_state_strict, read_weights, save_weights
from cleanpose_core.train.checkpoint import (capture_rng_state, load_checkpoint,
                                             restore_rng_state, save_checkpoint)
from cleanpose_core.train.runtime import (append_jsonl, dist_info, EpochSampler, lr_factor,
                                          prepare_instance_cache, score_of,
                                          truncate_metrics)

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


class _StepModule(nn.Module):
    """Calls net.training_step from forward(), so DDP sees (and syncs) the step."""

    def __init__(self, net: CleanPoseNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, inp, target, generator):
        return self.net.training_step(inp, target, generator)


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

    def _build_data(self) -> None:
        cfg = self.cfg
        cache = None
        if self.info.is_main:
            cache = prepare_instance_cache(cfg, cfg.data.train_split, self.run_dir / 'cache')
        if self.info.distributed:
            box = [str(cache) if cache else None]
            dist.broadcast_object_list(box, src=0)
            cache = Path(box[0])
        self.dataset = InstanceDataset(cache, cfg.model.num_points, train=True,
                                       seed=cfg.train.seed)
        if self.dataset.crop_size != cfg.model.crop_size:
            raise DataError(f'{cache}: crops are {self.dataset.crop_size} px but '
                            f'model.crop_size={cfg.model.crop_size}; delete the cache')
        self.sampler = EpochSampler(len(self.dataset), cfg.train.seed, self.info.rank,
                                    self.info.world_size)
        batch = cfg.train.batch_size
        self.drop_last = self.sampler.per_rank >= batch
        if not self.drop_last:
            log.warning('only %d training instances per process for train.batch_size=%d: '
                        'one smaller batch per epoch', self.sampler.per_rank, batch)
        self.steps_per_epoch = (self.sampler.per_rank // batch if self.drop_last else 1)
        self.loader_gen = torch.Generator()
        self.loader = DataLoader(self.dataset, batch_size=batch, sampler=self.sampler,
                                 drop_last=self.drop_last, collate_fn=collate_instances,
                                 num_workers=cfg.data.workers, generator=self.loader_gen,
                                 pin_memory=self.device.type == 'cuda')
        # The schedule always spans train.epochs; train.max_steps only stops the run early
        # (a stopped run resumed with a larger max_steps continues the same schedule).
        self.schedule_steps = cfg.train.epochs * self.steps_per_epoch
        self.total_steps = (min(self.schedule_steps, cfg.train.max_steps) if cfg.train.max_steps
                            else self.schedule_steps)
        self.val_split = None
        if cfg.train.eval_every > 0 and self.info.is_main:
            try:
                self.val_split = NocsSplit(cfg.data.root, cfg.data.val_split)
            except DataError as err:
                log.warning('periodic evaluation is off: %s', err)

    def _build_model(self) -> None:
        cfg = self.cfg
        self.net = CleanPoseNet(cfg.model).to(self.device)
        self.net.loss_weights = cfg.train.loss
        decay, no_decay = [], []
        for p in self.net.parameters():
            if p.requires_grad:
                (decay if p.dim() > 1 else no_decay).append(p)
        self.optimizer = torch.optim.AdamW(
            [{'params': decay, 'weight_decay': cfg.train.weight_decay},
             {'params': no_decay, 'weight_decay': 0.0}], lr=cfg.train.lr)
        warmup = min(cfg.train.warmup_steps, self.schedule_steps // 5)
        total = self.schedule_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, total, warmup))
        cuda = self.device.type == 'cuda'
        self.amp_dtype = None
        if cfg.train.amp and cuda:
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler('cuda', enabled=self.amp_dtype == torch.float16)
        self.generator = torch.Generator().manual_seed(cfg.train.seed * 7919 + self.info.rank + 1)
        n_params = sum(p.numel() for p in self.net.parameters())
        log.info('CleanPoseNet %s: %.2f M parameters, front_door=%s, distill=%s, device %s%s',
                 cfg.model.name, n_params / 1e6, cfg.model.front_door, cfg.model.distill,
                 self.device, f', amp {self.amp_dtype}' if self.amp_dtype else '')

    def _seed_dictionary(self) -> None:
        """Seed the confounder dictionary (fresh runs; the teacher is loaded in run())."""
        cfg = self.cfg.model
        if not cfg.front_door:
            return
        gen = torch.Generator().manual_seed(self.cfg.train.seed)
        order = torch.randperm(len(self.dataset), generator=gen).tolist()
        order = order[:NUM_CATEGORIES * cfg.dict_size]
        batch = self.cfg.train.batch_size
        source = 'teacher' if cfg.distill else 'network'
        for start in range(0, len(order), batch):
            items = [self.dataset[i] for i in order[start:start + batch]]
            inp, _ = collate_instances(items)
            inp = inp.to(self.device)
            feats = (self.net.teacher_dictionary_features(inp) if cfg.distill
                     else self.net.dictionary_features(inp))
            self.net.seed_dictionary(inp.category_ids, feats)
        log.info('seeded the confounder dictionary with %s features of %d instances', source,
                 len(order))

    def _load_init(self) -> None:
        """Start from a weights file (fine-tuning): parameters and confounder dictionary."""
        path = DEFAULT_WEIGHTS if self.cfg.train.init == 'shipped' else Path(self.cfg.train.init)
        tensors, theirs = read_weights(path)
        own = self.cfg.model
        if theirs != own:
            diff = [f.name for f in dataclasses.fields(own)
                    if getattr(own, f.name) != getattr(theirs, f.name)]
            raise ConfigError(f'train.init={path}: its model config differs from the run '
                              f'config in {diff}; fine-tuning keeps the architecture')
        load_state_strict(self.net, tensors, path)
        log.info('initialised from %s (parameters and confounder dictionary)', path)

    # ------------------------------------------------------------------ state
    def _state(self) -> dict:
        rng = capture_rng_state()
        rng['generator'] = self.generator.get_state()
        rngs = [rng]
        if self.info.distributed:
            rngs = [None] * self.info.world_size
            dist.all_gather_object(rngs, rng)
        return {
            'model': self.net.state_dict(), 'optimizer': self.optimizer.state_dict(),
            'scheduler': self.scheduler.state_dict(), 'scaler': self.scaler.state_dict(),
            'rng': rngs, 'step': self.step, 'epoch': self.epoch,
            'batch_in_epoch': self.batch_in_epoch, 'epoch_sums': dict(self.epoch_sums),
            'epoch_batches': self.epoch_batches, 'epoch_instances': self.epoch_instances,
            'epoch_seconds': self.epoch_seconds, 'best_score': self.best_score,
            'last_eval': self.last_eval, 'world_size': self.info.world_size,
            'steps_per_epoch': self.steps_per_epoch,
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
        saved_model = state['config'].get('model')
        if saved_model != config_to_dict(self.cfg)['model']:
            raise ConfigError(f'{self.ckpt_path}: the model config differs from the one of '
                              'the checkpoint; resume with the config.yaml of the run (model '
                              'keys cannot change)')
        if state['steps_per_epoch'] != self.steps_per_epoch:
            raise ConfigError(f'{self.ckpt_path}: {state["steps_per_epoch"]} steps per epoch '
                              f'in the checkpoint, {self.steps_per_epoch} now; the data, '
                              'batch size or process count changed')
        self.net.load_state_dict(state['model'])
        self.optimizer.load_state_dict(state['optimizer'])
        self.scheduler.load_state_dict(state['scheduler'])
        self.scaler.load_state_dict(state['scaler'])
        rngs = state['rng']
        rng = rngs[self.info.rank] if len(rngs) == self.info.world_size else rngs[0]
        restore_rng_state(rng)
        self.generator.set_state(rng['generator'])
        for key in ('step', 'epoch', 'batch_in_epoch', 'epoch_batches', 'epoch_instances',
                    'epoch_seconds', 'best_score', 'last_eval'):
            setattr(self, key, state[key])
        self.epoch_sums = dict(state['epoch_sums'])
        log.info('resumed %s at step %d (epoch %d, batch %d of %d)', self.run_dir, self.step,
                 self.epoch + 1, self.batch_in_epoch, self.steps_per_epoch)

    # ------------------------------------------------------------------ loop
    def _evaluate(self) -> Optional[EvalSummary]:
        if self.val_split is None:
            return None
        with torch.random.fork_rng(devices=[]):
            summary = evaluate(network_predictor(self.net, self.device, seed=0), self.val_split,
                               max_frames=self.cfg.data.max_val_frames)
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
                  'partial': self.batch_in_epoch < self.steps_per_epoch}
        if self.info.is_main:
            append_jsonl(self.metrics_path, record)
            terms = ' '.join(f'{k} {v:.4f}' for k, v in record['loss'].items())
            log.info('epoch %d/%d step %d: %s | %.1f instances/s', self.epoch + 1,
                     self.cfg.train.epochs, self.step, terms, record['instances_per_s'])
            every = self.cfg.train.eval_every
            last = self.epoch + 1 == self.cfg.train.epochs or self.step >= self.total_steps
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
        self._build_data()
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
            self._load_init()
        else:
            self._seed_dictionary()
        if self.info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.run_dir / 'config.yaml')
            if self.resume:
                truncate_metrics(self.metrics_path, self.epoch)
        self.step_module = _StepModule(self.net)
        if self.info.distributed:
            ids = [self.device.index] if self.device.type == 'cuda' else None
            self.step_module = nn.parallel.DistributedDataParallel(
                self.step_module, device_ids=ids, find_unused_parameters=True)
        log.info('training %d epochs x %d steps (batch %d%s) -> %s', cfg.train.epochs,
                 self.steps_per_epoch, cfg.train.batch_size,
                 f' x {self.info.world_size} processes' if self.info.distributed else '',
                 self.run_dir)
        stop = self.step >= self.total_steps
        while self.epoch < cfg.train.epochs and not stop:
            stop = self._run_epoch()
            if self.batch_in_epoch >= self.steps_per_epoch:
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
        self.dataset.set_epoch(self.epoch)
        self.sampler.set_epoch(self.epoch, self.batch_in_epoch * cfg.batch_size)
        self.loader_gen.manual_seed(cfg.seed * 1_000_003 + self.epoch * 101 + self.info.rank)
        bar = progress(total=self.steps_per_epoch, initial=self.batch_in_epoch, leave=True,
                       disable=not self.show_progress or not self.info.is_main or None,
                       bar_format='{desc}{percentage:3.0f}%|{bar:20}| {n_fmt}/{total_fmt} '
                                  '[{elapsed}<{remaining}]')
        header_done = False
        start = time.perf_counter()
        try:
            for inp, target in self.loader:
                if self.batch_in_epoch >= self.steps_per_epoch:
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
                if self.step >= self.total_steps:
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
