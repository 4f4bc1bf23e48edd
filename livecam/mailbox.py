"""A one-slot handover between threads: the newest value wins, nothing queues.

``put`` never blocks and replaces a value not taken yet (a camera frame the pipeline did not get to,
a tray snapshot already out of date); ``take`` waits for a value and empties the slot; ``close``
wakes every waiter for good. The capture thread -> pipeline, pipeline -> detection thread (its
threshold, and the newest frame to detect), pipeline -> tray and pipeline -> preview window handovers are
all this one rule.

One exception, bounded: with a look-ahead delay the camera handover keeps up to ``depth`` frames (3, or
half the delay's if fewer; taken oldest first, the oldest dropped beyond that). Frames wait in the window until
their capture time plus the delay whatever happens here, so a frame the pipeline takes a few
milliseconds late adds no latency; dropped, it is a frame missing from the output (beside an x264
encode on 2 cores, 25 of 906 frames in 30 s).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Mailbox(Generic[T]):
    def __init__(self, depth: int = 1) -> None:
        self._cond = threading.Condition()
        self._items: deque[T] = deque()
        self._closed = False
        self.depth = depth
        """How many values may wait (1: the newest wins); see the module docstring."""
        self.dropped = 0
        """Values replaced or dropped before they were taken."""

    def put(self, value: T) -> None:
        """Leave ``value`` (replacing the value not taken yet, or at ``depth`` > 1 dropping the oldest
        beyond ``depth``); never blocks. Ignored once closed."""
        with self._cond:
            if self._closed:
                return
            self._items.append(value)
            while len(self._items) > max(1, self.depth):
                self._items.popleft()
                self.dropped += 1
            self._cond.notify_all()

    def update(self, fn: Callable[[T | None], T]) -> None:
        """Replace the newest value with ``fn(newest value waiting, or None)``, atomically: a newer value
        that must keep something of the one it replaces (the detection thread's "a new scene starts here")."""
        with self._cond:
            if self._closed:
                return
            if self._items:
                self._items[-1] = fn(self._items[-1])
            else:
                self._items.append(fn(None))
            self._cond.notify_all()

    def put_if_empty(self, value: T) -> None:
        """Leave ``value`` unless a value is waiting (it would be newer)."""
        with self._cond:
            if not self._items:
                self.put(value)

    def take(self, timeout: float | None = None) -> T | None:
        """The value left (the oldest waiting), emptying its place; waits up to ``timeout`` s (``None``:
        until one comes or the mailbox is closed, ``0``: not at all). ``None`` when there is none."""
        with self._cond:
            if timeout != 0:
                self._cond.wait_for(lambda: bool(self._items) or self._closed, timeout)
            if not self._items:
                return None
            return self._items.popleft()

    def close(self) -> None:
        """Wake every ``take`` now and later; a value still there can be taken."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def empty(self) -> bool:
        return not self._items
