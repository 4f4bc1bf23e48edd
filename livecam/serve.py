"""``livecam run --serve [HOST:]PORT``: the anonymized output on a local web server.

For apps that cannot use a virtual camera (Flatpak/Wayland browsers, macOS/Windows setups where OBS
owns the virtual camera) and for OBS itself (a Browser Source or a Media Source):

* ``/stream.mjpg``: the output as MJPEG (``multipart/x-mixed-replace``): OBS Media/Browser Source,
  an ``<img>`` tag, VLC;
* ``/view``: a page with just the picture, sized to the window (an OBS Browser Source), over WebRTC
  (``POST /offer`` signalling; aiortc encodes the output, newest frame wins), MJPEG where WebRTC
  does not connect or with ``?mjpeg``;
* ``/``: the control page: the state (with its reason), effect, strength, presenter mode, privacy
  screen, anonymizing on/off, and the live picture; it sends the tray's commands through the
  pipeline's own command queue;
* ``/status``: the state as JSON; ``/events``: the same as server-sent events, one per change.

Only output frames leave: ``WebSink`` is one more output of the pipeline, beside the virtual camera,
so it gets exactly what the virtual camera gets, obscured fail-closed frames included; nothing here
can reach the camera. Each client gets the newest frame (a slow client skips frames; nothing
queues), and frames are JPEG-encoded in the server's own thread, only while someone watches.

Security: loopback (127.0.0.1) by default, and then the Host header must name the loopback (a web page
cannot reach the server through DNS rebinding) and a command's Origin must be the server's own.
Any other address needs the token (generated on first use, stored 0600 in the config folder, shown
once) on every request, the stream included: ``Authorization: Bearer TOKEN`` or ``?token=TOKEN``.
Turning anonymizing off needs the token even on loopback (and the page asks for a confirmation).

The asyncio loop lives in its own thread, fed by the pipeline, never the other way round (aiortc's
server example has the same shape).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import av
import cv2
import numpy as np
from aiohttp import web
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from livecam.errors import LivecamError
from livecam.live.commands import Command, Status, set_values, toggle
from livecam.mailbox import Mailbox
from livecam.settings import Settings, SettingsError, from_mapping, to_mapping
from livecam.webguard import HEADER_S, ConnectionGuard

if TYPE_CHECKING:  # the live package imports this module where --serve is used
    from livecam.live.pipeline import LivePipeline

log = logging.getLogger(__name__)

JPEG_QUALITY = 80
DEFAULT_HOST = "127.0.0.1"
# What the page may change: the tray's settings, nothing that needs a restart.
TOGGLES = ("privacy_screen", "presenter", "anonymize")
VALUES = ("effect", "strength", "delay_s")
BOUNDARY = "livecamframe"


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_address(text: str) -> Address:
    """``PORT``, ``HOST:PORT`` or ``[IPv6]:PORT``; the host defaults to the loopback."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or DEFAULT_HOST
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 < number < 65536:
        raise LivecamError(f"--serve {text}: expected PORT or HOST:PORT with a port between 1 and 65535, "
                           "e.g. --serve 8080")
    return Address(host, number)


def token_path() -> Path:
    import platformdirs

    return Path(os.environ.get("LIVECAM_WEB_TOKEN") or Path(platformdirs.user_config_dir("livecam")) / "web-token")


def load_or_create_token(path: Path | None = None) -> str:
    """The web token: read from ``path``, or made now, stored with mode 0600 and shown once in the log."""
    path = path or token_path()
    try:
        token = path.read_text().strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(18)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    log.warning("web token (shown once; stored in %s): %s", path, token)
    return token


def status_json(status: Status, settings: Settings) -> dict[str, Any]:
    plain = to_mapping(settings)
    return {"mode": status.mode.value, "reason": status.reason, "camera": status.camera,
            "detect_hz": round(status.detect_hz, 1), "detector_ms": round(status.detector_ms, 1),
            "detect_size": status.detect_size, "frames_out": status.frames_out, "outputs": dict(status.outputs),
            "settings": {k: plain[k] for k in TOGGLES + VALUES}}


def command_from_json(body: Any) -> Command:
    """``{"toggle": NAME}`` or ``{"set": {NAME: VALUE, ...}}`` for the page's settings, checked like the
    settings file (a bad name or value raises ``SettingsError`` naming it)."""
    if isinstance(body, dict) and set(body) == {"toggle"} and body["toggle"] in TOGGLES:
        return toggle(body["toggle"])
    if isinstance(body, dict) and set(body) == {"set"} and isinstance(body["set"], dict) and body["set"]:
        values = body["set"]
        bad = [k for k in values if k not in TOGGLES + VALUES]
        if bad:
            raise SettingsError(f"cannot set {', '.join(map(str, bad))} here: expected {', '.join(TOGGLES + VALUES)}")
        parsed = from_mapping(values)  # the settings file's checks: enums, types, ranges
        return set_values(**{k: getattr(parsed, k) for k in values})
    raise SettingsError('expected {"toggle": NAME} or {"set": {NAME: VALUE}} with NAME one of '
                        + ", ".join(TOGGLES + VALUES))


def _turns_anonymizing_off(body: Any) -> bool:
    return isinstance(body, dict) and (body.get("toggle") == "anonymize" or
                                       (isinstance(body.get("set"), dict) and body["set"].get("anonymize") is False))


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
        # send its request head within it (webguard)
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

    def __init__(self, server: WebServer):
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


