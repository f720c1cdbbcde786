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

"""Instance segmenters: an ultralytics YOLO segmentation model, or ground-truth masks.

A segmenter turns an RGB image into instance masks of the six categories.

Weights of the shipped segmenter are a safetensors state dict whose metadata hold
the ultralytics model definition (the YAML as JSON) and the class names; the model
is rebuilt from the definition and the tensors loaded into it, so nothing is
unpickled. A user's own ultralytics ``.pt`` file can be configured instead;
ultralytics unpickles it, so it must come from a trusted source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
import logging
import os
from pathlib import Path
import shutil
import sys
from typing import Any, Optional, Protocol

import numpy as np

from cleanpose_core.categories import CATEGORIES, category_id
from cleanpose_core.errors import WeightsError
from cleanpose_core.fileio import atomic_path

__all__ = ['Detection2D', 'Segmentation', 'Segmenter', 'YoloSegmenter', 'GtMaskSegmenter',
           'prepare_ultralytics', 'save_segmenter', 'load_segmenter_model',
           'read_segmenter_metadata', 'SEGMENTER_FORMAT', 'to_ultralytics_device']

log = logging.getLogger(__name__)

SEGMENTER_FORMAT = 'cleanpose-yolo-seg'
SEGMENTER_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Detection2D:
    """One instance found in an image.

    Attributes:
        mask: (H, W) bool, True on the instance, at the image's resolution.
        category_id: NOCS class id 1..6.
        score: segmenter confidence in [0, 1].
        box_xyxy: (4,) x1, y1, x2, y2 pixels.
    """

    mask: np.ndarray
    category_id: int
    score: float
    box_xyxy: np.ndarray


@dataclass(frozen=True)
class Segmentation:
    """The instances of one image and what was dropped on the way.

    Attributes:
        detections: instances, highest score first.
        skipped: reason -> count of segmenter outputs dropped (e.g. 'unmapped_class').
    """

    detections: tuple = ()
    skipped: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.detections)


class Segmenter(Protocol):
    """Anything that segments an RGB image into category instances."""

    def __call__(self, color: np.ndarray) -> Segmentation:
        """Segment one (H, W, 3) uint8 RGB image."""


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


def erode_masks(masks: np.ndarray, pixels: int) -> np.ndarray:
    """Take `pixels` off the boundary of each (M, H, W) bool mask (square kernel)."""
    if pixels <= 0 or len(masks) == 0:
        return masks
    import cv2

    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    return np.stack([cv2.erode(m.view(np.uint8), kernel) > 0 for m in masks])


class YoloSegmenter:
    """Segment images with an ultralytics YOLO segmentation model.

    Class names map onto categories: a name that is a category maps onto itself, and
    ``class_map`` adds more (e.g. COCO's {'cup': 'mug'}). Outputs of other classes are
    dropped and counted as 'unmapped_class'.

    Args:
        model: ``ultralytics.YOLO`` segmentation model.
        class_map: model class name -> category name.
        conf: confidence threshold in [0, 1].
        imgsz: inference size, pixels (multiple of 32).
        device: 'cpu', 'cuda' or 'cuda:N'.
        max_det: most detections kept by the model's NMS (mapped or not).
        erode: pixels taken off each mask's boundary (0 = none). The masks come at the
            network's input size and are scaled up, so their edges bleed onto the
            background; depth points from there would pull the pose off.

    Raises:
        WeightsError: if none of the model's classes maps onto a category.
    """

    def __init__(self, model: Any, class_map: Optional[dict] = None, conf: float = 0.25,
                 imgsz: int = 320, device: str = 'cpu', max_det: int = 50,
                 erode: int = 0) -> None:
        if erode < 0:
            raise ValueError(f'erode must be >= 0 pixels; got {erode}')
        self.model = model
        self.erode = int(erode)
        self.max_det = int(max_det)
        self.conf = float(conf)
        self.imgsz = int(imgsz)
        self.device = device
        names = model.names
        mapping = {name: name for name in CATEGORIES}
        mapping.update(class_map or {})
        self.class_to_category = {int(i): category_id(mapping[n])
                                  for i, n in names.items() if n in mapping}
        if not self.class_to_category:
            shown = list(names.values())[:10]
            raise WeightsError(f'none of the segmenter classes {shown} maps onto a category '
                               f'of {list(CATEGORIES)}; set pipeline.class_map, e.g. '
                               "{'cup': 'mug'}")
        dropped = sorted(n for n in names.values() if n not in mapping)
        if dropped:
            log.info('segmenter: %d of %d classes map onto categories; the others are dropped',
                     len(self.class_to_category), len(names))

    @classmethod
    def from_weights(cls, path: str | Path, class_map: Optional[dict] = None,
                     conf: float = 0.25, imgsz: int = 320,
                     device: str = 'cpu', max_det: int = 50,
                     erode: int = 0) -> 'YoloSegmenter':
        """Load weights (see load_segmenter_model) and wrap them."""
        return cls(load_segmenter_model(path), class_map, conf, imgsz, device, max_det, erode)

    def __call__(self, color: np.ndarray) -> Segmentation:
        """Segment one image.

        Args:
            color: (H, W, 3) uint8 RGB.

        Returns:
            Segmentation with masks at (H, W), highest score first.
        """
        if color.ndim != 3 or color.shape[2] != 3 or color.dtype != np.uint8:
            raise ValueError(f'color must be (H, W, 3) uint8 RGB; got {color.shape} '
                             f'{color.dtype}')
        bgr = np.ascontiguousarray(color[..., ::-1])  # ultralytics reads numpy as BGR
        # Masks come at the network's input size; only the kept ones are scaled up to
        # the image (cheaper than retina_masks when a model has many unmapped classes).
        import torch

        # ultralytics' CPU predictor sets torch to one thread and leaves it there, which
        # would slow every later torch call of the process (the pose network) down.
        threads = torch.get_num_threads()
        try:
            result = self.model.predict(bgr, imgsz=self.imgsz, conf=self.conf,
                                        device=to_ultralytics_device(self.device),
                                        max_det=self.max_det, retina_masks=False,
                                        verbose=False)[0]
        finally:
            torch.set_num_threads(threads)
        if result.masks is None or result.boxes is None or len(result.boxes) == 0:
            return Segmentation()
        classes = result.boxes.cls.cpu().numpy().astype(np.int64)
        scores = result.boxes.conf.cpu().numpy().astype(np.float64)
        boxes = result.boxes.xyxy.cpu().numpy().astype(np.float64)
        order = np.argsort(-scores, kind='stable')
        kept = [int(i) for i in order if int(classes[i]) in self.class_to_category]
        unmapped = len(order) - len(kept)
        skipped = {'unmapped_class': unmapped} if unmapped else {}
        if not kept:
            return Segmentation((), skipped)
        from ultralytics.utils import ops

        h, w = color.shape[:2]
        masks = ops.scale_masks(result.masks.data[kept][None], (h, w))[0] > 0.5
        masks = erode_masks(masks.cpu().numpy(), self.erode)
        detections = tuple(
            Detection2D(masks[k], self.class_to_category[int(classes[i])], float(scores[i]),
                        boxes[i]) for k, i in enumerate(kept))
        return Segmentation(detections, skipped)


def _mask_box(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return np.zeros(4)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)


class GtMaskSegmenter:
    """Ground-truth instance masks of a NOCS-layout frame (for evaluation).

    Every labelled instance (class 1..6; distractors are not labelled) with at least
    one mask pixel becomes a detection with score 1, in label order.
    """

    def __call__(self, record: Any) -> Segmentation:
        """Return the ground-truth instances of a data.nocs.FrameRecord."""
        detections, skipped = [], {}
        for i in range(len(record)):
            mask = record.instance_mask(i)
            if not mask.any():
                skipped['empty_mask'] = skipped.get('empty_mask', 0) + 1
                continue
            detections.append(Detection2D(mask, int(record.class_ids[i]), 1.0, _mask_box(mask)))
        return Segmentation(tuple(detections), skipped)
