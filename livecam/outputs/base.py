"""The sink seam: ``send(frame)``, ``close()`` (safe twice), a context manager; several at once (``FanOut``)."""

from __future__ import annotations

import logging
from typing import Protocol, Self, Sequence

import numpy as np


log = logging.getLogger(__name__)


class Sink(Protocol):
    def send(self, frame_bgr: np.ndarray) -> None: ...

    def close(self) -> None: ...


class Closing:
    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        pass


class NullSink(Closing):
    def send(self, frame_bgr: np.ndarray) -> None:
        pass

    def close(self) -> None:
        pass


def states(sink: Sink) -> tuple[tuple[str, str], ...]:
    """``(name, state)`` of every output in ``sink`` that has a state of its own (a ``state`` property:
    ``--push``, connected or not)."""
    parts = sink.sinks if isinstance(sink, FanOut) else [sink]
    found = (getattr(s, "state", None) for s in parts)
    return tuple(state for state in found if isinstance(state, tuple))


class FanOut(Closing):
    """Sends each frame to several sinks; closes all of them, even if one fails."""

    def __init__(self, sinks: Sequence[Sink]):
        self.sinks = list(sinks)

    def send(self, frame_bgr: np.ndarray) -> None:
        for s in self.sinks:
            s.send(frame_bgr)

    def close(self) -> None:
        errors = []
        for s in self.sinks:
            try:
                s.close()
            except Exception as e:  # close the others anyway, then report
                errors.append(e)
        self.sinks = []
        if errors:
            raise errors[0]
