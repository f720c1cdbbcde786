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


"""Files of the instance segmenter: safetensors in, an ultralytics model out, offline.

Weights of the shipped segmenter are a safetensors state dict whose metadata hold
the ultralytics model definition (the YAML as JSON) and the class names; the model
is rebuilt from the definition and the tensors loaded into it, so nothing is
unpickled. A user's own ultralytics ``.pt`` file can be configured instead;
ultralytics unpickles it, so it must come from a trusted source.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
import shutil
import sys
from typing import Any, Optional

from cleanpose_core.errors import WeightsError
from cleanpose_core.fileio import atomic_path

__all__ = ['prepare_ultralytics', 'to_ultralytics_device', 'save_segmenter',
           'read_segmenter_metadata', 'load_segmenter_model', 'SEGMENTER_FORMAT']

log = logging.getLogger(__name__)

SEGMENTER_FORMAT = 'cleanpose-yolo-seg'
SEGMENTER_FORMAT_VERSION = 1


def prepare_ultralytics() -> None:
    """Make ultralytics work offline: environment defaults and the font it insists on.

    Sets YOLO_OFFLINE, YOLO_AUTOINSTALL, YOLO_CONFIG_DIR and MPLCONFIGDIR where they are
    unset (config under ~/.cache/cleanpose), and copies matplotlib's DejaVuSans.ttf to
    $YOLO_CONFIG_DIR/Ultralytics/Arial.ttf so ultralytics never tries to download it.
    Call before the first ``import ultralytics``.
    """
    cache = Path(os.environ.get('XDG_CACHE_HOME', Path.home() / '.cache')) / 'cleanpose'
    os.environ.setdefault('YOLO_OFFLINE', '1')
    os.environ.setdefault('YOLO_AUTOINSTALL', 'false')
    os.environ.setdefault('YOLO_CONFIG_DIR', str(cache / 'ultralytics'))
    os.environ.setdefault('MPLCONFIGDIR', str(cache / 'matplotlib'))
    if 'ultralytics' in sys.modules:
        log.debug('ultralytics was imported before prepare_ultralytics(); its settings '
                  'directory is already fixed')
    font = Path(os.environ['YOLO_CONFIG_DIR']) / 'Ultralytics' / 'Arial.ttf'
    if font.exists():
        return
    import matplotlib

    source = Path(matplotlib.get_data_path()) / 'fonts' / 'ttf' / 'DejaVuSans.ttf'
    with atomic_path(font) as tmp:
        shutil.copyfile(source, tmp)


def to_ultralytics_device(device: str) -> str:
    """Map our device names ('cpu', 'cuda', 'cuda:N') onto ultralytics' ('cpu', 'N')."""
    if device == 'cuda':
        return '0'
    if device.startswith('cuda:'):
        return device[5:]
    return device


