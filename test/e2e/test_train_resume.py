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

"""`cleanpose train` killed with SIGKILL and restarted with --resume (issue 3).

It loses at most one checkpoint interval and ends with exactly the weights of a run that
was never interrupted.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import re
import signal
import subprocess
import sys
import time

from conftest import assert_same_state, make_tiny_dataset, TINY_MODEL
import pytest
from safetensors.torch import load_file

from cleanpose_core.train.checkpoint import load_checkpoint

CHECKPOINT_EVERY = 2
TINY = [*TINY_MODEL, 'train.epochs=3', 'train.batch_size=4', 'train.eval_every=0',
        'train.warmup_steps=2', 'train.device=cpu', f'train.checkpoint_every={CHECKPOINT_EVERY}']
STEP_LINE = re.compile(r'trainer: step (\d+): loss')
CHECKPOINT_LINE = re.compile(r'trainer: checkpoint at step (\d+)')


def _command(data: Path, out: Path, name: str, *extra: str) -> list:
    return [sys.executable, '-m', 'cleanpose_core.cli', '-v', 'train', '--data', str(data),
            '--out', str(out), '--name', name, *extra, *TINY]


def _env() -> dict:
    # The same thread count in every run: float reductions then agree bit for bit.
    return {**os.environ, 'PYTHONUNBUFFERED': '1', 'OMP_NUM_THREADS': '2'}


@pytest.mark.slow
def test_sigkill_then_resume_loses_at_most_one_interval(tmp_path):
    data = make_tiny_dataset(tmp_path / 'data', train_frames=4, test_frames=0)
    out = tmp_path / 'runs'
    subprocess.run(_command(data, out, 'reference'), check=True, env=_env(), timeout=300,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    proc = subprocess.Popen(_command(data, out, 'killed'), env=_env(), text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    last_step, deadline = 0, time.monotonic() + 300
    try:
        for line in proc.stderr:
            if (m := STEP_LINE.search(line)):
                last_step = int(m.group(1))
            m = CHECKPOINT_LINE.search(line)
            if m and int(m.group(1)) >= 2 * CHECKPOINT_EVERY:  # the second checkpoint
                proc.send_signal(signal.SIGKILL)
                break
            assert time.monotonic() < deadline, 'training did not reach a checkpoint'
        rest = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    steps = [int(s) for s in STEP_LINE.findall(rest)]
    last_step = max([last_step, *steps])
    run = out / 'killed'
    saved = load_checkpoint(run / 'checkpoints' / 'last.pt')['step']
    assert 2 * CHECKPOINT_EVERY <= saved <= last_step
    assert last_step - saved <= CHECKPOINT_EVERY  # at most one interval of work lost

    resumed = subprocess.run(_command(data, out, 'killed', '--resume'), env=_env(), text=True,
                             timeout=300, capture_output=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f'at step {saved} ' in resumed.stderr
    assert 'results saved to' in resumed.stdout and str(run) in resumed.stdout
    assert not (out / 'killed-2').exists()  # --resume writes into the same run

    assert_same_state(load_file(out / 'reference' / 'weights' / 'last.safetensors'),
                      load_file(run / 'weights' / 'last.safetensors'))
    # One line per epoch, none duplicated by the restart, with the same losses.
    keys = ('type', 'epoch', 'step', 'lr', 'loss')
    ref_lines = [json.loads(x) for x in (out / 'reference' / 'metrics.jsonl').open()]
    lines = [json.loads(x) for x in (run / 'metrics.jsonl').open()]
    assert [[d[k] for k in keys] for d in lines] == [[d[k] for k in keys] for d in ref_lines]
    assert [d['epoch'] for d in lines] == [1, 2, 3]
