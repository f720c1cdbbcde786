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

"""One typed configuration tree: defaults, then a YAML file, then key=value overrides."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
import difflib
from pathlib import Path
import typing
from typing import Any, Iterable, Optional, TYPE_CHECKING

import yaml

from cleanpose_core.categories import CATEGORIES
from cleanpose_core.errors import ConfigError
from cleanpose_core.fileio import atomic_write_text

if TYPE_CHECKING:
    import torch

__all__ = ['CleanPoseConfig', 'DataConfig', 'ModelConfig', 'TrainConfig', 'EvalConfig',
           'PipelineConfig', 'load_config', 'config_to_dict', 'config_from_dict',
           'section_from_dict', 'save_config', 'resolve_device', 'PACKAGE_ROOT', 'DEFAULT_WEIGHTS',
           'DEFAULT_SEGMENTER']

PACKAGE_ROOT = Path(__file__).resolve().parent
DEFAULT_WEIGHTS = PACKAGE_ROOT / 'weights' / 'cleanpose_small.safetensors'
DEFAULT_SEGMENTER = PACKAGE_ROOT / 'weights' / 'segmenter.safetensors'
DEFAULT_CLASS_REFINER = PACKAGE_ROOT / 'weights' / 'class_refiner.safetensors'


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError(f'{name} must be in [{low}, {high}]; got {value}')


@dataclass(frozen=True)
class DataConfig:
    """Where training and evaluation data live."""

    root: str = 'data/synth'        # (str) dataset root holding <split>/ folders
    train_split: str = 'train'      # (str) split used for training
    val_split: str = 'test'         # (str) split used for periodic evaluation
    max_val_frames: int = 50        # (int) frames of val_split scored during training, 0 = all
    workers: int = 0                # (int) DataLoader worker processes
    mask_noise: float = 0.0         # (float) share of training masks given segmenter-like errors

    def __post_init__(self) -> None:
        if not 0.0 <= self.mask_noise <= 1.0:
            raise ConfigError(f'data.mask_noise must be in [0, 1]; got {self.mask_noise}')
        if self.workers < 0:
            raise ConfigError(f'data.workers must be >= 0; got {self.workers}')
        if self.max_val_frames < 0:
            raise ConfigError(f'data.max_val_frames must be >= 0; got {self.max_val_frames}')


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of CleanPoseNet; saved inside the weights."""

    name: str = 'small'             # (str) label of this size
    num_points: int = 512           # (int) points sampled per instance
    crop_size: int = 64             # (int) side of the square RGB crop, pixels
    num_keypoints: int = 24         # (int) K learnable keypoint queries
    dim: int = 64                   # (int) feature width D
    use_rgb: bool = True            # (bool) fuse RGB crop features with point features
    front_door: bool = True         # (bool) causal front-door adjustment module on/off
    distill: bool = True            # (bool) residual distillation from the teacher on/off
    dict_size: int = 80             # (int) confounder dictionary entries per category
    dict_sample: int = 12           # (int) entries sampled per training step
    nocs_bins: int = 32             # (int) bins per axis of the keypoint NOCS head
    knn: int = 16                   # (int) neighbours gathered per keypoint
    teacher: str = ''               # (str) teacher weights; '' = the shipped teacher
    teacher_dim: int = 128          # (int) teacher embedding width
    attn_heads: int = 4             # (int) attention heads; dim must be a multiple
    kp_layers: int = 1              # (int) cross-attention layers of the keypoint detector
    recon_points: int = 4           # (int) reconstructed shape points per keypoint
    dense_nocs: bool = True         # (bool) per-point NOCS head; pose by a Umeyama fit of it
    box_grow: float = 0.5           # (float) grow boxes toward outside points (0 = off)

    def __post_init__(self) -> None:
        for key in ('num_points', 'crop_size', 'num_keypoints', 'dim', 'dict_size',
                    'dict_sample', 'nocs_bins', 'knn', 'teacher_dim', 'attn_heads',
                    'kp_layers', 'recon_points'):
            if getattr(self, key) < 1:
                raise ConfigError(f'model.{key} must be >= 1; got {getattr(self, key)}')
        if self.dim % 8 or self.dim % self.attn_heads:
            raise ConfigError(f'model.dim ({self.dim}) must be a multiple of 8 and of '
                              f'model.attn_heads ({self.attn_heads})')
        if self.dict_sample > self.dict_size:
            raise ConfigError(f'model.dict_sample ({self.dict_sample}) must not exceed '
                              f'model.dict_size ({self.dict_size})')
        if not 0.0 <= self.box_grow <= 1.0:
            raise ConfigError(f'model.box_grow must be in [0, 1]; got {self.box_grow}')
        if self.knn > self.num_points:
            raise ConfigError(f'model.knn ({self.knn}) must not exceed model.num_points '
                              f'({self.num_points})')


