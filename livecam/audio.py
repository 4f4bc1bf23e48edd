"""The camera's sound, for ``--push``: a network camera (a phone over SRT, an IP camera over RTSP) sends
sound with its picture; the picture goes through the pipeline, the sound around it (it holds no faces).

``AudioTap`` is the hand-over: the network source puts each decoded sound frame in with the wall-clock
time it belongs to (its stream timestamp mapped onto the clock through the video frames'), the push
takes them out and encodes them as AAC beside its H.264, later by the time the pictures spend in the
pipeline (``delay``: the look-ahead window of ``--delay``), so picture and sound stay together. Bounded:
a push that is not connected drops sound, never memory.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

RATE = 48000          # the pushed sound: AAC, stereo, 48 kHz
LAYOUT = "stereo"
AAC_FRAME = 1024      # samples per AAC frame
KEEP_S = 3.0          # sound waiting for the push beyond this is dropped
RESYNC_S = 0.2        # sound drifting this far from the pictures' clock is put back in place


@dataclass(frozen=True)
class SoundChunk:
    frame: Any    # av.AudioFrame, as decoded
    t: float      # when its first sample was captured, on time.monotonic()'s clock


class AudioTap:
    """Sound frames from the camera to the push (any threads)."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._chunks: deque[SoundChunk] = deque()
        self.delay_s = delay_s
        """How long the pipeline holds pictures (``--delay``): the sound waits as long (``follow``)."""

    def put(self, frame: Any, t: float) -> None:
        with self._lock:
            self._chunks.append(SoundChunk(frame, t))
            while self._chunks and self._chunks[-1].t - self._chunks[0].t > KEEP_S:
                self._chunks.popleft()

    def follow(self, _status: object, settings: Any) -> None:
        """A pipeline listener (``LivePipeline.add_listener``): ``settings.delay_s`` changed from the tray."""
        self.delay_s = settings.delay_s

    def take(self) -> list[SoundChunk]:
        with self._lock:
            out = list(self._chunks)
            self._chunks.clear()
        return out


class SoundEncoder:
    """Sound chunks -> AAC packets of an output stream, time-stamped on the pushed video's clock (``t0``:
    the wall-clock time of the video's pts 0). Continuous: chunks are laid end to end and only put back
    in place when they drift ``RESYNC_S`` from where their clock says they belong."""

    def __init__(self, stream: Any, t0: float):
        self.stream = stream
        self.t0 = t0
        self._resampler = av.AudioResampler(format="fltp", layout=LAYOUT, rate=RATE)
        self._fifo = av.AudioFifo()
        self._next: int | None = None  # pts (samples) of the fifo's first sample

    def encode(self, chunks: list[SoundChunk], delay_s: float) -> list[Any]:
        packets: list[Any] = []
        for chunk in chunks:
            at = round((chunk.t + delay_s - self.t0) * RATE)  # where it belongs on the video's clock
            if at < 0:
                continue  # from before the first pushed picture
            queued = self._fifo.samples
            if self._next is None or abs(self._next + queued - at) > RESYNC_S * RATE:
                if self._next is not None and at < self._next + queued:
                    continue  # would go back in time: dropped (the clock jumped; the next chunks catch up)
                self._fifo = av.AudioFifo()
                self._next = at
            for f in self._resampler.resample(chunk.frame):
                f.pts = None
                self._fifo.write(f)
            while self._fifo.samples >= AAC_FRAME:
                out = self._fifo.read(AAC_FRAME)
                if out is None:
                    break
                out.pts, out.time_base = self._next, _TIME_BASE
                self._next += AAC_FRAME
                packets += self.stream.encode(out)
        return packets

    def flush(self) -> list[Any]:
        return list(self.stream.encode(None))


_TIME_BASE = Fraction(1, RATE)
