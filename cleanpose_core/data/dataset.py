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

"""Training data: a cache of preprocessed instances and the dataset over it.

build_instance_cache runs extract_instance (the pipeline's own preprocessing) once
over every labelled instance of a split and stores the results in one .npz (no
pickle; loaded with allow_pickle=False). Each instance keeps max_points points so
that InstanceDataset can draw a fresh subset of num_points every epoch.

iter_gt_instances and gt_results_fields serve evaluation with ground-truth masks.
"""

from __future__ import annotations

from dataclasses import dataclass
import logging
from pathlib import Path
from typing import Iterator, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from cleanpose_core.batch import PoseInput, PoseTarget
from cleanpose_core.categories import category_id, SYMMETRIC_CATEGORIES
from cleanpose_core.data.instances import extract_instance, InstanceSample, stack_instances
from cleanpose_core.data.mask_noise import perturb_mask
from cleanpose_core.data.nocs import FrameRecord, NocsSplit
from cleanpose_core.errors import DataError
from cleanpose_core.fileio import atomic_path
from cleanpose_core.log import progress

__all__ = ['CacheSummary', 'build_instance_cache', 'InstanceDataset', 'collate_instances',
           'iter_gt_instances', 'GtBatch', 'gt_batch', 'gt_results_fields', 'symmetric_flags',
           'CACHE_VERSION']

log = logging.getLogger(__name__)

CACHE_VERSION = 1
_MUG = category_id('mug')
_SYMMETRIC_IDS = frozenset(category_id(name) for name in SYMMETRIC_CATEGORIES)
_PER_INSTANCE = ('points', 'nocs', 'rgb', 'pixel_index', 'category_ids', 'rotations',
                 'translations', 'scales', 'sizes', 'symmetric', 'handle_visibility',
                 'num_valid', 'frame_ids', 'instance_ids')


def symmetric_flags(class_ids: np.ndarray, handle_visibility: np.ndarray) -> np.ndarray:
    """Return (n,) bool: bottle, bowl, can, or a mug whose handle is not visible."""
    class_ids = np.asarray(class_ids).reshape(-1)
    handle = np.asarray(handle_visibility).reshape(-1)
    return (np.isin(class_ids, sorted(_SYMMETRIC_IDS))
            | ((class_ids == _MUG) & (handle == 0)))


def _instance_nocs(record: FrameRecord, i: int, sample: InstanceSample,
                   gt_mask: np.ndarray) -> np.ndarray:
    """NOCS coordinate of each sampled point: the NOCS map, else the inverse gt pose.

    Points whose pixel is outside the instance's ground-truth mask (a perturbed mask's
    bleed onto the table or a neighbour) always get the inverse gt pose: where they lie
    in the object's canonical frame, outside its box.
    """
    pts_obj = (sample.points - record.translations[i]) @ record.rotations[i]
    nocs = (pts_obj / record.scales[i]).astype(np.float32)
    if record.coord is not None:
        inside = gt_mask[sample.rows, sample.cols]
        nocs[inside] = record.coord[sample.rows[inside], sample.cols[inside]]
    return nocs


@dataclass(frozen=True)
class CacheSummary:
    """What build_instance_cache wrote.

    Attributes:
        path: the .npz file.
        frames: frames read.
        instances: instances stored.
        skipped: skip reason -> count.
    """

    path: Path
    frames: int
    instances: int
    skipped: dict