@dataclass(frozen=True)
class LossWeights:
    """Weights of the training loss terms (the total is their weighted sum)."""

    rot: float = 1.0                # (float) rotation (symmetry-aware chordal distance)
    trans: float = 1.0              # (float) translation L1 / observed-point radius
    scale: float = 1.0              # (float) metric scale L1 / observed-point radius
    size: float = 1.0               # (float) normalised extents L1
    kp_nocs: float = 1.0            # (float) keypoint NOCS L1
    kp_nocs_ce: float = 0.1         # (float) keypoint NOCS bin cross-entropy
    kp_surface: float = 0.5         # (float) keypoints stay on the observed surface
    kp_diversity: float = 1.0       # (float) keypoints spread apart
    recon: float = 1.0              # (float) Chamfer distance of the reconstruction
    point_nocs: float = 3.0         # (float) dense per-point NOCS smooth L1
    residual: float = 0.01          # (float) size of the distillation residual
    distill: float = 0.5            # (float) student-teacher embedding distance
    diversity_margin: float = 0.2   # (float) keypoint spacing, fraction of the RMS radius

    def __post_init__(self) -> None:
        negative = [f.name for f in fields(self) if getattr(self, f.name) < 0]
        if negative:
            raise ConfigError(f'train.loss weights must be >= 0; got negative {negative}')


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation schedule and bookkeeping of cleanpose train."""

    epochs: int = 30                # (int) passes over the training split
    batch_size: int = 24            # (int) instances per step
    lr: float = 1e-3                # (float) peak learning rate (AdamW, cosine decay)
    weight_decay: float = 1e-4      # (float) AdamW weight decay
    seed: int = 0                   # (int) seed of weights, sampling and augmentation
    device: str = 'auto'            # (str) 'auto' | 'cpu' | 'cuda' | 'cuda:N'
    amp: bool = True                # (bool) mixed precision (CUDA only)
    checkpoint_every: int = 200     # (int) steps between checkpoints
    eval_every: int = 5             # (int) epochs between evaluations, 0 = never
    max_steps: int = 0              # (int) stop after this many steps, 0 = no limit
    warmup_steps: int = 100         # (int) linear warm-up steps (at most a fifth of the run)
    grad_clip: float = 5.0          # (float) clip the gradient norm to this, 0 = off
    cache_dir: str = ''             # (str) instance caches; '' = <data.root>/cache
    init: str = ''                  # (str) weights to fine-tune ('shipped' = default); '' = random
    loss: LossWeights = field(default_factory=LossWeights)  # weights of the loss terms

    def __post_init__(self) -> None:
        for key in ('epochs', 'batch_size', 'checkpoint_every'):
            if getattr(self, key) < 1:
                raise ConfigError(f'train.{key} must be >= 1; got {getattr(self, key)}')
        for key in ('eval_every', 'max_steps', 'warmup_steps'):
            if getattr(self, key) < 0:
                raise ConfigError(f'train.{key} must be >= 0; got {getattr(self, key)}')
        if self.lr <= 0:
            raise ConfigError(f'train.lr must be > 0; got {self.lr}')
        if self.grad_clip < 0 or self.weight_decay < 0:
            raise ConfigError(f'train.grad_clip and train.weight_decay must be >= 0; got '
                              f'{self.grad_clip}, {self.weight_decay}')
        _check_device('train.device', self.device)


@dataclass(frozen=True)
class EvalConfig:
    """What cleanpose eval scores."""

    split: str = 'test'             # (str) split to score
    masks: str = 'gt'               # (str) 'gt' | 'segmenter'
    max_frames: int = 0             # (int) frames scored, 0 = all

    def __post_init__(self) -> None:
        if self.masks not in ('gt', 'segmenter'):
            raise ConfigError(f"eval.masks must be 'gt' or 'segmenter'; got {self.masks!r}")


def _check_device(name: str, device: str) -> None:
    ok = device in ('auto', 'cpu', 'cuda') or (
        device.startswith('cuda:') and device[5:].isdigit())
    if not ok:
        raise ConfigError(f"{name} must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}")


def resolve_device(name: str, key: str, local_rank: Optional[int] = None) -> torch.device:
    """Turn 'auto' | 'cpu' | 'cuda' | 'cuda:N' into a torch device ('auto': CUDA if present).

    Args:
        name: the device setting.
        key: where the setting came from, named in the error (e.g. 'pipeline.device').
        local_rank: when given, a plain 'cuda' (or 'auto' on a GPU machine) becomes
            'cuda:<local_rank>', one GPU per torchrun process.

    Raises:
        ConfigError: CUDA asked for but not available.
    """
    import torch

    if name == 'auto':
        name = 'cuda' if torch.cuda.is_available() else 'cpu'
    if name.startswith('cuda'):
        if not torch.cuda.is_available():
            raise ConfigError(f"{key} is {name!r} but CUDA is not available; use 'cpu' or "
                              "'auto'")
        if name == 'cuda' and local_rank is not None:
            name = f'cuda:{local_rank}'
    return torch.device(name)


# Inclusive ranges of the numeric pipeline keys: PipelineConfig enforces them and the
# ROS node declares them in its parameter descriptors (cleanpose_ros.params).
PIPELINE_RANGES = {
    'min_score': (0.0, 1.0),
    'segmenter_conf': (0.0, 1.0),
    'segmenter_imgsz': (32, 4096),
    'mask_erode': (0, 50),
    'table_clearance': (0.0, 0.1),
    'upright_snap': (0.0, 45.0),
    'footprint_yaw': (0.0, 45.0),
    'table_contact': (0.0, 1.0),
    'top_trim': (0.0, 1.0),
    'side_trim': (0.0, 0.1),
    'fit_score': (0.0, 1.0),
    'min_points': (1, 100000),
    'depth_gap': (0.0, 1.0),
    'max_instances': (1, 256),
    'smoothing': (0.0, 0.99),
    'track_max_distance': (0.001, 10.0),
    'track_max_missed': (0, 1000),
    'seed': (0, 2**31 - 1),
}


@dataclass(frozen=True)
class PipelineConfig:
    """Inference pipeline: from an RGB-D frame to tracked poses."""

    weights: str = ''               # (str) pose weights; '' = shipped default
    segmenter_weights: str = ''     # (str) ultralytics seg weights; '' = shipped default
    class_refiner: str = ''         # (str) class refiner; '' = shipped (shipped segmenter), 'none'
    device: str = 'auto'            # (str) 'auto' | 'cpu' | 'cuda' | 'cuda:N'
    min_score: float = 0.3          # (float) drop detections scoring below this, [0, 1]
    segmenter_conf: float = 0.25    # (float) segmenter confidence threshold, [0, 1]
    segmenter_imgsz: int = 416      # (int) segmenter input size, pixels
    mask_erode: int = 2             # (int) pixels taken off segmenter mask edges
    table_clearance: float = 0.005  # (float) drop segmenter mask pixels this close to the table, m
    depth_gap: float = 0.05         # (float) segmenter masks: keep the fullest depth layer, m
    upright_snap: float = 35.0      # (float) snap up axes this near the table normal onto it, deg
    footprint_yaw: float = 25.0     # (float) turn resting cameras/laptops to their footprint, deg
    table_contact: float = 0.1      # (float) resting boxes' bottoms onto the table, up to this, m
    top_trim: float = 0.2           # (float) lower resting boxes' tops onto their highest point, m
    side_trim: float = 0.01         # (float) narrow resting cameras' boxes onto the sides seen, m
    fit_score: float = 0.02         # (float) score x exp(-NOCS fit residual / this); 0 = off
    class_map: dict = field(default_factory=dict)  # (dict) segmenter class name -> category
    categories: tuple = CATEGORIES  # (list) categories to report
    right_side_up: tuple = ('can',)  # (list) put upright objects of these right side up
    min_points: int = 32            # (int) fewer valid masked depth points: skip instance
    max_instances: int = 12         # (int) most instances per frame sent to the network
    track: bool = True              # (bool) associate instances across frames
    smoothing: float = 0.0          # (float) pose/size smoothing weight of the past, [0, 1)
    track_max_distance: float = 0.15  # (float) track gate on 3D centre distance, metres
    track_max_missed: int = 5       # (int) frames a track survives without a match
    seed: int = 0                   # (int) seed of the per-instance point sampling
    trace_network: bool = True      # (bool) run the network as a frozen TorchScript trace

    def __post_init__(self) -> None:
        for key, (low, high) in PIPELINE_RANGES.items():
            _check_range(f'pipeline.{key}', getattr(self, key), low, high)
        _check_device('pipeline.device', self.device)
        if self.segmenter_imgsz % 32:
            raise ConfigError('pipeline.segmenter_imgsz must be a multiple of 32; '
                              f'got {self.segmenter_imgsz}')
        for key in ('categories', 'right_side_up'):
            unknown = [c for c in getattr(self, key) if c not in CATEGORIES]
            if unknown:
                raise ConfigError(f'pipeline.{key} has unknown {unknown}; '
                                  f'expected a subset of {list(CATEGORIES)}')
        bad = {k: v for k, v in self.class_map.items() if v not in CATEGORIES}
        if bad:
            raise ConfigError(f'pipeline.class_map maps to unknown categories {bad}; '
                              f'expected values in {list(CATEGORIES)}')


@dataclass(frozen=True)
class CleanPoseConfig:
    """The whole configuration tree."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Convert a YAML value to the field's declared type, or raise ConfigError."""
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads '5e-4' (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif hint is str:
        if isinstance(value, (str, Path)):
            return str(value)
        if value is None:
            return ''
    elif hint is tuple:
        if isinstance(value, (list, tuple)):
            return tuple(value)
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(',') if v.strip())
    elif hint is dict:
        if isinstance(value, dict):
            return dict(value)
    else:
        return value
    raise ConfigError(f'{name} must be a {hint.__name__}; got {type(value).__name__} {value!r}')


