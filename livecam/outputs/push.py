"""``--push URL``: the anonymized output as H.264 to an SRT or RTMP receiver (OBS Media Source, a
restreaming server, an IRL relay).

Frames are encoded (x264 ``veryfast``, ``zerolatency``, a keyframe every second) by PyAV in the push's
own thread, newest frame wins: a slow network or encoder drops frames, never delays the pipeline or
the virtual camera, and nothing queues. RTMP goes out through PyAV's own FFmpeg; SRT, which PyAV's
FFmpeg lacks, through the system's ``ffmpeg`` (Debian/Ubuntu: ``apt install ffmpeg``), which takes the
MPEG-TS over a pipe and sends it on unchanged. When the receiver goes away (or is not there yet) the
push says so (the receiver does not answer), tries again every ``retry_s`` without stopping the pipeline, says
"still not connected" every ``REMIND_S``, and shows its state in ``state`` (the web page and ``/status``). It is
connected once the receiver takes the stream: RTMP when PyAV's FFmpeg opened it, SRT when the system's ffmpeg
reports progress (it connects before it sends anything, and gives up after 3 s when nothing answers).

Only what the pipeline sends (its output frames, obscured ones included) is pushed, with the camera's
sound when the camera is a network stream that has some (``livecam.audio``: AAC beside the H.264).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
from fractions import Fraction
from typing import IO, Any, cast

import av
import numpy as np

from livecam.audio import LAYOUT, RATE, AudioTap, SoundEncoder
from livecam.errors import LivecamError
from livecam.mailbox import Mailbox

log = logging.getLogger(__name__)

SCHEMES = {"srt": "mpegts", "rtmp": "flv", "rtmps": "flv"}
REMIND_S = 60.0  # while not connected, the log says so again this often


def check_push_url(url: str) -> str:
    """The container format for ``url``; a one-line error for anything else."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        raise LivecamError(f"--push {url}: expected an srt:// or rtmp:// address, e.g. --push srt://127.0.0.1:9000 "
                           "or --push rtmp://localhost/live/stream")
    if scheme == "srt" and shutil.which("ffmpeg") is None:
        raise LivecamError("--push srt://... needs FFmpeg with SRT support on the PATH (Debian/Ubuntu: sudo apt "
                           "install ffmpeg; Windows/macOS: a build from ffmpeg.org); livecam's own FFmpeg has no SRT")
    return SCHEMES[scheme]


