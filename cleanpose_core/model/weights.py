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

"""Weights files: safetensors with the model config embedded as JSON metadata.

Loading never unpickles anything. Metadata keys: kind ('cleanpose_net' or
'cleanpose_teacher'), format_version, package_version, git_commit (best effort),
created (UTC ISO time), model_config (JSON) for networks, plus caller extras.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
from pathlib import Path
import subprocess
from typing import Optional

import torch
from torch import nn, Tensor

from cleanpose_core import __version__
from cleanpose_core.config import ModelConfig, PACKAGE_ROOT, section_from_dict
from cleanpose_core.errors import CleanPoseError, WeightsError
from cleanpose_core.fileio import atomic_path

__all__ = ['save_weights', 'load_weights', 'read_weights', 'read_weights_metadata',
           'write_safetensors', 'read_safetensors', 'load_state_strict', 'FORMAT_VERSION',
           'NET_KIND']

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
NET_KIND = 'cleanpose_net'


def _git_commit() -> str:
    """Commit of the source tree, or '' when it cannot be found (best effort)."""
    try:
        out = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=PACKAGE_ROOT, timeout=5,
                             capture_output=True, text=True, check=False)
    except (OSError, subprocess.SubprocessError):
        return ''
    return out.stdout.strip() if out.returncode == 0 else ''


def write_safetensors(path: str | Path, tensors: dict[str, Tensor], kind: str,
                      meta: Optional[dict] = None) -> Path:
    """Write tensors + string metadata atomically (temp file next to the target, os.replace).

    Args:
        path: target file; parent folders are created.
        tensors: name -> tensor (copied to contiguous CPU tensors).
        kind: file kind checked on reading.
        meta: extra metadata; values are turned into strings.

    Returns:
        The path written.
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {'kind': kind, 'format_version': str(FORMAT_VERSION),
                'package_version': __version__, 'git_commit': _git_commit(),
                'created': datetime.datetime.now(datetime.timezone.utc).isoformat()}
    metadata.update({k: v if isinstance(v, str) else json.dumps(v)
                     for k, v in (meta or {}).items()})
    data = {k: v.detach().to('cpu').contiguous().clone() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(data, str(tmp), metadata=metadata)
    return path


def read_safetensors(path: str | Path, kind: str) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Read a safetensors file written by write_safetensors and check its kind and version.

    Raises:
        WeightsError: missing, unreadable or corrupt file; another kind; newer format.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f'weights file {path} does not exist')
    try:
        with safe_open(str(path), framework='pt', device='cpu') as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as err:  # safetensors raises its own error types and OSError/ValueError
        raise WeightsError(f'{path} is not a readable safetensors file ({type(err).__name__}: '
                           f'{err}); re-export or re-download it') from None
    found = meta.get('kind', '')
    if found != kind:
        raise WeightsError(f'{path} holds {found or "no kind"!r} weights; expected {kind!r}')
    try:
        version = int(meta.get('format_version', ''))
    except ValueError:
        raise WeightsError(f'{path} has no valid format_version in its metadata') from None
    if version > FORMAT_VERSION:
        raise WeightsError(f'{path} was written in weights format {version} by cleanpose '
                           f'{meta.get("package_version", "?")}; this cleanpose {__version__} '
                           f'reads format <= {FORMAT_VERSION}; upgrade cleanpose')
    return tensors, meta


def load_state_strict(module: nn.Module, tensors: dict[str, Tensor], path: str | Path) -> None:
    """Load a state dict strictly, naming missing, unexpected and mis-shaped keys.

    Raises:
        WeightsError: the tensors do not match the module exactly.
    """
    own = module.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    shapes = [f'{k} {tuple(tensors[k].shape)} vs {tuple(v.shape)}' for k, v in own.items()
              if k in tensors and tuple(tensors[k].shape) != tuple(v.shape)]
    problems = []
    for label, items in (('missing keys', missing), ('unexpected keys', unexpected),
                         ('shape mismatch', shapes)):
        if items:
            problems.append(f'{label} {items[:4]}' + (' ...' if len(items) > 4 else ''))
    if problems:
        raise WeightsError(f'{path}: weights do not match the code: ' + '; '.join(problems))
    module.load_state_dict({k: tensors[k].to(v.dtype) for k, v in own.items()}, strict=True)


def save_weights(path: str | Path, net: nn.Module, extra_meta: Optional[dict] = None) -> Path:
    """Save a CleanPoseNet: parameters, confounder dictionary and its ModelConfig.

    Args:
        path: target .safetensors file (written atomically).
        net: a CleanPoseNet.
        extra_meta: more metadata (e.g. training summary); values become strings/JSON.

    Returns:
        The path written.
    """
    cfg = getattr(net, 'cfg', None)
    if not isinstance(cfg, ModelConfig):
        raise TypeError(f'net must be a CleanPoseNet with a ModelConfig; got {type(net).__name__}')
    meta = {'model_config': json.dumps(dataclasses.asdict(cfg))}
    meta.update(extra_meta or {})
    return write_safetensors(path, net.state_dict(), NET_KIND, meta)


def read_weights_metadata(path: str | Path) -> dict[str, str]:
    """Metadata of a network weights file (checks kind and version)."""
    return read_safetensors(path, NET_KIND)[1]


def read_weights(path: str | Path) -> tuple[dict[str, Tensor], ModelConfig]:
    """Tensors and embedded ModelConfig of a network weights file, without building a net.

    Raises:
        WeightsError: corrupt file, wrong kind or version, missing or incompatible config.
    """
    tensors, meta = read_safetensors(path, NET_KIND)
    try:
        values = json.loads(meta['model_config'])
        if not isinstance(values, dict):
            raise ValueError('model_config is not a JSON object')
        # Files written before the dense NOCS head existed have none.
        values.setdefault('dense_nocs', False)
        cfg = section_from_dict(ModelConfig, values, 'model.')
    except (KeyError, ValueError, CleanPoseError) as err:
        raise WeightsError(f'{path}: embedded model config is missing or incompatible ({err}); '
                           f'written by cleanpose {meta.get("package_version", "?")}, '
                           f'this is {__version__}') from None
    log.debug('read %s (%s, commit %s)', path, cfg.name, meta.get('git_commit', '')[:8])
    return tensors, cfg


def load_weights(path: str | Path, device: str | torch.device = 'cpu'):
    """Build a CleanPoseNet from the config embedded in a weights file and load it strictly.

    Args:
        path: .safetensors file written by save_weights.
        device: where to put the network.

    Returns:
        The CleanPoseNet in eval mode.

    Raises:
        WeightsError: corrupt file, wrong kind, incompatible config or version,
            missing/unexpected keys, shape mismatch.
    """
    from cleanpose_core.model.network import CleanPoseNet

    tensors, cfg = read_weights(path)
    net = CleanPoseNet(cfg)
    load_state_strict(net, tensors, path)
    net.to(device).eval()
    return net
