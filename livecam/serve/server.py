"""The ``--serve`` web server: an aiohttp app in its own thread and event loop, fed by the pipeline (``WebSink``),
never the other way round (aiortc's server example has the same shape). Routes: ``/`` and ``/view`` (the pages,
package data in ``pages/``), ``/stream.mjpg``, ``/status``, ``/events``, ``POST /command``, ``POST /offer``."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
from importlib import resources
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import av
import cv2
import numpy as np
from aiohttp import web
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from livecam.controls import web_table
from livecam.errors import LivecamError
from livecam.live.commands import Command, Status
from livecam.mailbox import Mailbox
from livecam.serve.guard import HEADER_S, ConnectionGuard
from livecam.serve.protocol import Address, _turns_anonymizing_off, command_from_json, status_json
from livecam.serve.webrtc import OutputTrack, SharedVideoEncoder
from livecam.settings import Settings, SettingsError

if TYPE_CHECKING:  # the live package imports this module where --serve is used
    from livecam.live.pipeline import LivePipeline

log = logging.getLogger(__name__)

JPEG_QUALITY = 80
BOUNDARY = "livecamframe"


def _page(name: str) -> str:
    return resources.files("livecam.serve").joinpath("pages", name).read_text(encoding="utf-8")


_VIEW_PAGE = _page("view.html")
# the page builds its buttons and lists from livecam.controls' table, put into it here
_CONTROL_PAGE = _page("control.html").replace("/*CONTROLS*/[]", json.dumps(web_table()))


class WebServer:
    """The HTTP server in its own thread. ``start()`` binds the port (a port in use fails here, before
    the camera opens); ``attach(pipeline)`` connects status and commands; ``sink()`` is its output."""

    def __init__(self, address: Address, token: str | None = None, require_token: bool | None = None):
        self.address = address
        self.token = token
        self.require_token = (not address.loopback) if require_token is None else require_token
        if self.require_token and not token:
            raise LivecamError("a token is needed to serve on a non-loopback address")
        self._frames: Mailbox[np.ndarray] = Mailbox()
        self._loop = asyncio.new_event_loop()
        self._jpeg: bytes = b""
        self._seq = 0
        self._new_frame = asyncio.Event()
        self._peers: set[Any] = set()  # aiortc RTCPeerConnections
        self._tracks: set[OutputTrack] = set()  # their video tracks, fed by the one shared encode
        self._video = SharedVideoEncoder()
        self._new_status = asyncio.Event()
        self._status: dict[str, Any] = {"mode": "starting", "reason": None}
        self._send: Callable[[Command], None] | None = None
        self._clients = 0
        self._closing = False
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._runner: web.AppRunner | None = None
        self._guard_conns = ConnectionGuard()
        self._thread = threading.Thread(target=self._serve, name="livecam-web", daemon=True)
        self._encoder = threading.Thread(target=self._encode, name="livecam-web-encode", daemon=True)

    # -- lifecycle (any thread) -------------------------------------------------------------
    def start(self) -> WebServer:
        self._thread.start()
        self._started.wait(10)
        if self._error is not None:
            raise LivecamError(f"cannot serve on {self.address}: {self._error}; choose another port with "
                               "--serve PORT") from None
        self._encoder.start()
        log.info("serving the anonymized output on http://%s/ (stream: /stream.mjpg)", self.address)
        return self

    def attach(self, pipeline: LivePipeline) -> None:
        """Status and commands of ``pipeline``."""
        self._send = pipeline.send
        pipeline.add_listener(self._on_change)
        self._on_change(pipeline.status, pipeline.settings)

    def sink(self) -> WebSink:
        return WebSink(self)

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._frames.close()
        if self._thread.is_alive():
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            try:
                fut.result(5)
            except Exception as e:  # a stuck client must not hold up the pipeline's shutdown
                log.debug("web server shutdown: %s", e)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    # -- from the pipeline thread: never blocks ------------------------------------------------
    def offer(self, frame_bgr: np.ndarray) -> None:
        if self._clients or self._peers:
            self._frames.put(frame_bgr)

    def _on_change(self, status: Status, settings: Settings) -> None:
        snapshot = status_json(status, settings)
        if not self._closing:
            self._loop.call_soon_threadsafe(self._publish_status, snapshot)

    # -- the encoder thread -------------------------------------------------------------------
    def _encode(self) -> None:
        while (frame := self._frames.take()) is not None:
            if self._closing:
                return
            if self._peers:
                try:
                    packets = self._video.encode(frame)
                except (av.FFmpegError, ValueError) as e:  # said once; the next frame opens the codec again
                    if not self._video.failed:
                        log.warning("web: cannot encode the WebRTC stream: %s", e)
                    self._video.failed, self._video.codec = True, None
                    packets = []
                if packets:
                    self._loop.call_soon_threadsafe(self._publish_packets, packets)
            if self._clients:
                ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                if ok:
                    self._loop.call_soon_threadsafe(self._publish_frame, buf.tobytes())

    # -- the asyncio thread ---------------------------------------------------------------------
    def _publish_frame(self, jpeg: bytes) -> None:
        self._jpeg, self._seq = jpeg, self._seq + 1
        self._new_frame.set()
        self._new_frame = asyncio.Event()

    def _publish_packets(self, packets: list[av.Packet]) -> None:
        for track in list(self._tracks):
            track.push(packets)

    def want_keyframe(self) -> None:
        """A viewer joined or fell behind: the next encoded frame is a keyframe (it can start from it)."""
        self._video.keyframe_wanted = True

    @property
    def closing(self) -> bool:
        return self._closing

    def _publish_status(self, snapshot: dict[str, Any]) -> None:
        self._status = snapshot
        self._new_status.set()
        self._new_status = asyncio.Event()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(middlewares=[self._guard], client_max_size=64 * 1024)
        app.add_routes([web.get("/", self._page), web.get("/view", self._view), web.get("/stream.mjpg", self._mjpeg),
                        web.get("/status", self._status_route), web.get("/events", self._events),
                        web.post("/command", self._command), web.post("/offer", self._offer)])
        # keepalive_timeout: aiohttp's keep-alive timer also runs from a connection's start, so a client must
        # send its request head within it (guard.py)
        # lingering_time: after an early answer (a body that did not come in time: 408), wait at most 1 s for
        # the rest of it before closing (aiohttp's 10 s would double what a slow client holds)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0,
                                     keepalive_timeout=HEADER_S, lingering_time=1.0)
        try:
            self._loop.run_until_complete(self._runner.setup())
            assert self._runner.server is not None
            self._guard_conns.attach(self._runner.server)
            site = web.TCPSite(self._runner, self.address.host, self.address.port)
            self._loop.run_until_complete(site.start())
        except OSError as e:
            self._error = OSError(e.strerror or str(e))
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()

    async def _shutdown(self) -> None:
        self._new_frame.set()
        self._new_status.set()
        for track in list(self._tracks):
            track.push([])  # wakes it: it ends
        await asyncio.gather(*(pc.close() for pc in list(self._peers)), return_exceptions=True)
        self._peers.clear()
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _guard(self, request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        """Host, Origin and token checks for every route; a refusal is a 4xx and one log line."""
        self._guard_conns.begun(request)
        problem = self._refusal(request)
        if problem is not None:
            status, reason = problem
            log.warning("web: refused %s %s from %s: %s", request.method, request.path, request.remote, reason)
            return web.Response(status=status, text=reason + "\n")
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as e:  # never a traceback to the client
            log.warning("web: %s %s failed: %s: %s", request.method, request.path, type(e).__name__, e)
            return web.Response(status=500, text="internal error\n")

    def _refusal(self, request: web.Request) -> tuple[int, str] | None:
        host = request.headers.get("Host", "")
        if self.address.loopback:
            allowed = {f"{h}:{self.address.port}" for h in ("127.0.0.1", "localhost", "[::1]")}
            if host not in allowed:
                return 403, f"wrong Host header {host!r}: open http://127.0.0.1:{self.address.port}/"
        origin = request.headers.get("Origin")
        if request.method != "GET" and origin is not None and origin != f"http://{host}":
            return 403, f"cross-origin request from {origin!r} refused"
        if self.require_token and not self._has_token(request):
            return 401, "token missing or wrong: add ?token=TOKEN (livecam showed the token in its log when it " \
                        "made it; whoever runs livecam can look it up)"
        return None

    def _has_token(self, request: web.Request) -> bool:
        given = request.query.get("token", "")
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            given = auth[len("Bearer "):]
        return bool(self.token) and hmac.compare_digest(given.encode(), (self.token or "").encode())

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(text=_CONTROL_PAGE, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def _view(self, request: web.Request) -> web.Response:
        return web.Response(text=_VIEW_PAGE, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def _status_route(self, request: web.Request) -> web.Response:
        return web.json_response(self._status, headers={"Cache-Control": "no-store"})

    async def _mjpeg(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                                           "Cache-Control": "no-store"})
        await resp.prepare(request)
        self._clients += 1
        try:
            sent = self._seq if self._seq else -1  # the current frame at once, then each newer one
            while not self._closing:
                if self._seq == sent or not self._jpeg:
                    await self._new_frame.wait()
                    continue
                jpeg, sent = self._jpeg, self._seq
                await resp.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                                 .encode() + jpeg + b"\r\n")  # waits while the client is slow: it skips frames
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._clients -= 1
        return resp

    async def _events(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
        await resp.prepare(request)
        try:
            while not self._closing:
                await resp.write(f"data: {json.dumps(self._status)}\n\n".encode())
                await self._new_status.wait()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return resp

    async def _command(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await self._guard_conns.body(request))
        except (ValueError, UnicodeDecodeError):
            return self._bad(request, 400, "the body is not JSON")
        if _turns_anonymizing_off(body) and not self._has_token(request):
            return self._bad(request, 401, "turning anonymizing off needs the token (Authorization: Bearer TOKEN)")
        try:
            command = command_from_json(body)
        except SettingsError as e:
            return self._bad(request, 400, str(e))
        if self._send is None:
            return self._bad(request, 503, "livecam is still starting")
        self._send(command)
        log.info("web: %s", command.name)
        return web.json_response({"sent": command.name})

    async def _offer(self, request: web.Request) -> web.Response:
        """WebRTC signalling: the browser's offer in, our answer out; the connection then carries the
        output as VP8 video, encoded once for every viewer (``SharedVideoEncoder``)."""
        try:
            body = json.loads(await self._guard_conns.body(request))
            offer = RTCSessionDescription(sdp=body["sdp"], type=body["type"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return self._bad(request, 400, 'expected {"sdp": ..., "type": "offer"}')
        pc = RTCPeerConnection()
        self._peers.add(pc)

        track = OutputTrack(self)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                self._peers.discard(pc)
                self._tracks.discard(track)
                await pc.close()

        transceiver = pc.addTransceiver(track, direction="sendonly")
        # the shared encode is VP8: the only codec offered back (every WebRTC browser has it)
        transceiver.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs
                                         if c.mimeType.lower() in ("video/vp8", "video/rtx")])
        try:
            await pc.setRemoteDescription(offer)
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as e:  # a malformed offer
            self._peers.discard(pc)
            await pc.close()
            return self._bad(request, 400, f"cannot answer this offer: {e}")
        self._tracks.add(track)
        log.info("web: a WebRTC viewer connected (%d now)", len(self._peers))
        return web.json_response({"sdp": pc.localDescription.sdp, "type": pc.localDescription.type})

    def _bad(self, request: web.Request, status: int, reason: str) -> web.Response:
        log.warning("web: refused %s %s: %s", request.method, request.path, reason)
        return web.json_response({"error": reason}, status=status)




class WebSink:
    """The web server as a pipeline output (``livecam.outputs.Sink``): hands each frame over, never blocks."""

    def __init__(self, server: WebServer):
        self.server = server

    def send(self, frame_bgr: np.ndarray) -> None:
        self.server.offer(frame_bgr)

    def close(self) -> None:
        self.server.close()


