"""A physical camera (or a video file, or ``demo``, played like one) through ``cv2.VideoCapture``."""

from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from livecam.errors import CameraBusy, CameraModeUnsupported, DeviceError

log = logging.getLogger(__name__)


DEMO = "demo"
"""``--camera demo``: a short clip with faces that ships with livecam, played like a camera."""


def demo_clip() -> Path:
    return Path(__file__).resolve().parents[1] / "data" / "demo.mp4"


@contextmanager
def quiet_opencv() -> Iterator[None]:
    """OpenCV's own camera-probing warnings off (``[ WARN ] can't open camera by index``): livecam
    says what went wrong itself, in one line."""
    logging_ = cv2.utils.logging
    old = logging_.getLogLevel()
    logging_.setLogLevel(logging_.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging_.setLogLevel(old)


def _backend() -> int:
    if sys.platform.startswith("linux"):
        return cv2.CAP_V4L2
    if sys.platform == "win32":
        return cv2.CAP_DSHOW
    if sys.platform == "darwin":
        return cv2.CAP_AVFOUNDATION
    return cv2.CAP_ANY


class CameraSource:
    """A physical camera through ``cv2.VideoCapture``; MJPG is requested (raw YUYV at 720p+ is often
    capped at low frame rates). ``spec`` is an index (``"0"``) or a device path / URL."""

    index: int | None = None  # a camera's frames have no index of their own

    def __init__(self, spec: str = "0", size: tuple[int, int] | None = None, fps: float | None = None):
        self.spec = spec
        if spec == DEMO:
            spec = str(demo_clip())
        index = int(spec) if spec.isdigit() else None
        with quiet_opencv():
            cap = cv2.VideoCapture(index, _backend()) if index is not None else cv2.VideoCapture(spec)
        if not cap.isOpened():
            cap.release()
            raise DeviceError(f"no camera at {_name(spec)}")
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG"))
        if size:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        if fps:
            cap.set(cv2.CAP_PROP_FPS, fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # newest frame wins: no driver-side queue
        ok, frame = cap.read()
        if not ok or frame is None:
            cap.release()
            raise CameraBusy(f"camera {_name(spec)} opened but sends no frames: it is probably busy "
                              "(close other apps using it) or not a capture device")
        self.height, self.width = frame.shape[:2]
        got_fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        self.fps = float(got_fps) if got_fps > 0 else float(fps or 30.0)
        if size and (self.width, self.height) != tuple(size):
            cap.release()
            raise CameraModeUnsupported(f"camera {_name(spec)} does not support {size[0]}x{size[1]}: it offered "
                              f"{self.width}x{self.height} (use --size {self.width}x{self.height})")
        if fps and got_fps > 0 and abs(got_fps - fps) > 0.1 * fps:
            cap.release()
            raise CameraModeUnsupported(f"camera {_name(spec)} does not support {fps:g} fps at {self.width}x{self.height}: "
                              f"it offered {got_fps:g} fps (use --fps {got_fps:g})")
        self._cap = cap
        self._first: np.ndarray | None = frame
        # A video file given as the camera plays in real time and loops, like a camera would.
        self._file = Path(spec).is_file()
        self._next_due = time.monotonic()

    def read(self) -> np.ndarray | None:
        if self._first is not None:
            frame, self._first = self._first, None
            return frame
        if self._file:
            self._next_due += 1.0 / self.fps
            time.sleep(max(0.0, self._next_due - time.monotonic()))
        ok, frame = self._cap.read()
        if not ok and self._file:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._cap.read()
        return frame if ok and frame is not None and frame.ndim == 3 else None

    def close(self) -> None:
        self._cap.release()


def _name(spec: str) -> str:
    return f"index {spec}" if spec.isdigit() else spec
