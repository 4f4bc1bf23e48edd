"""Where anonymized frames go: the virtual camera, a file, a preview window, nowhere.

Every sink takes BGR ``uint8 (H, W, 3)`` frames of the size it was opened with, and is a
context manager whose ``close()`` is safe to call twice.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import IO, Protocol, Self, Sequence, cast

import numpy as np

from livecam import media
from livecam.errors import DeviceError, LivecamError
from livecam.mailbox import Mailbox

log = logging.getLogger(__name__)

V4L2LOOPBACK_HELP = (
    "no virtual camera device: install and load v4l2loopback, e.g. on Debian/Ubuntu "
    "`sudo apt install v4l2loopback-dkms` then "
    "`sudo modprobe v4l2loopback devices=1 video_nr=10 card_label=livecam exclusive_caps=1` "
    "(exclusive_caps=1 is what Chrome and other browsers need to list it)"
)
OBS_HELP = ("no virtual camera device: install OBS Studio (https://obsproject.com), start its Virtual Camera "
            "once so that it is registered, then stop it and run livecam again")


def vcam_help() -> str:
    return V4L2LOOPBACK_HELP if sys.platform.startswith("linux") else OBS_HELP


class Sink(Protocol):
    def send(self, frame_bgr: np.ndarray) -> None: ...

    def close(self) -> None: ...


class _Closing:
    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        pass


class VirtualCameraSink(_Closing):
    """pyvirtualcam's ``Camera`` in BGR (v4l2loopback on Linux, the OBS Virtual Camera elsewhere)."""

    def __init__(self, width: int, height: int, fps: float, device: str | None = None, backend: str | None = None):
        import pyvirtualcam

        try:
            self._cam = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.BGR, device=device,
                                            backend=backend)
        except Exception as e:  # pyvirtualcam gathers every backend's error into one RuntimeError
            detail = " / ".join(line.strip() for line in str(e).splitlines() if line.strip())
            without = "; or add --no-vcam to run without one (--output records, --preview shows, --serve serves)"
            if device:
                raise DeviceError(f"cannot open virtual camera {device}: {detail}; {vcam_help()}{without}") from None
            raise DeviceError(f"{vcam_help()} ({detail}){without}") from None
        self.device = self._cam.device
        log.info("virtual camera: %s (%s), %dx%d @ %g fps", self.device, self._cam.backend, width, height, fps)

    def send(self, frame_bgr: np.ndarray) -> None:
        self._cam.send(frame_bgr)

    def close(self) -> None:
        cam, self._cam = getattr(self, "_cam", None), None
        if cam is not None:
            cam.close()


def check_recording(path: Path, overwrite: bool = False, camera: str | None = None) -> None:
    """Everything about a ``--output`` recording that can be checked before the camera opens: a video
    name, a folder that can be written (created if missing), no file there unless ``overwrite``, and never
    the video file played as the ``camera`` (``--overwrite`` or not)."""
    path = Path(path)
    if camera and (path.exists() and Path(camera).is_file()) and os.path.samefile(camera, path):
        raise LivecamError(f"cannot record to {path}: it is the video played as the camera; choose another "
                           "--output name")
    if path.suffix.lower() not in media.VIDEO_EXTS:
        raise LivecamError(f"cannot record to {path}: --output needs a video file name, e.g. stream.mkv, "
                           "stream.mp4 or stream.webm")
    if path.is_dir():
        raise LivecamError(f"cannot record to {path}: it is a folder; give a file name, e.g. {path / 'stream.mkv'}")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise LivecamError(f"cannot record to {path}: the file already exists and livecam never replaces files "
                           "unless told; add --overwrite, or choose another --output name")
    media.check_writable_folder(path.parent, "--output")


