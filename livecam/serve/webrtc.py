"""``/view``'s WebRTC video: one VP8 encode of the output shared by every viewer (``SharedVideoEncoder``), and
each viewer's track (``OutputTrack``), which hands aiortc the shared packets from a keyframe on."""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from fractions import Fraction
from typing import Any, Protocol

import av
import cv2
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError


class KeyframeSource(Protocol):
    """What a track needs of the server that feeds it."""

    def want_keyframe(self) -> None: ...

    @property
    def closing(self) -> bool: ...


class SharedVideoEncoder:
    """The output encoded once as VP8 for every WebRTC viewer (aiortc encodes once per viewer: with two
    viewers and 20 MJPEG clients the pipeline fell from 30 to 18 fps on a 2-core machine). The settings
    are aiortc's own VP8 encoder's (realtime, CBR) at its top bitrate; a keyframe when a viewer joins or
    falls behind (``keyframe_wanted``) and every ``KEYFRAME_S``. Used by the server's encoder thread only."""

    def __init__(self, bitrate: int = 1_500_000):
        self.bitrate = bitrate
        self.failed = False  # an encode failed (its error was said once); ``codec`` None opens it again
        self.keyframe_wanted = True
        self.codec: Any = None
        self._t0: float | None = None
        self._last_key = -1e9

    def encode(self, frame_bgr: np.ndarray, now: float | None = None) -> list[av.Packet]:
        now = time.monotonic() if now is None else now
        h, w = (frame_bgr.shape[0] // 2) * 2, (frame_bgr.shape[1] // 2) * 2  # 4:2:0 needs even sizes
        if self.codec is None or (self.codec.width, self.codec.height) != (w, h):
            self.codec = self._open(w, h)
            self.keyframe_wanted = True
        yuv = np.asarray(cv2.cvtColor(np.ascontiguousarray(frame_bgr[:h, :w]), cv2.COLOR_BGR2YUV_I420), np.uint8)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        self._t0 = now if self._t0 is None else self._t0
        frame.pts, frame.time_base = int((now - self._t0) * 90000), VIDEO_TIME_BASE
        if self.keyframe_wanted or now - self._last_key >= KEYFRAME_S:
            frame.pict_type = av.video.frame.PictureType.I
            self.keyframe_wanted, self._last_key = False, now
        packets = list(self.codec.encode(frame))
        for p in packets:
            p.time_base = VIDEO_TIME_BASE
        return packets

    def _open(self, w: int, h: int) -> Any:
        codec = av.CodecContext.create("libvpx", "w")
        codec.width, codec.height, codec.pix_fmt = w, h, "yuv420p"
        codec.time_base = VIDEO_TIME_BASE
        codec.bit_rate = self.bitrate
        codec.gop_size = 3000  # keyframes when asked for
        codec.qmin, codec.qmax = 2, 56
        codec.options = {"bufsize": str(self.bitrate), "cpu-used": "-6", "deadline": "realtime",
                         "lag-in-frames": "0", "minrate": str(self.bitrate), "maxrate": str(self.bitrate),
                         "noise-sensitivity": "4", "overshoot-pct": "15", "partitions": "0",
                         "static-thresh": "1", "undershoot-pct": "100"}
        codec.thread_count = min(2, os.cpu_count() or 1)
        return codec


VIDEO_TIME_BASE = Fraction(1, 90000)
KEYFRAME_S = 2.0   # a viewer that lost a packet sees a whole picture again within this
MAX_QUEUED = 15    # packets waiting for one viewer; a viewer further behind skips to the next keyframe


class OutputTrack(MediaStreamTrack):
    """One viewer's WebRTC video track (aiortc's ``MediaStreamTrack``): ``recv`` hands aiortc the shared
    encoder's packets (aiortc sends encoded packets as they are), from a keyframe on. A viewer that
    falls ``MAX_QUEUED`` packets behind drops them and starts again from the next keyframe: it never
    holds up the others or the pipeline, and never decodes a packet whose predecessor it missed."""

    kind = "video"

    def __init__(self, server: KeyframeSource):
        super().__init__()
        self._server = server
        self._queue: deque[av.Packet] = deque()
        self._needs_key = True
        self._arrived = asyncio.Event()
        server.want_keyframe()

    def push(self, packets: list[av.Packet]) -> None:
        for p in packets:
            if self._needs_key and not p.is_keyframe:
                continue
            self._needs_key = False
            if len(self._queue) >= MAX_QUEUED:
                self._queue.clear()
                self._needs_key = True
                self._server.want_keyframe()
                continue
            self._queue.append(p)
        self._arrived.set()

    async def recv(self) -> Any:
        while not self._queue:
            if self._server.closing or self.readyState != "live":
                self.stop()
                raise MediaStreamError
            self._arrived.clear()
            await self._arrived.wait()
        return self._queue.popleft()


