"""Fakes at the edges: detectors that follow labels or find nothing."""

from __future__ import annotations

import threading

import numpy as np




class Follow:
    """Read a child process's output stream line by line in a thread: ``wait_for`` a line without
    blocking past a limit, and all of the text once the process has ended (``text``)."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._ended = False  # the stream is closed: no line will come
        self._new = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._new:
                self.lines.append(line)
                self._new.notify_all()
        with self._new:
            self._ended = True
            self._new.notify_all()

    def wait_for(self, text: str, limit_s: float = 120) -> None:
        with self._new:
            def seen() -> bool:
                return any(text in line for line in self.lines)

            self._new.wait_for(lambda: seen() or self._ended, limit_s)
            assert seen(), f"no line with {text!r}:\n" + "".join(self.lines)

    def text(self, limit_s: float = 30) -> str:
        self._thread.join(limit_s)
        return "".join(self.lines)


class FakeModel:
    """A stand-in face model for the live tests, seen by livecam like any other ``Detector``.

    It has one fixed input size (so the worker has no width to choose) and looks only at whole
    frames: the crops of the small-face tile (any other shape) find nothing. Subclasses define
    ``find(frame)``; ``calls`` counts the whole-frame calls.
    """

    input_size: int | None = 640
    on_gpu = False
    frame_shape: tuple[int, ...] | None = None  # the whole frame's; None: the first frame seen

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, frame_bgr: np.ndarray, width: int | None, threshold: float):
        from livecam.faces import Faces

        if self.frame_shape is None:
            self.frame_shape = frame_bgr.shape
        if frame_bgr.shape != self.frame_shape:
            return Faces.empty()
        self.calls += 1
        return self.find(frame_bgr)

    def find(self, frame_bgr: np.ndarray):
        raise NotImplementedError