def build_instance_cache(split: NocsSplit, out_path: Union[str, Path], num_points: int,
                         crop_size: int, max_points: Optional[int] = None,
                         min_points: int = 32, seed: int = 0,
                         max_frames: int = 0, mask_noise: float = 0.0) -> CacheSummary:
    """Preprocess every labelled instance of a split into one .npz file.

    Stored per instance (M instances, P = max_points, S = crop_size): points (M, P, 3)
    float32 camera frame; nocs (M, P, 3) float32 from the NOCS map (or, where a frame
    has none, from the inverse gt pose); rgb (M, 3, S, S) uint8; pixel_index (M, P)
    int32; category_ids, rotations (M, 3, 3) R_cam_obj, translations (M, 3) m, scales
    (M,) m, sizes (M, 3), symmetric (M,) bool, handle_visibility, num_valid, instance_ids
    and frame_ids ('scene/NNNN').

    Args:
        split: the split to read.
        out_path: the .npz written (atomically).
        num_points: N the network uses; recorded in the file.
        crop_size: S of the RGB crops.
        max_points: P points stored per instance; None = 2 * num_points.
        min_points: instances with fewer valid points are skipped.
        seed: seed of the point sampling.
        max_frames: read at most this many frames; 0 = all.
        mask_noise: fraction of the instances whose mask gets segmenter-like edge
            errors (data.mask_noise.perturb_mask) before the points are extracted.

    Returns:
        A CacheSummary.

    Raises:
        DataError: a frame of the split is broken, or no instance is usable.
        ValueError: bad sizes.
    """
    max_points = 2 * num_points if max_points is None else int(max_points)
    if num_points < 1 or crop_size < 1 or max_points < num_points:
        raise ValueError(f'need num_points >= 1, crop_size >= 1 and max_points >= num_points; '
                         f'got {num_points}, {crop_size}, {max_points}')
    if not 0.0 <= mask_noise <= 1.0:
        raise ValueError(f'mask_noise must be in [0, 1]; got {mask_noise}')
    out_path = Path(out_path)
    rng = np.random.default_rng(seed)
    noise_rng = np.random.default_rng([seed, 1])
    columns: dict[str, list] = {key: [] for key in _PER_INSTANCE}
    skipped: dict[str, int] = {}
    frames = len(split) if not max_frames else min(max_frames, len(split))
    for f in progress(range(frames), desc='instances', unit='frame'):
        record = split[f]
        symmetric = symmetric_flags(record.class_ids, record.handle_visibility)
        for i in range(len(record)):
            gt_mask = record.instance_mask(i)
            mask = gt_mask
            if mask_noise and noise_rng.random() < mask_noise:
                mask = perturb_mask(gt_mask, noise_rng)
            sample = extract_instance(record.color, record.depth, mask,
                                      record.K, max_points, crop_size, rng=rng,
                                      min_points=min_points)
            if isinstance(sample, str):
                skipped[sample] = skipped.get(sample, 0) + 1
                log.debug('%s instance %d: skipped (%s)', record.frame_id,
                          record.instance_ids[i], sample)
                continue
            columns['points'].append(sample.points)
            columns['nocs'].append(_instance_nocs(record, i, sample, gt_mask))
            columns['rgb'].append(np.rint(sample.rgb * 255).astype(np.uint8))
            columns['pixel_index'].append(sample.pixel_index.astype(np.int32))
            columns['category_ids'].append(record.class_ids[i])
            columns['rotations'].append(record.rotations[i].astype(np.float32))
            columns['translations'].append(record.translations[i].astype(np.float32))
            columns['scales'].append(np.float32(record.scales[i]))
            columns['sizes'].append(record.sizes[i].astype(np.float32))
            columns['symmetric'].append(symmetric[i])
            columns['handle_visibility'].append(record.handle_visibility[i])
            columns['num_valid'].append(sample.num_valid)
            columns['frame_ids'].append(record.frame_id)
            columns['instance_ids'].append(record.instance_ids[i])
    count = len(columns['points'])
    if count == 0:
        raise DataError(f'{split.split_dir}: no usable instance in {frames} frames '
                        f'(skipped: {skipped or "none labelled"})')
    arrays = {
        'points': np.stack(columns['points']),
        'nocs': np.stack(columns['nocs']),
        'rgb': np.stack(columns['rgb']),
        'pixel_index': np.stack(columns['pixel_index']),
        'category_ids': np.asarray(columns['category_ids'], dtype=np.int64),
        'rotations': np.stack(columns['rotations']),
        'translations': np.stack(columns['translations']),
        'scales': np.asarray(columns['scales'], dtype=np.float32),
        'sizes': np.stack(columns['sizes']),
        'symmetric': np.asarray(columns['symmetric'], dtype=bool),
        'handle_visibility': np.asarray(columns['handle_visibility'], dtype=np.int64),
        'num_valid': np.asarray(columns['num_valid'], dtype=np.int64),
        'frame_ids': np.asarray(columns['frame_ids'], dtype=str),
        'instance_ids': np.asarray(columns['instance_ids'], dtype=np.int64),
        'version': np.int64(CACHE_VERSION),
        'num_points': np.int64(num_points),
        'max_points': np.int64(max_points),
        'crop_size': np.int64(crop_size),
        'mask_noise': np.float64(mask_noise),
        'source': np.asarray(str(split.split_dir)),
    }
    with atomic_path(out_path) as tmp, open(tmp, 'wb') as f:
        np.savez(f, **arrays)
    log.info('cached %d instances of %d frames in %s (skipped: %s)', count, frames, out_path,
             skipped or 'none')
    return CacheSummary(path=out_path, frames=frames, instances=count, skipped=skipped)


