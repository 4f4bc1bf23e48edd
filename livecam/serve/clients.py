"""Viewers of ``--serve``'s streams on this machine, for ``livecam bench`` and the tests (never used by the server):
``MjpegReader`` reads ``/stream.mjpg``, ``WebRtcViewer`` plays ``/view``'s WebRTC stream with aiortc."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import cv2
import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription


class MjpegReader:
    """A viewer of ``/stream.mjpg`` on this machine, reading in its own thread (the benchmark's viewers
    and the tests'). ``decode``: keep the frames (BGR), else only count them; ``read=False``: connect
    and never read (a stalled viewer)."""

    def __init__(self, port: int, query: str = "", read: bool = True, decode: bool = True):
        self.frames: list[np.ndarray] = []
        self.count = 0
        self.error: str | None = None
        self._decode = decode
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.settimeout(None)  # a viewer waits for frames as long as it takes; close() ends it
        self.sock.sendall(f"GET /stream.mjpg{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        self.thread = threading.Thread(target=self._read, name="livecam-mjpeg-reader", daemon=True)
        if read:
            self.thread.start()

    def _read(self) -> None:
        f = self.sock.makefile("rb")
        try:
            status = f.readline()
            if b" 200 " not in status:
                self.error = status.decode(errors="replace").strip()
                return
            while f.readline() not in (b"\r\n", b""):  # response headers
                pass
            while line := f.readline():
                if not line.startswith(b"--"):
                    continue
                length = 0
                while (h := f.readline()) not in (b"\r\n", b""):
                    if h.lower().startswith(b"content-length:"):
                        length = int(h.split(b":")[1])
                jpeg = f.read(length)
                self.count += 1
                if self._decode:
                    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
                    if img is None:
                        self.error = "a part of the stream is not a JPEG"
                        return
                    self.frames.append(img)
        except OSError:  # closed
            pass

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class WebRtcViewer:
    """A WebRTC viewer of ``/view``'s stream on this machine (aiortc as the client, in its own thread and
    loop), counting the frames it receives: the benchmark's load and the tests'."""

    def __init__(self, port: int, seconds_to_connect: float = 20.0):
        self.count = 0
        self.error: str | None = None
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._run(),),
                                        name="livecam-webrtc-viewer", daemon=True)
        self._thread.start()
        if not self._connected.wait(seconds_to_connect):
            self.error = self.error or "no WebRTC connection"

    async def _run(self) -> None:
        import aiohttp

        self._stop = asyncio.Event()
        pc = RTCPeerConnection()
        pc.addTransceiver("video", direction="recvonly")
        got: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        @pc.on("track")
        def on_track(track: Any) -> None:
            if not got.done():
                got.set_result(track)

        try:
            await pc.setLocalDescription(await pc.createOffer())
            url = f"http://127.0.0.1:{self._port}/offer"
            async with aiohttp.ClientSession() as http:
                async with http.post(url, json={"sdp": pc.localDescription.sdp,
                                                "type": pc.localDescription.type}) as r:
                    answer = await r.json()
            await pc.setRemoteDescription(RTCSessionDescription(**answer))
            track = await asyncio.wait_for(got, 20)
            while not self._stop.is_set():
                await asyncio.wait_for(track.recv(), 10)
                self.count += 1
                self._connected.set()
        except Exception as e:  # reported to the caller
            self.error = f"{type(e).__name__}: {e}"
            self._connected.set()
        finally:
            await pc.close()

    def close(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