def save_segmenter(path: str | Path, model: Any, extra_meta: Optional[dict] = None) -> Path:
    """Write an ultralytics segmentation model as safetensors + JSON metadata (atomic).

    Args:
        path: target .safetensors file.
        model: ultralytics ``SegmentationModel`` (nn.Module with ``.yaml`` and ``.names``)
            or a ``YOLO`` wrapper around one.
        extra_meta: more string-able metadata (imgsz, metrics, command line).

    Returns:
        The written path.

    Raises:
        WeightsError: if the model is not an ultralytics segmentation model.
    """
    import torch
    from safetensors.torch import save_file
    from ultralytics.engine.model import Model

    net = model.model if isinstance(model, Model) else model
    if not isinstance(net, torch.nn.Module) or not hasattr(net, 'yaml'):
        raise WeightsError(f'cannot save {type(model).__name__} as a segmenter: expected an '
                           'ultralytics SegmentationModel')
    names = net.names
    names = [names[i] for i in sorted(names)] if isinstance(names, dict) else list(names)
    tensors = {k: v.detach().to('cpu', torch.float32 if v.is_floating_point() else v.dtype)
               .contiguous().clone() for k, v in net.state_dict().items()}
    import ultralytics

    meta = {'format': SEGMENTER_FORMAT, 'format_version': str(SEGMENTER_FORMAT_VERSION),
            'yaml': json.dumps(net.yaml), 'names': json.dumps(names),
            'arch': str(net.yaml.get('yaml_file', '')),
            'ultralytics_version': ultralytics.__version__}
    for key, value in (extra_meta or {}).items():
        meta[key] = value if isinstance(value, str) else json.dumps(value)
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def read_segmenter_metadata(path: str | Path) -> dict:
    """Return the metadata of a segmenter .safetensors file (JSON values decoded).

    Raises:
        WeightsError: missing, unreadable or not a cleanpose segmenter file.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f'segmenter weights {path} not found')
    try:
        with safe_open(str(path), framework='pt') as f:
            meta = dict(f.metadata() or {})
    except Exception as err:  # safetensors raises its own error types
        raise WeightsError(f'segmenter weights {path} are not a readable safetensors file: '
                           f'{err}') from None
    if meta.get('format') != SEGMENTER_FORMAT:
        raise WeightsError(f'{path} is not a cleanpose segmenter (metadata format '
                           f'{meta.get("format")!r}, expected {SEGMENTER_FORMAT!r})')
    out = {}
    for key, value in meta.items():
        try:
            out[key] = json.loads(value)
        except (TypeError, ValueError):
            out[key] = value
    return out


def load_segmenter_model(path: str | Path) -> Any:
    """Load segmentation weights into an ultralytics ``YOLO`` object.

    Args:
        path: our .safetensors file (rebuilt from its metadata, no unpickling) or an
            ultralytics .pt checkpoint (unpickled by ultralytics: trusted files only).

    Returns:
        An ``ultralytics.YOLO`` segmentation model.

    Raises:
        WeightsError: missing file, unknown suffix, corrupt or mismatching weights.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f'segmenter weights {path} not found; train them with '
                           '`cleanpose train-segmenter` or set pipeline.segmenter_weights')
    prepare_ultralytics()
    from ultralytics import YOLO

    if path.suffix == '.pt':
        log.warning('loading ultralytics checkpoint %s: .pt files are pickles and can run '
                    'code; only use files from a source you trust', path)
        try:
            model = YOLO(str(path))
        except Exception as err:  # ultralytics raises many types on bad checkpoints
            raise WeightsError(f'ultralytics cannot load {path}: {err}') from None
        if model.task != 'segment':
            raise WeightsError(f'{path} is a {model.task!r} model; a segmentation model '
                               '(task segment) is needed')
        return model
    if path.suffix != '.safetensors':
        raise WeightsError(f'segmenter weights {path}: expected a .safetensors file (ours) or '
                           'an ultralytics .pt file')
    return _yolo_from_safetensors(path)


def _yolo_from_safetensors(path: Path) -> Any:
    import torch
    from safetensors.torch import load_file
    from ultralytics import YOLO
    from ultralytics.nn.tasks import guess_model_task, SegmentationModel

    meta = read_segmenter_metadata(path)
    cfg, names = meta.get('yaml'), meta.get('names')
    if not isinstance(cfg, dict) or not isinstance(names, list) or not names:
        raise WeightsError(f'{path}: metadata lacks the model definition or class names')
    if guess_model_task(cfg) != 'segment':
        raise WeightsError(f'{path}: the stored model definition is not a segmentation model')
    try:
        tensors = load_file(str(path))
    except Exception as err:  # safetensors raises its own error types
        raise WeightsError(f'segmenter weights {path} are corrupt: {err}') from None
    net = SegmentationModel(cfg, ch=int(cfg.get('channels', 3)), nc=len(names), verbose=False)
    result = net.load_state_dict(tensors, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise WeightsError(f'{path} does not match its model definition: missing '
                           f'{result.missing_keys[:3]}, unexpected {result.unexpected_keys[:3]}')
    net.names = dict(enumerate(names))
    net.float().eval()
    with torch.no_grad():
        net.stride = net.stride.float()
    # A YOLO wrapper gives us ultralytics' predictor (letterbox, NMS, mask decoding);
    # the stock yaml only provides the wrapper, the network is ours.
    model = YOLO('yolo11n-seg.yaml', task='segment')
    net.args = {**model.model.args, 'model': str(path)}
    net.task = 'segment'
    net.pt_path = str(path)
    model.model = net
    model.overrides['model'] = str(path)
    return model
