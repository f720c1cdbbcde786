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

"""Poses of the objects in one RGB-D frame: a JSON file and an annotated image.

The colour PNG is 8-bit RGB; the depth PNG is 16-bit in depth units (millimetres
unless camera.json says otherwise with depth_scale, units per metre), aligned to
the colour image; camera.json holds fx, fy, cx, cy (and optionally width, height,
depth_scale). Writes DIR/poses.json (one entry per object: category, score, track
id, R_cam_obj, t_cam_obj in metres, scale, size, metric extents, 4x4 pose, 2D box)
and DIR/annotated.png.

Examples:
  cleanpose predict --color 0000_color.png --depth 0000_depth.png --camera camera.json
  cleanpose predict --color c.png --depth d.png --camera cam.json pipeline.min_score=0.5
"""

from __future__ import annotations

import argparse
from dataclasses import replace
import logging
from pathlib import Path
import sys

import numpy as np

from cleanpose_core.config import load_config
from cleanpose_core.errors import DataError
from cleanpose_core.fileio import atomic_write_json
from cleanpose_core.pipeline.demo import write_png
from cleanpose_core.pipeline.draw import draw_result
from cleanpose_core.pipeline.pipeline import PosePipeline
from cleanpose_core.pipeline.results import Frame, FrameResult

__all__ = ['add_arguments', 'run', 'result_to_json']

log = logging.getLogger(__name__)


def result_to_json(result: FrameResult) -> dict:
    """A FrameResult as plain JSON types (poses in the camera optical frame, metres)."""
    objects = []
    for obj in result:
        T = np.eye(4)
        T[:3, :3] = obj.R_cam_obj
        T[:3, 3] = obj.t_cam_obj
        objects.append({
            'category': obj.category, 'category_id': obj.category_id,
            'score': round(obj.score, 4), 'track_id': obj.track_id,
            'R_cam_obj': np.round(obj.R_cam_obj, 6).tolist(),
            't_cam_obj': np.round(obj.t_cam_obj, 5).tolist(),
            'scale': round(obj.scale, 5), 'size': np.round(obj.size, 5).tolist(),
            'extents_m': np.round(obj.extents, 5).tolist(),
            'T_cam_obj': np.round(T, 6).tolist(),
            'box_xyxy': np.round(obj.box_xyxy, 1).tolist()})
    return {'objects': objects, 'skipped': dict(result.skipped),
            'timings_ms': {k: round(v, 2) for k, v in result.timings_ms.items()}}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `cleanpose predict`."""
    parser.add_argument('--color', required=True, help='8-bit RGB PNG')
    parser.add_argument('--depth', required=True, help='16-bit depth PNG aligned to colour')
    parser.add_argument('--camera', required=True, help='camera.json with fx, fy, cx, cy')
    parser.add_argument('--weights', default='', help='pose weights; default: shipped')
    parser.add_argument('--segmenter', default='', help='segmenter weights; default: shipped')
    parser.add_argument('--out', default='runs/predict', help='output folder')
    parser.add_argument('-c', '--config', help='YAML config file (pipeline section used)')
    parser.add_argument('overrides', nargs='*', help='key=value overrides (pipeline.*)')


def run(args: argparse.Namespace) -> int:
    """Predict one frame, write poses.json and annotated.png, print where they went."""
    from cleanpose_core.data.nocs import read_camera_file, read_color, read_depth_mm

    cfg = load_config(args.config, args.overrides).pipeline
    if args.weights:
        cfg = replace(cfg, weights=args.weights)
    if args.segmenter:
        cfg = replace(cfg, segmenter_weights=args.segmenter)
    K, depth_scale, (width, height) = read_camera_file(args.camera)
    color = read_color(args.color)
    depth = read_depth_mm(args.depth).astype(np.float32) / np.float32(depth_scale)
    if color.shape[:2] != depth.shape:
        raise DataError(f'depth {args.depth} is {depth.shape[1]}x{depth.shape[0]} but colour '
                        f'{args.color} is {color.shape[1]}x{color.shape[0]}; align depth to '
                        'colour')
    if width is not None and (width, height) != (color.shape[1], color.shape[0]):
        log.warning('%s says %dx%d but the images are %dx%d; using the intrinsics as given',
                    args.camera, width, height, color.shape[1], color.shape[0])
    pipeline = PosePipeline.from_config(cfg)
    result = pipeline(Frame(color, depth, K, frame_id=Path(args.color).stem))
    out = Path(args.out)
    poses = {'color': str(args.color), 'depth': str(args.depth), 'camera': str(args.camera),
             'frame': 'camera optical frame (x right, y down, z forward), metres',
             **result_to_json(result)}
    atomic_write_json(out / 'poses.json', poses)
    write_png(out / 'annotated.png', draw_result(color, K, result))
    for obj in result:
        log.info('%s #%d score %.2f at (%.3f, %.3f, %.3f) m, extents %s m', obj.category,
                 obj.track_id, obj.score, *obj.t_cam_obj, np.round(obj.extents, 3).tolist())
    if result.skipped:
        log.info('skipped: %s', result.skipped)
    sys.stdout.write(f'predict: {len(result)} objects\n  poses: {out / "poses.json"}\n'
                     f'  annotated image: {out / "annotated.png"}\n')
    return 0
