"""A list of frames played as a camera in real time (tests, benchmarks, ``livecam eval --live``)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable, Protocol

import cv2
import numpy as np

from livecam.errors import DeviceError

log = logging.getLogger(__name__)


class Frames(Protocol):
    """Frames by index: a list, or frames made on demand (``livecam.harness.paneval.PanClip``)."""

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> np.ndarray: ...


def pingpong_order(n: int, length: int | None = None) -> list[int]:
    """One cycle of ``n`` frames played forwards then backwards, neither end shown twice in a row: the
    order ``ReplaySource(pingpong=True)`` plays (and ``livecam eval --people`` builds its clips in);
    ``length``: that many frames, the cycle repeated."""
    cycle = [*range(n), *range(n - 2, 0, -1)]
    return cycle if length is None else [cycle[i % len(cycle)] for i in range(length)]


class ReplaySource:
    """Replays frames (a video file, a list of images) at ``fps`` in real time, like a camera.

    Frames are decoded and resized up front, so replay costs nothing while it runs.
    ``loop`` restarts at the end (a jump cut); ``pingpong`` plays forwards then backwards, for ever,
    without one; otherwise ``read()`` returns ``None`` after the last frame.
    ``index`` is the index of the frame last returned (for tests that compare with labels).
    """

    def __init__(self, frames: Frames, fps: float, loop: bool = False, clock: Callable[[], float] = time.monotonic,
                 pingpong: bool = False):
        if not frames:
            raise DeviceError("replay source has no frames")
        if pingpong:  # forwards then backwards: loops without a jump cut, like a camera
            frames = [frames[i] for i in pingpong_order(len(frames))]
            loop = True
        self.frames = frames
        self.height, self.width = frames[0].shape[:2]
        self.fps = float(fps)
        self.loop = loop
        self.index = -1
        self._clock = clock
        self._t0: float | None = None
        self._closed = threading.Event()

    @classmethod
    def from_video(cls, path: Path, size: tuple[int, int] | None = None, fps: float | None = None,
                   loop: bool = False, max_frames: int | None = None, pingpong: bool = False) -> ReplaySource:
        from livecam import media

        info = media.probe_video(path)
        frames: list[np.ndarray] = []
        for frame, _ in media.iter_video(path):
            frames.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA) if size else frame)
            if max_frames and len(frames) >= max_frames:
                break
        return cls(frames, fps or info.fps, loop=loop, pingpong=pingpong)

    def read(self) -> np.ndarray | None:
        if self._closed.is_set():
            return None
        n = self.index + 1
        if n >= len(self.frames) and not self.loop:
            return None
        if self._t0 is None:
            self._t0 = self._clock()
        due = self._t0 + n / self.fps
        wait = due - self._clock()
        if wait > 0 and self._closed.wait(wait):
            return None
        self.index = n
        return self.frames[n % len(self.frames)]

    def close(self) -> None:
        self._closed.set()
