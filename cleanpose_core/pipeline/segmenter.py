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

A segmenter turns an RGB image into instance masks of the six categories. Loading and
saving the weights lives in segmenter_weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import logging
from pathlib import Path
from typing import Any, Optional, Protocol

import numpy as np

from cleanpose_core.categories import CATEGORIES, category_id
from cleanpose_core.errors import WeightsError
from cleanpose_core.geometry.masks import mask_box
from cleanpose_core.pipeline.segmenter_weights import load_segmenter_model, \
    to_ultralytics_device

__all__ = ['Detection2D', 'Segmentation', 'Segmenter', 'YoloSegmenter', 'GtMaskSegmenter',
           'erode_masks']

log = logging.getLogger(__name__)


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
    box = mask_box(mask)
    if box is None:
        return np.zeros(4)
    rows, cols = box
    return np.array([cols.start, rows.start, cols.stop, rows.stop], dtype=np.float64)


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
