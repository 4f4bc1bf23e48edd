"""A one-slot handover between threads: the newest value wins, nothing queues.

``put`` never blocks and replaces a value not taken yet (a camera frame the pipeline did not get to,
a tray snapshot already out of date); ``take`` waits for a value and empties the slot; ``close``
wakes every waiter for good. The capture thread -> pipeline, pipeline -> detection thread (its
threshold, and the newest frame to detect), pipeline -> tray and pipeline -> preview window handovers are
all this one rule.
"""

from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Mailbox(Generic[T]):
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._value: T | None = None
        self._full = False
        self._closed = False

    def put(self, value: T) -> None:
        """Leave ``value``, replacing any value not taken yet; never blocks. Ignored once closed."""
        with self._cond:
            if self._closed:
                return
            self._value, self._full = value, True
            self._cond.notify_all()

    def update(self, fn: Callable[[T | None], T]) -> None:
        """Replace the value with ``fn(value waiting, or None)``, atomically: a newer value that must
        keep something of the one it replaces (the detection thread's "a new scene starts here")."""
        with self._cond:
            if self._closed:
                return
            self._value, self._full = fn(self._value if self._full else None), True
            self._cond.notify_all()

    def put_if_empty(self, value: T) -> None:
        """Leave ``value`` unless a value is waiting (it would be newer)."""
        with self._cond:
            if not self._full:
                self.put(value)

    def take(self, timeout: float | None = None) -> T | None:
        """The value left, emptying the slot; waits up to ``timeout`` s (``None``: until one comes or
        the mailbox is closed, ``0``: not at all). ``None`` when there is none."""
        with self._cond:
            if timeout != 0:
                self._cond.wait_for(lambda: self._full or self._closed, timeout)
            if not self._full:
                return None
            value, self._value, self._full = self._value, None, False
            return value

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
        return not self._full
