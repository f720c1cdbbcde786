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

"""Synthesise an RGB-D dataset with exact ground truth in the NOCS layout.

Writes DIR/<split>/<scene>/<NNNN>_{color,depth,mask,coord}.png, _meta.txt and
_label.pkl plus DIR/<split>/camera.json. Frames are grouped in scene folders
(--frames-per-scene, default 25) that share their objects while the camera moves,
so they also serve as tracking sequences. The output depends only on --seed (each
frame's randomness derives from (seed, split, frame index)), never on --workers.
Complete frames are skipped, so an interrupted run is finished by running it again;
<split>/synth.json records the settings, and a rerun with other settings is refused.

Example:
  cleanpose synth --out data/synth --split train --frames 2000 --seed 0 --workers 2
  cleanpose synth --out data/synth --split test --frames 200 --seed 1 --poses mixed --preview
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
import json
import logging
import multiprocessing
import os
from pathlib import Path
import sys
import time

import numpy as np

from cleanpose_core.data.nocs import frame_path, FrameRecord
from cleanpose_core.data.synth.mesh_files import read_manifest
from cleanpose_core.data.synth.noise import DepthNoise
from cleanpose_core.data.synth.render import REAL_K, RenderedFrame, SceneRenderer
from cleanpose_core.data.synth.scene import camera_pose, make_scene, POSE_MODES, SceneOptions
from cleanpose_core.data.synth.shapes import CAN_ENDS
from cleanpose_core.data.writer import write_camera_json, write_frame
from cleanpose_core.errors import ConfigError, DataError
from cleanpose_core.fileio import atomic_write_bytes
from cleanpose_core.log import progress

log = logging.getLogger(__name__)

__all__ = ['SynthSpec', 'render_frame', 'frame_to_record', 'synthesize', 'scene_name',
           'spec_to_dict', 'setup_synthesis_process', 'frame_done',
           'add_arguments', 'run']

_SPLIT_CODE = {'train': 0, 'test': 1}
# glibc mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


@dataclass(frozen=True)
class SynthSpec:
    """Everything that determines a synthetic split.

    Attributes:
        seed: master seed.
        split: 'train' or 'test' (disjoint instance seeds).
        frames_per_scene: frames per scene folder (same objects, moving camera).
        width, height: image size, pixels.
        K: (3, 3) intrinsics; REAL275 by default (scaled to the image size).
        poses: 'upright', 'mixed' or 'lying'.
        noise: depth noise model.
        scene: scene sampling options (its split and poses follow this spec).
    """

    seed: int = 0
    split: str = 'train'
    frames_per_scene: int = 25
    width: int = 640
    height: int = 480
    K: np.ndarray = field(default_factory=lambda: REAL_K.copy())
    poses: str = 'mixed'
    noise: DepthNoise = DepthNoise()
    scene: SceneOptions = SceneOptions()

    def __post_init__(self) -> None:
        if self.split not in _SPLIT_CODE:
            raise ConfigError(f"split must be 'train' or 'test'; got {self.split!r}")
        if self.poses not in POSE_MODES:
            raise ConfigError(f'poses must be one of {", ".join(POSE_MODES)}; got {self.poses!r}')
        if self.frames_per_scene < 1 or self.frames_per_scene > 10000:
            raise ConfigError(f'frames per scene must be in 1..10000; got {self.frames_per_scene}')
        if self.width < 16 or self.height < 16:
            raise ConfigError(f'image size must be at least 16x16; got {self.width}x{self.height}')
        if self.seed < 0:
            raise ConfigError(f'seed must be >= 0; got {self.seed}')
        sc = self.scene
        if not 1 <= sc.min_objects <= sc.max_objects or sc.max_distractors < 0:
            raise ConfigError(f'need 1 <= min_objects <= max_objects and max_distractors >= 0; '
                              f'got {sc.min_objects}, {sc.max_objects}, {sc.max_distractors}')
        if sc.can_ends not in CAN_ENDS:
            raise ConfigError(f'can ends must be one of {", ".join(CAN_ENDS)}; '
                              f'got {sc.can_ends!r}')
        if sc.min_objects + sc.max_objects + sc.max_distractors > 254:
            raise ConfigError('at most 254 objects fit the uint8 instance mask')
        object.__setattr__(self, 'scene', SceneOptions(**{**sc.__dict__, 'split': self.split,
                                                          'poses': self.poses}))


def scene_name(scene_index: int) -> str:
    """Return the folder name of a scene, e.g. '00007'."""
    return f'{scene_index:05d}'


_CACHE: dict = {}


def _renderer(spec: SynthSpec, scene_index: int, nthreads: int) -> SceneRenderer:
    key = (spec.seed, spec.split, spec.scene, scene_index)
    cached = _CACHE.get('renderer')
    if cached is None or cached[0] != key:
        rng = np.random.default_rng([spec.seed, _SPLIT_CODE[spec.split], 0, scene_index])
        scene = make_scene(spec.scene, rng)
        _CACHE['renderer'] = (key, SceneRenderer(scene, nthreads=nthreads))
    return _CACHE['renderer'][1]


def render_frame(spec: SynthSpec, frame_index: int, nthreads: int = 0) -> RenderedFrame:
    """Render global frame ``frame_index`` of a split (a pure function of spec and index).

    Args:
        spec: the split specification.
        frame_index: 0-based frame number over the whole split.
        nthreads: ray-casting threads (0 = all cores).
    """
    scene_index, k = divmod(int(frame_index), spec.frames_per_scene)
    renderer = _renderer(spec, scene_index, nthreads)
    rng = np.random.default_rng([spec.seed, _SPLIT_CODE[spec.split], 1, int(frame_index)])
    R_world_cam, t_world_cam = camera_pose(renderer.scene, k, rng)
    return renderer.render(R_world_cam, t_world_cam, spec.K, spec.width, spec.height, rng,
                           spec.noise)


def frame_to_record(frame: RenderedFrame, scene: str, index: int) -> FrameRecord:
    """Convert a rendered frame to the IO record (labels hold category objects only)."""
    cat = frame.class_ids > 0
    meta = tuple((int(i), int(c), str(m)) for i, c, m in
                 zip(frame.instance_ids, frame.class_ids, frame.model_ids))
    return FrameRecord(
        color=frame.color, depth=frame.depth, mask=frame.mask, K=frame.K,
        class_ids=frame.class_ids[cat].astype(np.int64),
        instance_ids=frame.instance_ids[cat].astype(np.int64),
        rotations=frame.rotations[cat].astype(np.float64),
        translations=frame.translations[cat].astype(np.float64),
        scales=frame.scales[cat].astype(np.float64), sizes=frame.sizes[cat].astype(np.float64),
        coord=frame.coord, bboxes=frame.bboxes[cat].astype(np.int64),
        handle_visibility=frame.handle_visibility[cat].astype(np.int64),
        model_list=[str(m) for m in frame.model_ids[cat]], meta=meta, scene=scene, index=index)


def _work(task: tuple) -> int:
    spec, split_dir, frame_index, nthreads = task
    scene_index, k = divmod(frame_index, spec.frames_per_scene)
    frame = render_frame(spec, frame_index, nthreads)
    name = scene_name(scene_index)
    write_frame(split_dir, name, k, frame_to_record(frame, name, k))
    return frame_index


def setup_synthesis_process() -> None:
    """Tune this (synthesis) process: one-thread numpy/OpenCV, and keep freed memory.

    The renderer's matrix products are skinny ((N, 3) @ (3, 3)); with several
    workers sharing the cores, idle-spinning BLAS threads cost more than they save.
    Every frame allocates and frees tens of full-image arrays of a few MB; glibc's
    malloc maps and unmaps each of them, and the page faults of the fresh pages cost
    ~20 % of a frame (system time). Raising the mmap and trim thresholds makes it reuse
    the memory instead (measured: 2.5 s -> 0.5 s system time for 100 frames).
    """
    import ctypes
    import glob

    import cv2

    cv2.setNumThreads(1)
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__) + '.libs', '*openblas*'))
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ('scipy_openblas_set_num_threads64_', 'openblas_set_num_threads64_',
                     'openblas_set_num_threads'):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn(1)
                break
    try:
        mallopt = ctypes.CDLL('libc.so.6').mallopt
    except (OSError, AttributeError):    # not glibc: nothing to tune
        return
    for param, value in ((_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 256 << 20),
                         (_M_TOP_PAD, 64 << 20)):
        mallopt(param, value)


def frame_done(split_dir: Path, spec: SynthSpec, frame_index: int) -> bool:
    """Return True when the frame's _label.pkl (written last) exists."""
    scene_index, k = divmod(frame_index, spec.frames_per_scene)
    return frame_path(split_dir, scene_name(scene_index), k, 'label.pkl').is_file()


