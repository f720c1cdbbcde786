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

"""Train the ultralytics instance segmenter on a NOCS-layout dataset, fully offline.

Exports the train and test splits as an ultralytics segmentation dataset
(OUT/dataset), trains with ultralytics' own trainer (OUT/ultralytics: its weights,
results.csv and args.yaml), converts last.pt (not best.pt, which is picked on the
test split) into the package's safetensors format
(OUT/segmenter.safetensors: state dict + model definition and class names in the
metadata, loadable without unpickling), scores that file with ultralytics' validator
on the test split and writes OUT/summary.json (mask and box mAP50, mAP50-95).
--ship also installs it as the default segmenter (cleanpose_core/weights/).
Extra ultralytics training arguments go as yolo.KEY=VALUE (e.g. yolo.mosaic=0.5).
On the CPU training uses workers=0 and amp=False. Note that ultralytics'
yolo.fraction=F keeps the *first* F of the sorted training images, the same ones in
every epoch and every run: shorten a run with fewer epochs instead, so that it sees
the whole set.

Examples:
  cleanpose train-segmenter --data data/synth --epochs 30 --imgsz 320 --out runs/seg
  cleanpose train-segmenter --data data/synth --epochs 1 --out runs/seg-smoke yolo.fraction=0.1
  cleanpose train-segmenter --data data/synth --out runs/seg --resume --ship
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
import shutil
import sys
import tempfile
import time

import yaml

from cleanpose_core.config import DEFAULT_SEGMENTER
from cleanpose_core.errors import ConfigError, WeightsError
from cleanpose_core.fileio import atomic_path, atomic_write_json
from cleanpose_core.pipeline.segmenter_weights import (
    load_segmenter_model, prepare_ultralytics, save_segmenter, to_ultralytics_device)

__all__ = ['add_arguments', 'run', 'train_segmenter', 'validate_segmenter']

log = logging.getLogger(__name__)


def _parse_yolo_overrides(items: list) -> dict:
    out = {}
    for item in items:
        if not item.startswith('yolo.') or '=' not in item:
            raise ConfigError(f'unknown argument {item!r}; ultralytics arguments go as '
                              'yolo.KEY=VALUE, e.g. yolo.mosaic=0.5')
        key, value = item[5:].split('=', 1)
        out[key] = yaml.safe_load(value) if value.strip() else ''
    return out


def validate_segmenter(weights: Path, data_yaml: Path, imgsz: int, device: str,
                       split: str = 'val', batch: int = 8) -> dict:
    """Score a segmenter file with ultralytics' validator.

    Args:
        weights: our .safetensors (or an ultralytics .pt).
        data_yaml: the exported dataset's data.yaml.
        imgsz: validation image size.
        device: 'cpu', 'cuda' or 'cuda:N'.
        split: data.yaml split ('val' is the test split of our export).
        batch: validation batch size.

    Returns:
        {'mask_map50', 'mask_map50_95', 'box_map50', 'box_map50_95'} in [0, 1].
    """
    model = load_segmenter_model(weights)
    # ultralytics makes a run folder even without plots; keep it out of the weights' folder
    # (the shipped weights live inside the package).
    with tempfile.TemporaryDirectory(prefix='cleanpose_val_') as project:
        metrics = model.val(data=str(data_yaml), imgsz=imgsz,
                            device=to_ultralytics_device(device), split=split, batch=batch,
                            workers=0, plots=False, verbose=False, project=project,
                            name='val', exist_ok=True)
    return {'mask_map50': round(float(metrics.seg.map50), 4),
            'mask_map50_95': round(float(metrics.seg.map), 4),
            'box_map50': round(float(metrics.box.map50), 4),
            'box_map50_95': round(float(metrics.box.map), 4)}


def train_segmenter(data: Path, out: Path, epochs: int, imgsz: int, model_name: str,
                    device: str, batch: int, seed: int = 0, train_split: str = 'train',
                    val_split: str = 'test', resume: bool = False,
                    yolo_args: dict | None = None, init: Path | None = None) -> dict:
    """Export, train, convert and validate; return the summary (also OUT/summary.json).

    ``init`` fine-tunes one of our .safetensors segmenters (rebuilt from its own model
    definition, nothing unpickled) instead of starting from ``model_name``.

    Raises:
        ConfigError: bad arguments. DataError: broken dataset. WeightsError: no weights.
    """
    prepare_ultralytics()
    from ultralytics import YOLO

    from cleanpose_core.data.yolo_export import export_yolo

    start = time.time()
    out.mkdir(parents=True, exist_ok=True)
    data_yaml = export_yolo(data, out / 'dataset', splits=(train_split, val_split))
    run_dir = out / 'ultralytics'
    last = run_dir / 'weights' / 'last.pt'
    cpu = device == 'cpu'
    if resume:
        if not last.is_file():
            raise ConfigError(f'--resume: no {last} to resume from')
        log.info('resuming %s', last)
        model = YOLO(str(last))
        trained_metrics = model.train(resume=True, device=to_ultralytics_device(device),
                                      workers=0)
    elif init is not None:
        model = load_segmenter_model(init)
        # An object load makes ultralytics seed training from this very network.
        model.load(model.model)
        model_name = str(init)
        log.info('fine-tuning %s', init)
    else:
        if model_name.endswith('.pt'):
            log.warning('starting from ultralytics checkpoint %s: .pt files are pickles and can '
                        'run code; only use files from a source you trust', model_name)
        elif not model_name.endswith(('.yaml', '.yml')):
            raise ConfigError(f'--model must be an ultralytics model yaml (e.g. '
                              f'yolo11n-seg.yaml) or .pt file; got {model_name!r}')
        model = YOLO(model_name, task='segment')
    if not resume:
        args = dict(data=str(data_yaml), epochs=epochs, imgsz=imgsz, batch=batch,
                    device=to_ultralytics_device(device), workers=0, seed=seed,
                    project=str(out.resolve()), name='ultralytics', exist_ok=True,
                    plots=False, verbose=False,
                    pretrained=init is not None or model_name.endswith('.pt'))
        if cpu:
            args['amp'] = False
        args.update(yolo_args or {})
        log.info('training %s for %d epochs at %d px on %s (ultralytics output in %s)',
                 model_name, epochs, imgsz, device, run_dir)
        trained_metrics = model.train(**args)
    # The last weights, not ultralytics' best.pt: best.pt is picked on the validation
    # split, which is the test split here, and would flatter the reported score.
    if not last.is_file():
        raise WeightsError(f'ultralytics wrote no weights under {run_dir / "weights"}')
    trained = YOLO(str(last))  # our own, just written: trusted
    weights = out / 'segmenter.safetensors'
    save_segmenter(weights, trained, {'imgsz': imgsz, 'epochs': epochs, 'data': str(data),
                                      'source_checkpoint': str(last)})
    scores = validate_segmenter(weights, data_yaml, imgsz, device)
    # ultralytics' own final validation of its best.pt: equal to ours when best.pt is the
    # last epoch (always so for one epoch), unless the conversion lost something.
    seg = getattr(trained_metrics, 'seg', None)
    trainer_map50 = round(float(seg.map50), 4) if seg is not None else None
    summary = {'weights': str(weights), 'data': str(data), 'model': model_name,
               'epochs': epochs, 'imgsz': imgsz, 'device': device, 'batch': batch,
               'train_split': train_split, 'test_split': val_split, **scores,
               'trainer_best_pt_mask_map50': trainer_map50,
               'ultralytics_run': str(run_dir), 'seconds': round(time.time() - start, 1)}
    save_segmenter(weights, trained, {'imgsz': imgsz, 'epochs': epochs, 'data': str(data),
                                      'source_checkpoint': str(last), **scores})
    atomic_write_json(out / 'summary.json', summary)
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `cleanpose train-segmenter`."""
    parser.add_argument('--data', required=True, help='dataset root holding the split folders')
    parser.add_argument('--out', default='runs/train-segmenter', help='output folder')
    parser.add_argument('--epochs', type=int, default=30, help='training epochs')
    parser.add_argument('--imgsz', type=int, default=320, help='image size, multiple of 32')
    parser.add_argument('--batch', type=int, default=16, help='batch size')
    parser.add_argument('--model', default='yolo11n-seg.yaml',
                        help='ultralytics model yaml (from scratch) or trusted .pt to fine-tune')
    parser.add_argument('--device', default='cpu', help="'cpu', 'cuda' or 'cuda:N'")
    parser.add_argument('--train-split', default='train', help='split trained on')
    parser.add_argument('--test-split', default='test', help='split validated on')
    parser.add_argument('--seed', type=int, default=0, help='training seed')
    parser.add_argument('--init', default=None,
                        help="our segmenter .safetensors to fine-tune ('shipped' = the "
                             'shipped default) instead of --model')
    parser.add_argument('--resume', action='store_true',
                        help='continue OUT/ultralytics/weights/last.pt')
    parser.add_argument('--ship', action='store_true',
                        help=f'also install the result as {DEFAULT_SEGMENTER}')
    parser.add_argument('overrides', nargs='*', help='ultralytics arguments as yolo.KEY=VALUE')