def section_from_dict(cls: type, values: dict, prefix: str) -> Any:
    """Build one config dataclass from a dict, rejecting unknown keys with a suggestion."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    kwargs = {}
    for key, value in (values or {}).items():
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else ''
            raise ConfigError(f"unknown key '{prefix}{key}'{hint}")
        sub = hints[key]
        if dataclasses.is_dataclass(sub):
            if not isinstance(value, dict):
                raise ConfigError(f'{prefix}{key} must be a mapping; got {value!r}')
            kwargs[key] = section_from_dict(sub, value, f'{prefix}{key}.')
        else:
            kwargs[key] = _coerce(f'{prefix}{key}', value, sub)
    return cls(**kwargs)


def config_from_dict(values: dict) -> CleanPoseConfig:
    """Build the config tree from nested dicts (unknown keys raise ConfigError)."""
    return section_from_dict(CleanPoseConfig, values, '')


def config_to_dict(cfg: Any) -> dict:
    """Turn a config dataclass into plain nested dicts, lists and scalars."""
    out = {}
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            value = config_to_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Path):
            value = str(value)
        out[f.name] = value
    return out


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_override(text: str) -> dict:
    """Turn 'train.epochs=2' into {'train': {'epochs': 2}} (value by yaml.safe_load)."""
    if '=' not in text:
        raise ConfigError(f"override {text!r} must look like key=value, e.g. 'train.epochs=2'")
    key, raw = text.split('=', 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ''
    except yaml.YAMLError as err:
        raise ConfigError(f'override {text!r}: cannot parse value: {err}') from None
    out: dict = {}
    node = out
    parts = key.strip().split('.')
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def load_config(path: Optional[str | Path] = None,
                overrides: Iterable[str] = ()) -> CleanPoseConfig:
    """Merge defaults, then a YAML file, then dotted key=value overrides (rightmost wins).

    Args:
        path: YAML file with any subset of the tree, or None.
        overrides: strings like 'model.front_door=false'.

    Raises:
        ConfigError: unreadable file, unknown key or invalid value.
    """
    values: dict = {}
    if path is not None:
        path = Path(path)
        try:
            loaded = yaml.safe_load(path.read_text())
        except OSError as err:
            raise ConfigError(f'cannot read config {path}: {err.strerror}') from None
        except yaml.YAMLError as err:
            raise ConfigError(f'config {path} is not valid YAML: {err}') from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f'config {path} must hold a mapping; got {type(loaded).__name__}')
        values = loaded or {}
    for text in overrides:
        values = _merge(values, parse_override(text))
    return config_from_dict(values)


def save_config(cfg: CleanPoseConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically)."""
    atomic_write_text(path, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
