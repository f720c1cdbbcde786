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

"""Plots of NOCS average precision against the IoU, rotation and translation thresholds."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Union

from cleanpose_core.eval.metrics import NocsMetrics
from cleanpose_core.fileio import atomic_path

log = logging.getLogger(__name__)

__all__ = ['plot_ap_curves']

_PANELS = (
    ('ap_iou.png', 'iou_thresholds', 'iou_ap', '3D IoU threshold', (0.0, 1.0)),
    ('ap_rotation.png', 'degree_thresholds', 'degree_ap', 'Rotation error threshold (degree)',
     (0.0, 60.0)),
    ('ap_translation.png', 'shift_thresholds_cm', 'shift_ap',
     'Translation error threshold (cm)', (0.0, 15.0)),
)


def _draw(ax, x, curves: dict, xlabel: str, xlim: tuple) -> None:
    for name, ap in curves.items():
        if name == 'mean':
            continue
        ax.plot(x, ap, label=name, linewidth=1.5)
    if 'mean' in curves:
        ax.plot(x, curves['mean'], label='mean', color='black', linestyle='--', linewidth=2.0)
    ax.set_xlim(*xlim)
    ax.set_ylim(0.0, 100.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel('AP (%)')
    ax.grid(True, alpha=0.3)


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp, open(tmp, 'wb') as fh:
        fig.savefig(fh, format='png', dpi=100)


def plot_ap_curves(metrics: NocsMetrics, out_dir: Union[str, Path]) -> list:
    """Draw AP against the IoU, rotation and translation thresholds, as the NOCS paper does.

    One line per category with ground truth plus the mean (dashed). Writes the three
    panels side by side (ap_curves.png) and each panel alone; files are written
    atomically. Uses matplotlib's Agg backend; MPLCONFIGDIR is respected.

    Args:
        metrics: the result of compute_nocs_metrics.
        out_dir: directory for the PNG files; created if missing.

    Returns:
        The written paths: ap_curves.png, ap_iou.png, ap_rotation.png, ap_translation.png.

    Raises:
        TypeError: if metrics is not a NocsMetrics.
    """
    if not isinstance(metrics, NocsMetrics):
        raise TypeError(f'metrics must be a NocsMetrics (from compute_nocs_metrics); '
                        f'got {type(metrics).__name__}')
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib.figure import Figure

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    curves = metrics.curves
    paths = []
    fig = Figure(figsize=(18, 5.5))
    axes = fig.subplots(1, 3)
    for ax, (_, x_attr, y_attr, xlabel, xlim) in zip(axes, _PANELS):
        _draw(ax, getattr(curves, x_attr), getattr(curves, y_attr), xlabel, xlim)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc='lower center', ncol=len(labels), frameon=False)
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.2, wspace=0.2)
    _save(fig, out / 'ap_curves.png')
    paths.append(out / 'ap_curves.png')
    for name, x_attr, y_attr, xlabel, xlim in _PANELS:
        fig = Figure(figsize=(6, 5))
        ax = fig.subplots()
        _draw(ax, getattr(curves, x_attr), getattr(curves, y_attr), xlabel, xlim)
        if getattr(curves, y_attr):
            ax.legend(loc='lower right' if y_attr != 'iou_ap' else 'lower left')
        fig.tight_layout()
        _save(fig, out / name)
        paths.append(out / name)
    log.info('wrote AP curves to %s', out)
    return paths
