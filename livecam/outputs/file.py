"""``--output FILE``: the anonymized stream recorded to a video file (never over the camera it reads)."""

from __future__ import annotations

import logging
import os
import time
from fractions import Fraction
from pathlib import Path
from typing import IO

import numpy as np

from livecam import media
from livecam.errors import DeviceError, LivecamError
from livecam.outputs.base import Closing

log = logging.getLogger(__name__)


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


class FileSink(Closing):
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