def synthesize(spec: SynthSpec, split_dir: str | Path, frames: int, workers: int = 1,
               show_progress: bool = True) -> dict:
    """Render and write frames 0..frames-1 of a split, skipping complete ones.

    Args:
        spec: the split specification.
        split_dir: output folder of the split (created).
        frames: number of frames.
        workers: worker processes (1 = in this process).
        show_progress: show a progress bar on a terminal.

    Returns:
        dict with frames_total, frames_written, frames_skipped, seconds, frames_per_s.
    """
    if frames < 1:
        raise ConfigError(f'--frames must be >= 1; got {frames}')
    if workers < 1:
        raise ConfigError(f'--workers must be >= 1; got {workers}')
    split_dir = Path(split_dir)
    if split_dir.exists() and not split_dir.is_dir():
        raise ConfigError(f'{split_dir} exists and is not a directory; choose another --out')
    split_dir.mkdir(parents=True, exist_ok=True)
    _check_or_write_spec(split_dir, spec)
    write_camera_json(split_dir, spec.K, spec.width, spec.height)
    stale = [p for p in split_dir.glob('*/.*.tmp') if p.is_file()]
    for path in stale:                    # temp files of a killed run (never a frame)
        path.unlink(missing_ok=True)
    if stale:
        log.info('removed %d temporary files left by an interrupted run', len(stale))
    todo = [i for i in range(frames) if not frame_done(split_dir, spec, i)]
    skipped = frames - len(todo)
    if skipped:
        log.info('%d of %d frames already complete in %s; rendering %d', skipped, frames,
                 split_dir, len(todo))
    t0 = time.perf_counter()
    cpu0 = _cpu_seconds()
    bar = progress(total=len(todo), desc=f'synth {spec.split}', unit='frame',
                   disable=not show_progress or not sys.stderr.isatty())
    if workers == 1 or len(todo) <= 1:
        for i in todo:
            _work((spec, split_dir, i, 1))
            bar.update(1)
    else:
        tasks = [(spec, split_dir, i, 1) for i in todo]
        chunk = max(1, min(spec.frames_per_scene, len(todo) // (2 * workers) or 1))
        ctx = multiprocessing.get_context('spawn')
        with ctx.Pool(workers, initializer=setup_synthesis_process) as pool:
            for _ in pool.imap_unordered(_work, tasks, chunksize=chunk):
                bar.update(1)
    bar.close()
    seconds = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    return {'frames_total': frames, 'frames_written': len(todo), 'frames_skipped': skipped,
            'seconds': seconds, 'frames_per_s': len(todo) / seconds if seconds > 0 else 0.0,
            'cpu_seconds': cpu, 'cpu_ms_per_frame': 1000.0 * cpu / max(len(todo), 1)}


def spec_to_dict(spec: SynthSpec) -> dict:
    """Return the JSON-able description of a spec (written to <split>/synth.json).

    Scene options added after a split format was in use appear only when set, so a
    split written before them still matches the same command (``meshes``, ``can_ends``).
    """
    scene = dataclasses.asdict(spec.scene)
    if not scene['meshes']:
        del scene['meshes']
    if scene['can_ends'] == 'lid':
        del scene['can_ends']
    return {'seed': spec.seed, 'split': spec.split, 'frames_per_scene': spec.frames_per_scene,
            'width': spec.width, 'height': spec.height,
            'K': np.asarray(spec.K, np.float64).round(9).tolist(), 'poses': spec.poses,
            'noise': dataclasses.asdict(spec.noise), 'scene': scene}


def _check_or_write_spec(split_dir: Path, spec: SynthSpec) -> None:
    """Refuse to add frames of a different spec to a split; write synth.json otherwise."""
    path = split_dir / 'synth.json'
    want = spec_to_dict(spec)
    if path.is_file():
        try:
            have = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise DataError(f'{path}: cannot be read ({err}); delete it or choose another --out')
        if have != want:
            diff = sorted(k for k in set(have) | set(want) if have.get(k) != want.get(k))
            raise ConfigError(f'{split_dir} holds frames synthesised with other settings '
                              f'({", ".join(diff)} differ; see {path}); choose another --out '
                              'or repeat the original options')
        return
    atomic_write_bytes(path, (json.dumps(want, indent=2) + '\n').encode())


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children, seconds."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `cleanpose synth`."""
    parser.add_argument('--out', required=True, help='dataset root; the split goes in OUT/SPLIT')
    parser.add_argument('--split', choices=sorted(_SPLIT_CODE), default='train',
                        help='train or test (test uses novel instances)')
    parser.add_argument('--frames', type=int, required=True, help='number of frames')
    parser.add_argument('--seed', type=int, default=0, help='master seed (default 0)')
    parser.add_argument('--workers', type=int, default=os.cpu_count() or 1,
                        help='worker processes (default: all cores)')
    parser.add_argument('--poses', choices=list(POSE_MODES), default='mixed',
                        help='upright only, mixed (~40%% lying/upside down/leaning) or lying')
    parser.add_argument('--frames-per-scene', type=int, default=25,
                        help='frames per scene folder (same objects, moving camera)')
    parser.add_argument('--objects', type=int, nargs=2, default=(1, 6), metavar=('MIN', 'MAX'),
                        help='category objects per scene (default 1 6)')
    parser.add_argument('--distractors', type=int, default=3,
                        help='up to this many distractors per scene (default 3)')
    parser.add_argument('--instances', type=int, default=None,
                        help='instance pool per category (default train 1000, test 100)')
    parser.add_argument('--size', type=int, nargs=2, default=(640, 480),
                        metavar=('W', 'H'), help='image size (intrinsics scale with it)')
    parser.add_argument('--no-noise', action='store_true', help='exact depth, no sensor noise')
    parser.add_argument('--meshes', default=None, metavar='MANIFEST',
                        help='YAML/JSON list of mesh files (CAD models, scans) to use as the '
                        'category objects instead of the procedural shapes (see '
                        'cleanpose_core/data/synth/mesh_files.py)')
    parser.add_argument('--can-ends', choices=CAN_ENDS, default='lid',
                        help="metal-coloured ends of cans: 'lid' (default) or 'varied' (both, "
                        'the lid or neither, so colour does not tell the top)')
    parser.add_argument('--preview', action='store_true',
                        help='write OUT/<split>_preview.png with GT boxes and axes')


def spec_from_args(args: argparse.Namespace) -> SynthSpec:
    """Build the SynthSpec of parsed `cleanpose synth` arguments."""
    width, height = args.size
    K = REAL_K.copy()
    K[0] *= width / 640.0
    K[1] *= height / 480.0
    pool = args.instances if args.instances is not None else (
        1000 if args.split == 'train' else 100)
    if pool < 1:
        raise ConfigError(f'--instances must be >= 1; got {pool}')
    meshes = read_manifest(args.meshes) if args.meshes else ()
    scene = SceneOptions(min_objects=args.objects[0], max_objects=args.objects[1],
                         max_distractors=args.distractors, instances_per_category=pool,
                         meshes=meshes, can_ends=args.can_ends)
    return SynthSpec(seed=args.seed, split=args.split, frames_per_scene=args.frames_per_scene,
                     width=width, height=height, K=K, poses=args.poses,
                     noise=DepthNoise(enabled=not args.no_noise), scene=scene)


def run(args: argparse.Namespace) -> int:
    """Run `cleanpose synth`."""
    spec = spec_from_args(args)
    setup_synthesis_process()
    split_dir = Path(args.out) / args.split
    stats = synthesize(spec, split_dir, args.frames, workers=args.workers)
    log.info('%d frames written (%d already there) in %.1f s, %.1f frames/s',
             stats['frames_written'], stats['frames_skipped'], stats['seconds'],
             stats['frames_per_s'])
    if args.preview:
        from cleanpose_core.data.synth.preview import write_preview

        path = write_preview(split_dir, Path(args.out) / f'{args.split}_preview.png')
        sys.stdout.write(f'preview: {path}\n')
    sys.stdout.write(f'{split_dir}\n')
    return 0