class FileSink(_Closing):
    """Records to a video file with timestamps from the wall clock, so a stall shows as a stall.

    The codec follows the container (VP9 for .webm, GIF for .gif, H.264 otherwise). Timestamps
    are milliseconds in the encoder's own time base: a container's muxer may choose another time
    base for its stream when it writes the header (MP4 does: 1/16000), so frames must never be
    stamped in the stream's.

    A recording survives a crash (SIGKILL, power cut) up to its last seconds: MP4/MOV are written
    fragmented (a self-contained fragment at every keyframe, one every ``KEYFRAME_S``), Matroska
    and WebM are readable when cut. The file is created exclusively (``overwrite`` or not) and
    locked while recording: a second livecam cannot write into it."""

    MS = Fraction(1, 1000)
    KEYFRAME_S = 2.0

    def __init__(self, path: Path, width: int, height: int, fps: float, overwrite: bool = False):
        import av

        self._out: av.container.OutputContainer | None = None
        self.path = Path(path)
        check_recording(self.path, overwrite)
        self._file = _open_locked(self.path, overwrite)
        fmt = media.container_format(self.path)
        options = {"movflags": "frag_keyframe+empty_moov+default_base_moof"} if fmt in ("mp4", "mov") else {}
        try:
            out = av.open(self._file, "w", format=fmt, options=options)
        except (OSError, av.error.FFmpegError, ValueError) as e:
            self._file.close()
            raise DeviceError(f"cannot write {self.path}: {getattr(e, 'strerror', None) or e}") from None
        rate = Fraction(fps).limit_denominator(1001)
        self._out = out
        self._stream = media.add_video_stream(out, self.path, rate, width, height, live=True)
        self._stream.codec_context.time_base = self.MS
        if self.path.suffix.lower() != ".gif":
            self._stream.codec_context.gop_size = max(1, round(fps * self.KEYFRAME_S))
        self._t0: float | None = None
        self._last_pts = -1

    def send(self, frame_bgr: np.ndarray) -> None:
        if self._out is None:
            raise DeviceError(f"cannot record to {self.path}: the recording is already closed")
        now = time.monotonic()
        self._t0 = now if self._t0 is None else self._t0
        pts = max(self._last_pts + 1, int((now - self._t0) * 1000))
        self._last_pts = pts
        f = media.encodable(frame_bgr, self._stream.pix_fmt)
        f.pts, f.time_base = pts, self.MS
        for p in self._stream.encode(f):
            self._out.mux(p)

    def close(self) -> None:
        out, self._out = self._out, None
        if out is not None:
            try:
                for p in self._stream.encode(None):
                    out.mux(p)
            finally:
                out.close()
                self._file.close()


def _open_locked(path: Path, overwrite: bool) -> IO[bytes]:
    """``path`` opened for writing: created exclusively (or, with ``overwrite``, truncated once it is
    locked), and locked against a second writer where the platform has ``flock``."""
    flags = os.O_RDWR | os.O_CREAT | (0 if overwrite else os.O_EXCL) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except FileExistsError:
        raise LivecamError(f"cannot record to {path}: the file already exists (another recording?); add "
                           "--overwrite, or choose another --output name") from None
    except OSError as e:
        raise LivecamError(f"cannot record to {path}: {e.strerror or e}; choose another --output") from None
    try:
        import fcntl  # here, not at the top: POSIX only
    except ImportError:  # Windows: O_EXCL alone keeps two recordings apart unless --overwrite
        fcntl = None  # type: ignore[assignment]
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise LivecamError(f"cannot record to {path}: another livecam is recording into it; "
                               "choose another --output name") from None
    os.ftruncate(fd, 0)
    return os.fdopen(fd, "w+b")


class PreviewSink(_Closing):
    """A window showing the output, drawn by a child process (``livecam.preview``) that owns the
    window toolkit alone. Frames go through a pipe from a sender thread with a one-frame mailbox:
    ``send`` never blocks the video; a slow window just skips frames. Frames wider than
    ``max_width`` are scaled down first (a preview, not a second output)."""

    def __init__(self, title: str = "livecam preview", max_width: int = 960):
        self.title = title
        self.max_width = max_width
        self._proc = subprocess.Popen([sys.executable, "-m", "livecam.preview", title], stdin=subprocess.PIPE,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._stdin, self._stderr = cast(IO[bytes], self._proc.stdin), cast(IO[bytes], self._proc.stderr)  # pipes
        self._mail: Mailbox[np.ndarray] = Mailbox()
        self._thread = threading.Thread(target=self._pump, name="livecam-preview", daemon=True)
        self._thread.start()

    def send(self, frame_bgr: np.ndarray) -> None:
        if self._proc.poll() is not None:
            raise DeviceError(self._ended())
        self._mail.put(frame_bgr)

    def _pump(self) -> None:
        import cv2

        from livecam.preview import HEADER

        while True:
            frame = self._mail.take()
            if frame is None or self._mail.closed:
                return
            h, w = frame.shape[:2]
            if w > self.max_width:
                frame = cv2.resize(frame, (self.max_width, round(h * self.max_width / w)), interpolation=cv2.INTER_AREA)
            try:
                self._stdin.write(HEADER.pack(frame.shape[0], frame.shape[1]))
                self._stdin.write(np.ascontiguousarray(frame).tobytes())
                self._stdin.flush()
            except (BrokenPipeError, OSError, ValueError):  # the window process ended: send() says why
                return

    def _ended(self) -> str:
        code = self._proc.returncode
        if code == 0:
            return "the preview window was closed"
        err = [ln.strip() for ln in (self._stderr.read() or b"").decode(errors="replace").splitlines() if ln.strip()]
        if code == 3 and err:  # our own one-line reason
            return err[-1]
        detail = err[0] if err else f"exit code {code}"  # e.g. Qt: "qt.qpa.xcb: could not connect to display"
        return f"cannot show the preview window (no display?): {detail}"

    def close(self) -> None:
        if self._mail.closed:
            return
        self._mail.close()
        try:
            self._stdin.close()
        except OSError:
            pass
        try:
            self._proc.wait(3)
        except Exception:  # a window process that hangs is not worth waiting for
            self._proc.kill()


class NullSink(_Closing):
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


class FanOut(_Closing):
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