class WebSink:
    """The web server as a pipeline output (``livecam.sinks.Sink``): hands each frame over, never blocks."""

    def __init__(self, server: WebServer):
        self.server = server

    def send(self, frame_bgr: np.ndarray) -> None:
        self.server.offer(frame_bgr)

    def close(self) -> None:
        self.server.close()


_VIEW_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>livecam</title>
<style>html,body{margin:0;height:100%;overflow:hidden;background:#000}
video,img{display:block;width:100%;height:100%;object-fit:contain}
[hidden]{display:none}</style>
</head><body><video id="v" autoplay muted playsinline></video><img id="m" alt="livecam output" hidden><script>
// WebRTC (low latency) unless ?mjpeg is given or it does not connect; then the MJPEG stream
const params = new URLSearchParams(location.search), token = params.get("token");
const q = token ? "?token=" + encodeURIComponent(token) : "";
const v = document.getElementById("v"), m = document.getElementById("m");
let mode = "webrtc";
function mjpeg() { if (mode === "mjpeg") return; mode = "mjpeg"; v.hidden = true; m.hidden = false; m.src = "/stream.mjpg" + q; }
async function webrtc() {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", {direction: "recvonly"});
  pc.ontrack = e => { v.srcObject = e.streams[0] || new MediaStream([e.track]); };
  pc.onconnectionstatechange = () => { if (pc.connectionState === "failed") mjpeg(); };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(done => {
    if (pc.iceGatheringState === "complete") return done();
    pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === "complete") done(); };
    setTimeout(done, 2000);
  });
  const headers = {"Content-Type": "application/json"};
  if (token) headers["Authorization"] = "Bearer " + token;
  const r = await fetch("/offer" + q, {method: "POST", headers,
    body: JSON.stringify({sdp: pc.localDescription.sdp, type: pc.localDescription.type})});
  if (!r.ok) throw new Error(await r.text());
  await pc.setRemoteDescription(await r.json());
}
if (params.has("mjpeg")) mjpeg(); else webrtc().catch(mjpeg);
setTimeout(() => { if (!v.videoWidth) mjpeg(); }, 10000);
</script></body></html>
"""

_CONTROL_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>livecam</title>
<style>
body{font:15px system-ui,sans-serif;margin:0;background:#111;color:#eee;display:flex;flex-wrap:wrap}
#pic{flex:1 1 640px;background:#000}#pic img{width:100%;display:block}
#ctl{flex:0 0 300px;padding:16px}button,select{font:inherit;margin:4px 0;padding:6px 10px;width:100%}
#outputs{white-space:pre-line;margin:8px 0}#state{font-weight:bold;padding:8px;border-radius:6px;margin-bottom:12px}
.anonymizing{background:#285}.paused{background:#c80}.privacy-screen{background:#36c}
.failing-closed{background:#c33}.starting{background:#777}
</style></head><body>
<div id="pic"><img id="stream" alt="livecam output"></div>
<div id="ctl">
<div id="state" class="starting">starting</div>
<button id="privacy_screen">Privacy screen</button>
<button id="presenter">Presenter mode</button>
<label>Effect <select id="effect"><option>blur</option><option>pixelate</option><option>solid</option></select></label>
<label>Strength <select id="strength"><option value="0.5">light</option><option value="1">normal</option>
<option value="2">strong</option><option value="4">maximum</option></select></label>
<button id="anonymize">Turn anonymizing off</button>
<div id="outputs"></div>
<div id="msg"></div>
</div>
<script>
const token = new URLSearchParams(location.search).get("token");
const q = token ? "?token=" + encodeURIComponent(token) : "";
document.getElementById("stream").src = "/stream.mjpg" + q;
let current = null;
async function send(body, secret) {
  const headers = {"Content-Type": "application/json"};
  if (secret || token) headers["Authorization"] = "Bearer " + (secret || token);
  const r = await fetch("/command" + q, {method: "POST", headers, body: JSON.stringify(body)});
  document.getElementById("msg").textContent = r.ok ? "" : (await r.json()).error;
}
for (const name of ["privacy_screen", "presenter"])
  document.getElementById(name).onclick = () => send({toggle: name});
document.getElementById("effect").onchange = e => send({set: {effect: e.target.value}});
document.getElementById("strength").onchange = e => send({set: {strength: parseFloat(e.target.value)}});
document.getElementById("anonymize").onclick = () => {
  if (current && current.settings.anonymize) {
    if (!confirm("Turn anonymizing off? Faces will be shown.")) return;
    send({set: {anonymize: false}}, token || prompt("livecam web token"));
  } else send({set: {anonymize: true}});
};
function show(s) {
  current = s;
  const el = document.getElementById("state");
  el.textContent = s.mode + (s.reason ? " (" + s.reason + ")" : "");
  el.className = s.mode.replace(/ /g, "-");
  document.getElementById("privacy_screen").textContent = "Privacy screen: " + (s.settings.privacy_screen ? "on" : "off");
  document.getElementById("presenter").textContent = "Presenter mode: " + (s.settings.presenter ? "on" : "off");
  document.getElementById("effect").value = s.settings.effect;
  document.getElementById("strength").value = String(s.settings.strength);
  document.getElementById("anonymize").textContent = s.settings.anonymize ? "Turn anonymizing off" : "Turn anonymizing on";
  document.getElementById("outputs").textContent =
    Object.entries(s.outputs || {}).map(([name, state]) => name + ": " + state).join("\\n");
}
new EventSource("/events" + q).onmessage = e => show(JSON.parse(e.data));
</script></body></html>
"""
