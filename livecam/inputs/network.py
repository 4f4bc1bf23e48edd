"""Network cameras as the live path's camera: ``--camera srt://...``, ``rtsp://``, ``rtmp://``, ``http://...``.

RTSP, RTMP and HTTP (an MJPEG stream such as an IP camera's or another livecam's ``/stream.mjpg``,
or any stream FFmpeg reads) are read by PyAV. PyAV's FFmpeg has no SRT, so an ``srt://`` camera (a
phone sending over SRT, as IRL streamers do) is received by the system's ``ffmpeg`` (Debian/Ubuntu:
``apt install ffmpeg``, built with libsrt), which hands the stream on unchanged over a pipe as MPEG-TS
for PyAV to decode: no re-encode, one decode.

A stalled or dropped stream behaves like an unplugged camera: a read waits at most ``timeout_s``,
then ``read()`` returns ``None``; the capture thread closes the source and reopens it until the
sender is back, while the pipeline sends obscured frames ("camera lost").
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from typing import IO, Any, Iterator, cast

import cv2
import av
import numpy as np

from livecam.audio import AudioTap
from livecam.errors import DeviceError

log = logging.getLogger(__name__)

SCHEMES = ("srt", "rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp")
TIMEOUT_S = 5.0
# A live stream starts at once: FFmpeg's default 5 s of probing would delay the first frame by as much
# and leave that much of a backlog behind it (measured: 5.8 s to the first frame of an SRT camera).
_LOW_DELAY = {"fflags": "nobuffer", "flags": "low_delay", "probesize": "500000", "analyzeduration": "500000"}
_LOW_DELAY_ARGS = [arg for k, v in _LOW_DELAY.items() for arg in (f"-{k}", v)]


def is_network(spec: str) -> bool:
    return spec.split("://", 1)[0].lower() in SCHEMES and "://" in spec


def _ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        raise DeviceError("an srt:// camera needs FFmpeg with SRT support on the PATH (Debian/Ubuntu: sudo apt "
                          "install ffmpeg; Windows/macOS: a build from ffmpeg.org); livecam's own FFmpeg has no SRT")
    return path


class _PipeReader:
    """The ffmpeg pipe for PyAV, read as data arrives: a buffered ``read(32768)`` would wait for 32 KB,
    over a second of a phone's low-bitrate stream (measured: 5.9 s to the first frame, and as much
    latency behind it)."""

    def __init__(self, pipe: IO[bytes]):
        self._fd = pipe.fileno()

    def read(self, n: int) -> bytes:
        return os.read(self._fd, n)


class NetworkSource:
    """A network stream as a ``FrameSource``; ``size`` resizes its frames (a stream has no modes to choose)."""

    index: int | None = None

    def __init__(self, url: str, size: tuple[int, int] | None = None, fps: float | None = None,
                 timeout_s: float = TIMEOUT_S, audio: AudioTap | None = None):
        self.spec = url
        self._size = size
        self._audio = audio  # the stream's sound goes here (for --push), when it has some
        self._clock: float | None = None  # wall-clock time minus stream time, from the newest picture
        self._proc: subprocess.Popen[bytes] | None = None
        try:
            if url.lower().startswith("srt://"):
                # ffmpeg waits at most timeout_s for data (-rw_timeout, in microseconds) and then exits:
                # the pipe ends and read() says the camera is lost
                self._proc = subprocess.Popen(
                    [_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", *_LOW_DELAY_ARGS, "-rw_timeout",
                     str(int(timeout_s * 1e6)), "-i", url, "-map", "0:v:0", *(["-map", "0:a:0?"] if audio else []),
                     "-c", "copy", "-f", "mpegts", "pipe:1"],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                self._container: Any = av.open(_PipeReader(cast(IO[bytes], self._proc.stdout)), format="mpegts",
                                               options=_LOW_DELAY)
            else:
                self._container = av.open(url, timeout=(timeout_s, timeout_s), options=_LOW_DELAY)
            stream = self._container.streams.video[0]
            stream.thread_type = "SLICE"  # frame threads would hold frames back: latency
            sound = self._container.streams.audio[0] if audio is not None and self._container.streams.audio else None
            self._frames: Iterator[Any] = self._decoded(stream, sound)
            first = self._next()
        except (av.error.FFmpegError, IndexError, OSError) as e:
            self.close()
            raise DeviceError(f"no video from {url}: {self._why(e)}") from None
        if first is None:
            self.close()
            raise DeviceError(f"no video from {url}: {self._why(None)}")
        self._first: np.ndarray | None = first
        self.height, self.width = first.shape[:2]
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(fps or (rate if rate else 30.0))

    def _why(self, error: BaseException | None) -> str:
        if self._proc is not None:
            self._proc.kill()
            err = (self._proc.stderr.read() if self._proc.stderr else b"").decode(errors="replace").strip()
            if err:
                return err.splitlines()[-1]
        return str(error) if error is not None else "the stream ended before its first frame"

    def _decoded(self, video: Any, sound: Any) -> Iterator[Any]:
        """The stream's pictures; its sound, if wanted, handed to the audio tap on the way, each frame
        with the wall-clock time of its first sample (its timestamp on the clock of the pictures)."""
        if sound is None:
            yield from self._container.decode(video)
            return
        log.info("%s: passing its sound on (%s, %d Hz)", self.spec, sound.codec_context.name, sound.rate)
        for packet in self._container.demux(video, sound):
            if packet.stream is video:
                for frame in packet.decode():
                    if frame.time is not None:
                        self._clock = time.monotonic() - frame.time
                    yield frame
                continue
            try:
                heard = packet.decode()
            except av.error.FFmpegError as e:  # a damaged sound packet costs that sound, not the camera
                log.debug("%s: sound packet dropped (%s)", self.spec, e)
                continue
            for frame in heard:
                if self._audio is not None and self._clock is not None and frame.time is not None:
                    self._audio.put(frame, self._clock + frame.time)

    def _next(self) -> np.ndarray | None:
        try:
            frame = next(self._frames).to_ndarray(format="bgr24")
        except (StopIteration, av.error.FFmpegError, OSError, ValueError):
            return None
        if self._size and (frame.shape[1], frame.shape[0]) != tuple(self._size):
            frame = cv2.resize(frame, self._size, interpolation=cv2.INTER_AREA)
        return frame

    def read(self) -> np.ndarray | None:
        if self._first is not None:
            frame, self._first = self._first, None
            return frame
        return self._next()

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(5)
        container = getattr(self, "_container", None)
        if container is not None:
            try:
                container.close()
            except Exception as e:  # a broken stream may fail to close: it is gone either way
                log.debug("closing %s: %s", self.spec, e)
