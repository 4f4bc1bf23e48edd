"""The capture thread: the camera read as fast as it delivers, only the newest frame kept (a few with a
delay), the camera reopened when it fails."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from livecam.mailbox import Mailbox
from livecam.settings import Settings
from livecam.inputs import FrameSource
from livecam.inputs.replay import ReplaySource

log = logging.getLogger(__name__)

MAX_BACKLOG = 3
"""Captured frames that may wait for the pipeline thread with a delay: enough for the moments it is late
(beside an x264 encode), not for a machine that cannot keep up at all: there, the frames it cannot take
are dropped as without a delay, and detection keeps its share of the CPU (measured: with up to half the
delay's frames waiting, beside two busy processes, the output rose from 18 to 25-30 fps but detection
starved and faces were bare for 3-7 frames)."""


def capture_backlog(settings: Settings, fps: float) -> int:
    """How many captured frames may wait for the pipeline: only the newest without a delay (latest frame
    wins); with one, a few (``MAX_BACKLOG``, at most half the delay's frames), since every frame waits
    in the window until its own time anyway and a frame dropped here is a frame missing from the output
    (``livecam.mailbox``)."""
    return max(1, min(MAX_BACKLOG, int(settings.delay_s * fps / 2)))



@dataclass(frozen=True)
class Captured:
    seq: int          # 1, 2, 3... per frame captured
    frame: np.ndarray  # BGR uint8 (H, W, 3); never written after capture
    t: float          # capture time (monotonic seconds)
    index: int        # the source's own frame index where it has one (replay), else seq


class Grabber:
    """The capture thread: reads the source as fast as it delivers and keeps only the newest frame.

    Nothing queues: a frame the pipeline did not take before the next one arrived is dropped (with a
    look-ahead delay, ``backlog`` frames may wait: ``livecam.mailbox``).
    When the source fails (``read()`` returns ``None`` or raises) it is closed and reopened
    with ``open_source`` every ``retry_s`` until it works again or ``stop()`` is called.
    """

    def __init__(self, open_source: Callable[[], FrameSource], retry_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, first: FrameSource | None = None):
        self._open = open_source
        self._retry_s = retry_s
        self._clock = clock
        self._frames: Mailbox[Captured] = Mailbox()  # the frames not taken yet (the newest, at backlog 1)
        self._seq = 0
        self._stop = threading.Event()
        self.lost_reason: str | None = None
        self._source = first
        self._thread = threading.Thread(target=self._run, name="livecam-capture", daemon=True)

    def start(self) -> Grabber:
        self._thread.start()
        return self

    def take(self, timeout: float) -> Captured | None:
        """The next frame not taken yet (the newest, at backlog 1), waiting up to ``timeout`` s; else ``None``."""
        return self._frames.take(timeout)

    @property
    def backlog(self) -> int:
        """How many captured frames may wait for the pipeline (1: only the newest)."""
        return self._frames.depth

    @backlog.setter
    def backlog(self, frames: int) -> None:
        self._frames.depth = frames

    def _run(self) -> None:
        while not self._stop.is_set():
            src = self._source
            if src is None:
                try:
                    src = self._source = self._open()
                    if self.lost_reason:
                        log.info("camera is back")
                    self.lost_reason = None
                except Exception as e:  # keep retrying: the camera may come back
                    self.lost_reason = str(e)
                    self._stop.wait(self._retry_s)
                    continue
            try:
                frame = src.read()
            except Exception as e:  # a driver error is a lost camera, not a crash
                frame = None
                log.debug("camera read failed: %s", e)
            if frame is None:
                if self._stop.is_set():
                    break
                self.lost_reason = "camera stopped sending frames (unplugged?)"
                log.warning("%s; reconnecting", self.lost_reason)
                try:
                    src.close()
                except Exception:  # already gone
                    pass
                self._source = None
                self._stop.wait(self._retry_s)
                continue
            t = self._clock()
            self._seq += 1
            self._frames.put(Captured(self._seq, frame, t, self._seq if src.index is None else src.index))
        if self._source is not None:
            self._source.close()
            self._source = None

    def stop(self) -> None:
        self._stop.set()
        src = self._source
        if isinstance(src, ReplaySource):
            src.close()  # wakes a replay that is waiting for its next frame
        self._frames.close()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=3)
