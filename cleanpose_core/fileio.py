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

"""Atomic file writes: write a temp file next to the target, then ``os.replace`` it.

A reader (or a run killed mid-write) sees the old file or the new one, never half of one.
Temp files are named ``.<name>.<random>.tmp`` in the target's folder, so stale ones from a
killed process are easy to find (``cleanpose synth`` sweeps ``.*.tmp``).
"""

from __future__ import annotations

from contextlib import contextmanager
import json
import os
from pathlib import Path
import tempfile
from typing import Any, Iterator

__all__ = ['atomic_path', 'atomic_write_bytes', 'atomic_write_text', 'atomic_write_json']


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temp path next to path; move it onto path when the block succeeds.

    The temp file exists (empty) when the block starts; the block writes it by any means
    (open, ``torch.save``, safetensors, ``savefig``, a hard link after unlinking it). The
    result gets the permissions a plain ``open`` would give (0o666 less the umask; some
    writers leave 0o600), except a hard link, which keeps its source's. On an exception the
    temp file is removed and path is untouched.

    Args:
        path: target file; parent folders are created.

    Yields:
        The temp file's path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if tmp.stat().st_nlink == 1:
            os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write bytes to path atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write text (UTF-8) to path atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding='utf-8')


def atomic_write_json(path: str | Path, value: Any) -> None:
    """Write a JSON document (2-space indent, trailing newline) to path atomically."""
    atomic_write_text(path, json.dumps(value, indent=2) + '\n')