class PushSink:
    """A pipeline output (``livecam.outputs.Sink``) that pushes BGR ``uint8 (H, W, 3)`` frames to ``url``."""

    def __init__(self, url: str, width: int, height: int, fps: float, retry_s: float = 2.0,
                 audio: AudioTap | None = None):
        self.url = url
        self._audio = audio  # the camera's sound (a network camera's), pushed as AAC beside the picture
        self._format = check_push_url(url)
        self._size = (width - width % 2, height - height % 2)  # yuv420p: even sizes
        self._fps = Fraction(fps).limit_denominator(1001)
        self._retry_s = retry_s
        self._frames: Mailbox[np.ndarray] = Mailbox()
        self._closed = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self.connected = threading.Event()  # set while a receiver takes the stream
        self._problem: str | None = None  # why the last try failed (the receiver does not answer, ...)
        self.sent = 0
        self._thread = threading.Thread(target=self._run, name="livecam-push", daemon=True)
        self._thread.start()

    def send(self, frame_bgr: np.ndarray) -> None:
        self._frames.put(frame_bgr)

    def close(self) -> None:
        self._closed.set()
        self._frames.close()
        self._thread.join(10)

    @property
    def state(self) -> tuple[str, str]:
        """``("push", what it is doing)``: connected, connecting, or not connected and why (``sinks.states``)."""
        if self.connected.is_set():
            return "push", f"connected to {self.url}"
        if self._problem is not None:
            return "push", f"not connected: {self._problem}"
        return "push", f"connecting to {self.url}"

    def _run(self) -> None:
        said = 0.0  # when the log last said it is not connected
        while not self._closed.is_set():
            try:
                self._stream()
            except Exception as e:  # a receiver that is not there or went away: say so, then keep trying
                was = self.connected.is_set()
                self._problem = _why(e, self._proc, self.url, was)
                now = time.monotonic()
                if was or not said:
                    log.warning("push to %s: %s; not connected, trying again every %g s", self.url, self._problem,
                                self._retry_s)
                    said = now
                elif now - said >= REMIND_S:
                    log.warning("push to %s: still not connected (%s)", self.url, self._problem)
                    said = now
            finally:
                self.connected.clear()
                self._stop_ffmpeg()
            self._closed.wait(self._retry_s)

    def _connected(self) -> None:
        if not self.connected.is_set():
            log.info("pushing the output to %s", self.url)
            self._problem = None
            self.connected.set()

    def _watch_ffmpeg(self, proc: subprocess.Popen[bytes]) -> None:
        """SRT: connected once the system's ffmpeg reports progress (``-progress pipe:1``): it opened the
        connection to the receiver first."""
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(b"progress=") and proc is self._proc:
                self._connected()

    def _stream(self) -> None:
        if self._format == "mpegts":  # SRT: the system's ffmpeg sends what PyAV muxes
            self._proc = subprocess.Popen(
                [cast(str, shutil.which("ffmpeg")), "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "mpegts",
                 "-i", "pipe:0", "-c", "copy", "-f", "mpegts", "-nostats", "-progress", "pipe:1", self.url],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            threading.Thread(target=self._watch_ffmpeg, args=(self._proc,), name="livecam-push-ffmpeg",
                             daemon=True).start()
            target: Any = cast(IO[bytes], self._proc.stdin)
        else:
            target = self.url
        with av.open(target, "w", format=self._format) as out:
            stream = out.add_stream("libx264", rate=self._fps)
            stream.width, stream.height = self._size
            stream.pix_fmt = "yuv420p"
            stream.options = {"preset": "veryfast", "tune": "zerolatency", "g": str(max(1, round(self._fps)))}
            sound_stream = out.add_stream("aac", rate=RATE, layout=LAYOUT) if self._audio is not None else None
            sound: SoundEncoder | None = None
            t0: float | None = None
            last = -1
            while (frame := self._frames.take()) is not None and not self._closed.is_set():
                now = time.monotonic()
                t0 = now if t0 is None else t0
                if self._audio is not None and sound_stream is not None:
                    if sound is None:
                        self._audio.take()  # sound from before this connection
                        sound = SoundEncoder(sound_stream, t0)
                    for packet in sound.encode(self._audio.take(), self._audio.delay_s):
                        out.mux(packet)
                pts = max(last + 1, round((now - t0) * self._fps))  # wall-clock times: dropped frames leave gaps
                w, h = self._size
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:h, :w]), format="bgr24")
                vf.pts, vf.time_base = pts, 1 / self._fps
                for packet in stream.encode(vf):
                    out.mux(packet)
                last = pts
                self.sent += 1
                if self._format != "mpegts":  # RTMP: av.open connected to the receiver
                    self._connected()
            for packet in stream.encode(None):
                out.mux(packet)
            if sound is not None:
                for packet in sound.flush():
                    out.mux(packet)

    def _stop_ffmpeg(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.stdin:
                    proc.stdin.close()
                proc.wait(2)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait(5)


def _why(error: BaseException, proc: subprocess.Popen[bytes] | None, url: str, was_connected: bool) -> str:
    """Why a push failed, in words: the receiver does not answer (or went away), with what ffmpeg said (SRT:
    the system's ffmpeg, whose end breaks the pipe PyAV writes to; that error says nothing)."""
    detail = str(error) or type(error).__name__
    if proc is not None and proc.stderr is not None:
        try:
            proc.wait(5)  # it gives up on a receiver that does not answer after 3 s
        except subprocess.TimeoutExpired:
            pass
        if proc.poll() is not None:
            lines = proc.stderr.read().decode(errors="replace").strip().splitlines()
            detail = lines[-1] if lines else f"ffmpeg ended with code {proc.returncode}"
    what = "the receiver went away" if was_connected else f"the receiver at {url} does not answer"
    return f"{what} ({detail})"
