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

"""Shared fixtures: devices, dtypes, seeded generators, tolerances, tiny data and model."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault('YOLO_OFFLINE', '1')
os.environ.setdefault('YOLO_AUTOINSTALL', 'false')
os.environ.setdefault('YOLO_CONFIG_DIR', str(ROOT / '.cache' / 'ultralytics'))
os.environ.setdefault('MPLCONFIGDIR', str(ROOT / '.cache' / 'matplotlib'))

import torch  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

_DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])


@pytest.fixture(params=_DEVICES)
def device(request) -> torch.device:
    """Every available device: the CPU, and CUDA when present."""
    return torch.device(request.param)


@pytest.fixture(params=[torch.float32, torch.float64], ids=['f32', 'f64'])
def dtype(request) -> torch.dtype:
    """Both float precisions."""
    return request.param


def tol(dtype: torch.dtype) -> dict:
    """Tolerances for assert_close by dtype (kornia's _DTYPE_PRECISIONS idea)."""
    return {torch.float32: dict(atol=1e-4, rtol=1e-4),
            torch.float64: dict(atol=1e-9, rtol=1e-9)}.get(dtype, dict(atol=1e-2, rtol=1e-2))


def seeded(seed: int = 0) -> torch.Generator:
    """A CPU torch generator with a fixed seed."""
    return torch.Generator().manual_seed(seed)


# A model small enough that a training step takes milliseconds on the CPU.
TINY_MODEL = ['model.num_points=64', 'model.dim=16', 'model.num_keypoints=8', 'model.knn=8',
              'model.dict_size=8', 'model.dict_sample=4', 'model.crop_size=16',
              'model.nocs_bins=8', 'model.distill=false']


def make_tiny_dataset(root: Path, train_frames: int = 4, test_frames: int = 2) -> Path:
    """Render a 160x120 upright synthetic dataset (train + test splits) under root.

    A split asked for 0 frames is not written.
    """
    from cleanpose_core.data.synth.command import SynthSpec, synthesize
    from cleanpose_core.data.synth.render import REAL_K
    from cleanpose_core.data.synth.scene import SceneOptions

    K = REAL_K.copy()
    K[:2] *= 0.25
    for split, frames in (('train', train_frames), ('test', test_frames)):
        if frames == 0:
            continue
        spec = SynthSpec(seed=0, split=split, frames_per_scene=4, width=160, height=120, K=K,
                         poses='upright',
                         scene=SceneOptions(min_objects=3, max_objects=5, max_distractors=1,
                                            instances_per_category=10))
        synthesize(spec, root / split, frames, workers=1, show_progress=False)
    return root


def assert_same_state(a: dict, b: dict) -> None:
    """Two state dicts hold exactly the same tensors."""
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_array_equal(a[key].numpy(), b[key].numpy(), err_msg=key)
