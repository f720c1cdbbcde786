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

"""Synthesise a short sequence and run the full pipeline on it with the shipped weights.

One synthetic scene (unseen test instances) is rendered from a moving camera; each
frame goes through PosePipeline (the shipped segmenter, or the ground-truth masks
when no segmenter weights are shipped or --masks gt), and the poses are compared
with the ground truth. Writes DIR/frames/NNNN.png (predicted boxes, axes and track
ids; the ground-truth boxes in thin grey) and DIR/summary.json (mAP over the
sequence, per-category errors, track ids per object, stage timings).

Examples:
  cleanpose demo --out runs/demo
  cleanpose demo --out runs/demo --frames 16 --objects 5 --masks gt
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
import sys
from typing import Any, Iterator

import numpy as np

from cleanpose_core.categories import CATEGORIES
from cleanpose_core.config import DEFAULT_SEGMENTER, load_config, PipelineConfig
from cleanpose_core.draw import draw_pose
from cleanpose_core.errors import ConfigError
from cleanpose_core.fileio import atomic_write_bytes, atomic_write_json
from cleanpose_core.pipeline.draw import draw_result
from cleanpose_core.pipeline.eval_segmenter import result_to_prediction
from cleanpose_core.pipeline.pipeline import PosePipeline, STAGES
from cleanpose_core.pipeline.results import Frame
from cleanpose_core.pipeline.segmenter import GtMaskSegmenter

__all__ = ['add_arguments', 'run', 'run_demo', 'synth_sequence', 'synth_spec', 'write_png']

log = logging.getLogger(__name__)

MAX_FRAMES = 200   # the demo holds its rendered frames in memory (~7 MB each)


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Write an RGB image as PNG atomically."""
    import cv2

    ok, data = cv2.imencode('.png', np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise OSError(f'cannot encode {path}')
    atomic_write_bytes(path, data.tobytes())


def synth_spec(objects: int, frames_per_scene: int, seed: int = 0, width: int = 640,
               height: int = 480, distractors: int = 1) -> Any:
    """The SynthSpec of a test-split scene with exactly ``objects`` category objects.

    The REAL275 intrinsics are scaled to the image size (as `cleanpose synth --size` does).
    """
    from cleanpose_core.data.synth.command import SynthSpec
    from cleanpose_core.data.synth.render import REAL_K
    from cleanpose_core.data.synth.scene import SceneOptions

    K = REAL_K.copy()
    K[0] *= width / 640.0
    K[1] *= height / 480.0
    return SynthSpec(seed=seed, split='test', frames_per_scene=frames_per_scene, width=width,
                     height=height, K=K,
                     scene=SceneOptions(min_objects=objects, max_objects=objects,
                                        max_distractors=distractors,
                                        instances_per_category=100))


def synth_sequence(frames: int, objects: int = 4, seed: int = 0, width: int = 640,
                   height: int = 480) -> Iterator[tuple[Frame, Any]]:
    """Render a synthetic sequence: one scene of unseen test instances, moving camera.

    Args:
        frames: frames of the sequence (30 Hz stamps).
        objects: category objects in the scene (plus up to one distractor).
        seed: seed of the scene.
        width, height: image size, pixels (intrinsics scale with it).

    Yields:
        (Frame, data.nocs.FrameRecord with the ground truth) per frame.
    """
    from cleanpose_core.data.synth.command import frame_to_record, render_frame

    spec = synth_spec(objects, frames, seed, width, height)
    for k in range(frames):
        record = frame_to_record(render_frame(spec, k), 'demo', k)
        yield Frame(record.color, record.depth, record.K, stamp_ns=k * 33_333_333,
                    frame_id='camera_color_optical_frame'), record


def _draw_ground_truth(image: np.ndarray, record) -> None:
    for i in range(len(record)):
        draw_pose(image, record.K, record.rotations[i], record.translations[i],
                  record.scales[i], record.sizes[i], color=(200, 200, 200), thickness=1)


def _track_report(track_log: list) -> dict:
    """Per ground-truth object: the track ids it got over the sequence (1 id = stable)."""
    by_object: dict = {}
    for gt_key, track_id in track_log:
        by_object.setdefault(gt_key, []).append(int(track_id))
    ids = {k: sorted(set(v)) for k, v in by_object.items()}
    switches = sum(len(v) - 1 for v in ids.values())
    return {'objects': len(ids), 'id_switches': switches,
            'track_ids_per_object': {k: v for k, v in sorted(ids.items())}}


def run_demo(cfg: PipelineConfig, out: Path, frames: int = 8, objects: int = 4, seed: int = 0,
             masks: str = 'auto') -> dict:
    """Render, run, score and draw a sequence; return the summary (also in summary.json).

    Args:
        cfg: pipeline config (weights '' = shipped).
        out: output folder.
        frames: frames of the sequence.
        objects: category objects in the scene.
        seed: seed of the synthetic scene.
        masks: 'auto' (segmenter when its weights exist, else ground truth), 'gt' or
            'segmenter'.
    """
    from cleanpose_core.data.dataset import gt_results_fields
    from cleanpose_core.eval.metrics import compute_nocs_metrics, per_instance_errors

    seg_path = Path(cfg.segmenter_weights) if cfg.segmenter_weights else DEFAULT_SEGMENTER
    if masks == 'auto':
        masks = 'segmenter' if seg_path.is_file() else 'gt'
        if masks == 'gt':
            log.warning('demo: no segmenter weights at %s; using the ground-truth masks',
                        seg_path)
    log.info('demo: instance masks from %s', 'the segmenter ' + str(seg_path)
             if masks == 'segmenter' else 'the ground truth')
    pipeline = PosePipeline.from_config(cfg, gt_masks=masks == 'gt')
    gt_segmenter = GtMaskSegmenter()
    results, timings, track_log, skipped, images = [], [], [], {}, []
    # Rendered before the pipeline runs, so that the timings are the pipeline's: rendering
    # between frames slowed the next frame by 30-45 ms on 2 cores (the renderer's worker
    # threads and the caches it fills). ~7 MB per frame, hence MAX_FRAMES.
    sequence = list(synth_sequence(frames, objects, seed))
    for k, (frame, record) in enumerate(sequence):
        result = pipeline(frame, gt_segmenter(record) if masks == 'gt' else None)
        for reason, n in result.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + n
        timings.append(result.timings_ms)
        nocs = {**result_to_prediction(result), **gt_results_fields(record)}
        results.append(nocs)
        for pair in per_instance_errors([nocs]):
            g = pair['gt_index']
            gt_key = f'{CATEGORIES[record.class_ids[g] - 1]}_{record.instance_ids[g]}'
            track_log.append((gt_key, result.track_ids[pair['pred_index']]))
        image = draw_result(record.color, record.K, result)
        _draw_ground_truth(image, record)
        path = out / 'frames' / f'{k:04d}.png'
        write_png(path, image)
        images.append(str(path))
        log.info('demo frame %d: %d objects in view, %d poses, %.0f ms', k, len(record),
                 len(result), result.timings_ms['total'])
    scored = compute_nocs_metrics(results)
    errors = per_instance_errors(results)
    rot = np.array([e['rot_deg'] for e in errors]) if errors else np.zeros(0)
    trans = np.array([e['trans_cm'] for e in errors]) if errors else np.zeros(0)
    iou = np.array([e['iou'] for e in errors]) if errors else np.zeros(0)

    def stat(a: np.ndarray) -> dict:
        if len(a) == 0:
            return {'median': None, 'mean': None}
        return {'median': round(float(np.median(a)), 3), 'mean': round(float(np.mean(a)), 3)}

    summary = {
        'frames': frames, 'masks': masks, 'segmenter': str(seg_path) if masks == 'segmenter'
        else None, 'weights': cfg.weights or 'shipped default', 'seed': seed,
        'ground_truth_instances': int(sum(len(r['gt_class_ids']) for r in results)),
        'predictions': int(sum(len(r['pred_class_ids']) for r in results)),
        'matched': len(errors),
        'metrics': {k: round(float(v), 2) for k, v in scored.metrics.items()},
        'errors': {'rot_deg': stat(rot), 'trans_cm': stat(trans), 'iou3d': stat(iou)},
        'tracking': _track_report(track_log), 'skipped': skipped,
        'timings_ms_median': {s: round(float(np.median([t[s] for t in timings])), 2)
                              for s in STAGES},
        'images': images,
    }
    atomic_write_json(out / 'summary.json', summary)
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `cleanpose demo`."""
    parser.add_argument('--out', default='runs/demo', help='output folder')
    parser.add_argument('-c', '--config', help='YAML config file (pipeline section used)')
    parser.add_argument('--frames', type=int, default=8,
                        help=f'frames of the sequence, 1..{MAX_FRAMES} (rendered first)')
    parser.add_argument('--objects', type=int, default=4, help='category objects in the scene')
    parser.add_argument('--seed', type=int, default=0, help='seed of the synthetic scene')
    parser.add_argument('--masks', choices=('auto', 'gt', 'segmenter'), default='auto',
                        help='auto: the shipped segmenter when present, else ground truth')
    parser.add_argument('overrides', nargs='*', help='key=value overrides (pipeline.*)')


def run(args: argparse.Namespace) -> int:
    """Run the demo and print where everything went."""
    if not 1 <= args.frames <= MAX_FRAMES or not 1 <= args.objects <= 20:
        raise ConfigError(f'--frames must be in 1..{MAX_FRAMES} and --objects in 1..20')
    cfg = load_config(args.config, args.overrides).pipeline
    out = Path(args.out)
    summary = run_demo(cfg, out, args.frames, args.objects, args.seed, args.masks)
    m, e = summary['metrics'], summary['errors']
    sys.stdout.write(
        f"demo: {summary['frames']} frames, masks from {summary['masks']}, "
        f"{summary['matched']}/{summary['ground_truth_instances']} objects matched\n"
        f"  rotation error median {e['rot_deg']['median']} deg, translation "
        f"{e['trans_cm']['median']} cm, 3D IoU {e['iou3d']['median']}\n"
        f"  mAP IoU50 {m.get('iou50')}, 10deg5cm {m.get('10deg5cm')}; "
        f"track id switches {summary['tracking']['id_switches']}\n"
        f"  median {summary['timings_ms_median']['total']} ms per frame\n"
        f'  annotated frames: {out / "frames"}\n  summary: {out / "summary.json"}\n')
    return 0
