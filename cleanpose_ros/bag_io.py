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

"""rosbag2 helpers of the bag tools: atomic mcap output, stamp pairing, safe reading."""

from __future__ import annotations

from collections import deque
import contextlib
from dataclasses import dataclass
import os
from pathlib import Path
import shutil
import struct
import tempfile
from typing import Any, Iterator, Optional

from cleanpose_core.errors import ConfigError, DataError

__all__ = ['atomic_bag_writer', 'StampSync', 'reader_errors', 'iterate_messages']

_KEYS = ('color', 'depth', 'info')


@contextlib.contextmanager
def atomic_bag_writer(out: str | Path) -> Iterator[Any]:
    """Open a rosbags mcap Writer whose bag appears at ``out`` only when the block succeeds.

    The bag is written into a temporary folder next to ``out`` and renamed onto it at
    the end; on any exception the temporary folder is removed.

    Raises:
        ConfigError: ``out`` exists already.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer

    out = Path(out)
    if out.exists():
        raise ConfigError(f'output {out} exists; choose another path or delete it first')
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{out.name}.', suffix='.tmp', dir=out.parent))
    try:
        writer = Writer(tmp / out.name, version=9, storage_plugin=StoragePlugin.MCAP)
        with writer:
            yield writer
        if out.exists():
            raise ConfigError(f'output {out} appeared while writing; the new bag is not kept')
        os.rename(tmp / out.name, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class _Entry:
    stamp_ns: int
    log_ns: int
    msg: Any


class StampSync:
    """Pair colour, depth and camera_info by header stamp, streaming (bounded memory).

    Like message_filters' ApproximateTimeSynchronizer with every message kept: the oldest
    colour image is matched with the depth and camera_info closest in stamp within
    ``slop``; it is dropped (counted in ``unmatched``) once both streams have moved past
    its window without a match.

    Args:
        slop_ns: largest stamp difference, nanoseconds.
        queue_size: messages kept per stream.
    """

    def __init__(self, slop_ns: int, queue_size: int = 30) -> None:
        self.slop_ns = int(slop_ns)
        self.queue_size = int(queue_size)
        self.queues = {key: deque() for key in _KEYS}
        self.unmatched = 0
        self.overflow = 0

    def push(self, key: str, stamp_ns: int, log_ns: int, msg: Any) -> list:
        """Add one message; return the triples [(color, depth, info, log_ns)] now complete."""
        queue = self.queues[key]
        queue.append(_Entry(stamp_ns, log_ns, msg))
        if len(queue) > self.queue_size:
            queue.popleft()
            if key == 'color':
                self.unmatched += 1
            else:
                self.overflow += 1
        return self._match(final=False)

    def flush(self) -> list:
        """Match what is left at the end of the bag; unmatched colour images are counted."""
        out = self._match(final=True)
        self.unmatched += len(self.queues['color'])
        self.queues['color'].clear()
        return out

    def _best(self, key: str, stamp_ns: int) -> Optional[_Entry]:
        best = min(self.queues[key], key=lambda e: abs(e.stamp_ns - stamp_ns), default=None)
        if best is not None and abs(best.stamp_ns - stamp_ns) <= self.slop_ns:
            return best
        return None

    def _match(self, final: bool) -> list:
        out = []
        while self.queues['color']:
            color = self.queues['color'][0]
            depth, info = self._best('depth', color.stamp_ns), self._best('info', color.stamp_ns)
            if depth is not None and info is not None:
                self.queues['color'].popleft()
                for key, used in (('depth', depth), ('info', info)):
                    queue = self.queues[key]
                    while queue and queue[0].stamp_ns <= used.stamp_ns:
                        queue.popleft()
                out.append((color.msg, depth.msg, info.msg,
                            max(color.log_ns, depth.log_ns, info.log_ns)))
                continue
            horizon = color.stamp_ns + self.slop_ns
            passed = all(q and q[-1].stamp_ns > horizon
                         for k, q in self.queues.items() if k != 'color')
            if final or passed:
                self.queues['color'].popleft()
                self.unmatched += 1
                continue
            break
        return out


_READ_ERRORS = (OSError, EOFError, ValueError, IndexError, KeyError, struct.error)


def reader_errors() -> tuple:
    """Exception types that mean an unreadable, corrupt or truncated bag."""
    from rosbags.highlevel import AnyReaderError
    from rosbags.rosbag2 import ReaderError
    from rosbags.serde import SerdeError

    return (AnyReaderError, ReaderError, SerdeError) + _READ_ERRORS


def iterate_messages(reader: Any, path: Path, errors: tuple) -> Iterator[tuple]:
    """Yield the reader's messages, turning read errors into DataError."""
    iterator = reader.messages()
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except errors as err:
            raise DataError(f'input bag {path} is corrupt or truncated: {err}') from None
        yield item