def run(args: argparse.Namespace) -> int:
    """Train the segmenter and print where everything went."""
    if args.epochs < 1 or args.batch < 1:
        raise ConfigError('--epochs and --batch must be >= 1')
    if args.imgsz < 32 or args.imgsz % 32:
        raise ConfigError(f'--imgsz must be a multiple of 32; got {args.imgsz}')
    if not (args.device in ('cpu', 'cuda') or args.device.startswith('cuda:')):
        raise ConfigError(f"--device must be 'cpu', 'cuda' or 'cuda:N'; got {args.device!r}")
    out = Path(args.out)
    init = None
    if args.init:
        init = DEFAULT_SEGMENTER if args.init == 'shipped' else Path(args.init)
        if args.resume:
            raise ConfigError('--init and --resume exclude each other')
    summary = train_segmenter(Path(args.data), out, args.epochs, args.imgsz, args.model,
                              args.device, args.batch, args.seed, args.train_split,
                              args.test_split, args.resume, _parse_yolo_overrides(args.overrides),
                              init)
    shipped = ''
    if args.ship:
        with atomic_path(DEFAULT_SEGMENTER) as tmp:
            shutil.copyfile(summary['weights'], tmp)
        shipped = f'  shipped as: {DEFAULT_SEGMENTER}\n'
    sys.stdout.write(f"train-segmenter: mask mAP50 {summary['mask_map50']:.3f} "
                     f"(box {summary['box_map50']:.3f}) on {args.test_split}\n"
                     f"  weights: {summary['weights']}\n{shipped}"
                     f'  summary: {out / "summary.json"}\n'
                     f"  ultralytics run: {summary['ultralytics_run']}\n")
    return 0