def load_instance_cache(path: Union[str, Path]) -> dict:
    """Load a cache written by build_instance_cache (no pickle).

    Raises:
        DataError: missing, corrupt or of another version.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f'{path}: cannot read instance cache: {err}') from None
    missing = [k for k in _PER_INSTANCE + ('version', 'crop_size', 'max_points')
               if k not in arrays]
    if missing or int(arrays['version']) != CACHE_VERSION:
        raise DataError(f'{path}: not an instance cache of version {CACHE_VERSION} '
                        f'(missing {missing}); rebuild it')
    return arrays


class InstanceDataset(Dataset):
    """Instances of a cache, each with num_points of its stored points.

    Training draws a random subset per item from a generator seeded with
    (seed, epoch, index), so runs are reproducible and resumable whatever the worker
    count; evaluation takes the first num_points stored points (already a random
    sample, distinct where the instance has enough points).

    Args:
        cache_path: .npz from build_instance_cache.
        num_points: N points per item (<= the cache's max_points).
        train: random subsets (True) or deterministic first-N (False).
        seed: seed of the subsets.

    Raises:
        DataError: unreadable cache.
        ValueError: num_points larger than the cache's max_points.
    """

    def __init__(self, cache_path: Union[str, Path], num_points: int, train: bool,
                 seed: int = 0) -> None:
        self.path = Path(cache_path)
        self.arrays = load_instance_cache(self.path)
        self.max_points = int(self.arrays['max_points'])
        self.crop_size = int(self.arrays['crop_size'])
        if not 1 <= num_points <= self.max_points:
            raise ValueError(f'num_points must be in 1..{self.max_points} (max_points of '
                             f'{self.path}); got {num_points}')
        self.num_points = int(num_points)
        self.train = bool(train)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose random subsets __getitem__ draws."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return int(len(self.arrays['category_ids']))

    def __getitem__(self, i: int) -> dict:
        """Return one instance as a dict of numpy arrays (see collate_instances)."""
        a = self.arrays
        if self.train:
            rng = np.random.default_rng([self.seed, self.epoch, int(i)])
            # Prefer distinct points: draw among the first num_valid stored points
            # (the distinct ones) when there are enough of them.
            pool = min(int(a['num_valid'][i]), self.max_points)
            if pool >= self.num_points:
                choice = rng.choice(pool, self.num_points, replace=False)
            else:
                choice = rng.choice(self.max_points, self.num_points, replace=False)
        else:
            choice = np.arange(self.num_points)
        return {
            'points': a['points'][i, choice],
            'nocs': a['nocs'][i, choice],
            'pixel_index': a['pixel_index'][i, choice].astype(np.int64),
            'rgb': a['rgb'][i].astype(np.float32) / np.float32(255),
            'category_id': int(a['category_ids'][i]),
            'R_cam_obj': a['rotations'][i],
            't_cam_obj': a['translations'][i],
            'scale': float(a['scales'][i]),
            'size': a['sizes'][i],
            'symmetric': bool(a['symmetric'][i]),
        }


def collate_instances(items: Sequence[dict]) -> tuple[PoseInput, PoseTarget]:
    """Stack dataset items into (PoseInput, PoseTarget); model_points = observed nocs.

    Raises:
        ValueError: an empty list.
    """
    if not items:
        raise ValueError('collate_instances needs at least one item')

    def stack(key: str, dtype=None) -> torch.Tensor:
        return torch.as_tensor(np.stack([np.asarray(it[key]) for it in items]), dtype=dtype)

    nocs = stack('nocs', torch.float32)
    inp = PoseInput(points=stack('points', torch.float32), rgb=stack('rgb', torch.float32),
                    pixel_index=stack('pixel_index', torch.long),
                    category_ids=stack('category_id', torch.long))
    target = PoseTarget(R_cam_obj=stack('R_cam_obj', torch.float32),
                        t_cam_obj=stack('t_cam_obj', torch.float32),
                        scales=stack('scale', torch.float32), sizes=stack('size', torch.float32),
                        nocs=nocs, model_points=nocs.clone(),
                        symmetric=stack('symmetric', torch.bool))
    return inp, target


def iter_gt_instances(record: FrameRecord, num_points: int, crop_size: int,
                      min_points: int = 32, seed: int = 0
                      ) -> Iterator[tuple[int, Union[InstanceSample, str]]]:
    """Yield (label index, sample or skip reason) for each labelled instance of a frame.

    The samples use the inference preprocessing with the ground-truth masks; the seed
    makes evaluation deterministic.
    """
    rng = np.random.default_rng(seed)
    for i in range(len(record)):
        yield i, extract_instance(record.color, record.depth, record.instance_mask(i),
                                  record.K, num_points, crop_size, rng=rng,
                                  min_points=min_points)


@dataclass(frozen=True)
class GtBatch:
    """The ground-truth-mask instances of one frame, ready for one network call.

    Attributes:
        inputs: PoseInput of the B usable instances.
        gt_index: (B,) int64 index of each into the frame's labelled instances.
        skipped: skip reason -> count.
    """

    inputs: PoseInput
    gt_index: np.ndarray
    skipped: dict


def gt_batch(record: FrameRecord, num_points: int, crop_size: int, min_points: int = 32,
             seed: int = 0) -> GtBatch:
    """Preprocess every labelled instance of a frame with its gt mask into one batch."""
    samples, index, skipped = [], [], {}
    for i, sample in iter_gt_instances(record, num_points, crop_size, min_points, seed):
        if isinstance(sample, str):
            skipped[sample] = skipped.get(sample, 0) + 1
        else:
            samples.append(sample)
            index.append(i)
    index = np.asarray(index, dtype=np.int64)
    inputs = stack_instances(samples, record.class_ids[index], num_points=num_points,
                             crop_size=crop_size)
    return GtBatch(inputs=inputs, gt_index=index, skipped=skipped)


def gt_results_fields(record: FrameRecord) -> dict:
    """Return the gt_* entries of the NOCS results layout for a frame.

    Returns:
        gt_class_ids (n,) int64, gt_RTs (n, 4, 4) float64 with s*R top-left and t,
        gt_scales (n, 3) normalised sizes, gt_handle_visibility (n,) int64,
        gt_bboxes (n, 4) int64 [y1, x1, y2, x2].
    """
    n = len(record)
    rts = np.zeros((n, 4, 4))
    rts[:, :3, :3] = record.scales[:, None, None] * record.rotations
    rts[:, :3, 3] = record.translations
    rts[:, 3, 3] = 1.0
    return {'gt_class_ids': record.class_ids.copy(), 'gt_RTs': rts,
            'gt_scales': record.sizes.copy(),
            'gt_handle_visibility': record.handle_visibility.copy(),
            'gt_bboxes': record.bboxes.copy()}
