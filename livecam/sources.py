"""Frame sources for the live path: a real camera (OpenCV) and a clip replayed in real time.

A source's ``read()`` blocks until the next frame and returns a BGR ``uint8 (H, W, 3)``
array, or ``None`` when the device stopped delivering (unplugged, busy, end of stream).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Protocol

import cv2
import numpy as np

from livecam.errors import CameraBusy, CameraModeUnsupported, DeviceError
from livecam.mailbox import Mailbox

if TYPE_CHECKING:  # PyAV loads only for a network camera
    from livecam.audio import AudioTap

log = logging.getLogger(__name__)


class FrameSource(Protocol):
    width: int
    height: int
    fps: float

    @property
    def index(self) -> int | None:
        """The source's own index of the frame ``read`` returned last (a replay's position in its
        frames, for tests and benchmarks that compare with labels); ``None`` where it has none (a camera)."""
        ...

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


class Camera(FrameSource, Protocol):
    """A live source that a ``--camera`` value names (a device, a network stream)."""

    spec: str
    """What ``--camera`` said (or the index found when it said nothing): opens it again."""


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


DEMO = "demo"
"""``--camera demo``: a short clip with faces that ships with livecam, played like a camera."""


def demo_clip() -> Path:
    return Path(__file__).resolve().parent / "data" / "demo.mp4"


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


def open_source(spec: str, size: tuple[int, int] | None = None, fps: float | None = None,
                audio: AudioTap | None = None) -> Camera:
    """The camera ``spec`` names: a network stream (``srt://``, ``rtsp://``, ``rtmp://``, ``http://``...;
    its sound, if any, to ``audio``), else a camera index, device path, video file or ``demo``."""
    from livecam.netsource import NetworkSource, is_network  # PyAV loads only for a network camera

    return NetworkSource(spec, size, fps, audio=audio) if is_network(spec) else CameraSource(spec, size, fps)


def open_camera(spec: str | None, size: tuple[int, int] | None = None, fps: float | None = None,
                probe: int = 5, audio: AudioTap | None = None) -> Camera:
    """Open ``spec``, or the first camera that works among indices 0..probe-1 when ``spec`` is None."""
    if spec is not None:
        try:
            return open_source(spec, size, fps, audio=audio)
        except DeviceError as e:
            if "://" in spec:
                raise
            raise DeviceError(f"{e} (list cameras with `livecam devices`)") from None
    tried = []
    for i in range(probe):
        try:
            return CameraSource(str(i), size, fps)
        except (CameraBusy, CameraModeUnsupported):
            raise  # a camera is there: say what is wrong with it rather than look further
        except DeviceError:
            tried.append(str(i))
    raise DeviceError(f"no camera found (tried indices {', '.join(tried)}); plug one in, or name it with --camera "
                      "(`livecam --camera demo --preview --no-vcam` shows livecam at work on a bundled clip)")


class Frames(Protocol):
    """Frames by index: a list, or frames made on demand (``livecam.paneval.PanClip``)."""

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
