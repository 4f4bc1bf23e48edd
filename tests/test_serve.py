"""``--serve``: the output on a local web server (MJPEG, control page, status), checked with real
HTTP clients and a real browser, on loopback only."""

from __future__ import annotations

import http.client
import json
import os
import socket
import stat
import time

import cv2
import numpy as np
import pytest

from livecam.harness import replay
from livecam.effects import Effect
from livecam.errors import LivecamError
from livecam.serve import Address, WebServer, command_from_json, load_or_create_token, parse_address
from livecam.serve.clients import MjpegReader, WebRtcViewer
from livecam.settings import Settings, SettingsError
from livecam.inputs.replay import ReplaySource
from tests.conftest import box_coverage, is_magenta, needs_data
from tests.helpers import free_port, smooth_at
from tests.test_live import _kept_up, _ytf

TOKEN = "test-token-123"


@pytest.mark.parametrize("text, expected", [
    ("8080", Address("127.0.0.1", 8080)),
    ("0.0.0.0:9000", Address("0.0.0.0", 9000)),
    ("[::1]:8080", Address("::1", 8080)),
    ("localhost:1", Address("localhost", 1)),
    ("http", LivecamError), ("70000", LivecamError), ("host:", LivecamError),
])
def test_serve_address(text, expected):
    if isinstance(expected, Address):
        assert parse_address(text) == expected
    else:
        with pytest.raises(expected, match="expected PORT or HOST:PORT"):
            parse_address(text)


def test_only_loopback_addresses_serve_without_a_token():
    assert Address("127.0.0.1", 1).loopback and Address("::1", 1).loopback and Address("localhost", 1).loopback
    assert not Address("0.0.0.0", 1).loopback and not Address("192.168.1.5", 1).loopback
    with pytest.raises(LivecamError, match="token"):
        WebServer(Address("0.0.0.0", 8080), token=None)


@pytest.mark.parametrize("body, expected", [
    ({"toggle": "privacy_screen"}, "toggle privacy_screen"),
    ({"set": {"effect": "pixelate", "strength": 2}}, "set effect, strength"),
    ({"set": {"effect": "sepia"}}, "invalid setting effect"),
    ({"set": {"camera": "1"}}, "cannot set camera here"),
    ({"set": {"strength": "lots"}}, "invalid setting strength"),
    ({"toggle": "model"}, "expected"),
    ([1, 2], "expected"),
])
def test_commands_from_the_page_are_checked_like_the_settings_file(body, expected):
    if expected.startswith(("toggle", "set ")):
        assert command_from_json(body).name == expected
    else:
        with pytest.raises(SettingsError, match=expected):
            command_from_json(body)


def test_the_token_is_made_once_with_mode_0600(tmp_path):
    path = tmp_path / "cfg" / "web-token"
    token = load_or_create_token(path)
    assert len(token) >= 20 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_token(path) == token


# -- end to end: the live pipeline on a replayed clip, served on loopback -------------------------------------------

def _request(port, method, path, body=None, headers=None, host=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    hdrs = {"Host": host or f"127.0.0.1:{port}", **(headers or {})}
    data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else None
    if data is not None:
        hdrs["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=hdrs)
    r = conn.getresponse()
    out = r.status, r.read()
    conn.close()
    return out


@pytest.fixture
def served():
    """The live pipeline on a YouTube Faces clip (looped), faces painted solid magenta, served on a free
    loopback port; yields (port, pipeline, backend, frames, track); the pipeline's reports are in
    ``pipeline.reports`` (tests only)."""
    frames, track = _ytf("Albert_Brooks0")
    port = free_port()
    web = WebServer(Address("127.0.0.1", port), token=TOKEN).start()
    replay.RecordingBackend.instances.clear()
    settings = Settings(effect=Effect.SOLID, color=(255, 0, 255))
    reports: list = []
    pipe = replay.replay_pipeline(settings, ReplaySource(frames, 25.0, loop=True), reports.append, web=web)
    pipe.reports = reports  # type: ignore[attr-defined]  # for the tests' _kept_up
    backend = replay.RecordingBackend.instances[-1]
    backend.keep = True
    pipe.start()
    try:
        yield port, pipe, backend, frames, track
    finally:
        pipe.stop()
        assert pipe.wait(10)
    assert pipe.error is None, pipe.error


def _wait_for(cond, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


@needs_data
def test_the_stream_sends_exactly_the_virtual_cameras_frames_with_faces_covered(served):
    """Every MJPEG frame is one the virtual camera got (no raw frame can leave: the server only has
    outputs), and in the ones not wholly obscured the labelled face is covered."""
    port, pipe, backend, frames, track = served
    client = MjpegReader(port)
    assert _wait_for(lambda: len(client.frames) >= 30), client.error
    client.close()
    got = client.frames[:30]
    sent = list(backend.frames)
    raw_boxes = [t["box"] for t in track]
    for img in got:
        d = [float(np.abs(img.astype(np.int16) - s).mean()) for s in sent]
        match = int(np.argmin(d))
        assert d[match] < 4.0, f"a streamed frame is not an output frame (closest differs by {d[match]:.1f})"
        raw = min(float(np.abs(img.astype(np.int16) - f).mean()) for f in frames)
        assert raw > d[match], "a streamed frame is closer to a raw camera frame than to an output frame"
    covered = [max(box_coverage(is_magenta(img), b) for b in raw_boxes) for img in got]
    for img, c in zip(got, covered):
        assert c >= 0.7 or smooth_at(img, track[0]["box"]), f"a face is bare in a streamed frame: {covered}"
    if _kept_up(pipe, pipe.reports):  # how often it could anonymize: only where detection kept up
        assert sum(c >= 0.7 for c in covered) >= 0.8 * len(got), covered  # the rest: obscured whole (start-up)


@needs_data
def test_the_page_commands_and_status_drive_the_same_pipeline(served):
    port, pipe, backend, frames, track = served
    assert _wait_for(lambda: json.loads(_request(port, "GET", "/status")[1])["mode"] == "anonymizing")
    status, body = _request(port, "POST", "/command", {"toggle": "privacy_screen"})
    assert status == 200, body
    assert _wait_for(lambda: json.loads(_request(port, "GET", "/status")[1])["mode"] == "privacy screen")
    client = MjpegReader(port)
    assert _wait_for(lambda: len(client.frames) >= 5)
    client.close()
    assert all(smooth_at(img, track[0]["box"]) for img in client.frames[-3:])  # the privacy screen
    # a bad command: 400 and the reason, and nothing changes
    status, body = _request(port, "POST", "/command", {"set": {"effect": "sepia"}})
    assert status == 400 and b"invalid setting effect" in body
    status, body = _request(port, "POST", "/command", b"{not json")
    assert status == 400 and b"not JSON" in body
    # anonymizing off needs the token even on loopback
    status, body = _request(port, "POST", "/command", {"set": {"anonymize": False}})
    assert status == 401 and b"token" in body
    assert pipe.settings.anonymize
    status, body = _request(port, "POST", "/command", {"set": {"anonymize": False}},
                            headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    assert _wait_for(lambda: not pipe.settings.anonymize)


@needs_data
def test_other_hosts_and_origins_are_refused(served):
    """DNS rebinding: a page on another site resolving its name to 127.0.0.1 sends its own Host."""
    port, pipe, *_ = served
    assert _request(port, "GET", "/status", host=f"evil.example:{port}")[0] == 403
    assert _request(port, "GET", "/stream.mjpg", host=f"evil.example:{port}")[0] == 403
    status, _ = _request(port, "POST", "/command", {"toggle": "presenter"}, headers={"Origin": "http://evil.example"})
    assert status == 403
    time.sleep(0.3)
    assert not pipe.settings.presenter
    assert _request(port, "GET", "/nope")[0] == 404


@needs_data
def test_many_viewers_and_a_stalled_one_slow_neither_the_pipeline_nor_each_other(served):
    """20 MJPEG viewers, 2 WebRTC viewers (aiortc clients) and one viewer that never reads, for 8 s."""
    port, pipe, backend, *_ = served
    stalled = MjpegReader(port, read=False)
    viewers = [MjpegReader(port, decode=False) for _ in range(20)]
    rtc = [WebRtcViewer(port) for _ in range(2)]
    everyone: list[MjpegReader | WebRtcViewer] = [*viewers, *rtc]
    start = len(backend.sent_t)
    counts0 = [v.count for v in everyone]
    time.sleep(8.0)
    sent = len(backend.sent_t) - start
    got = [v.count - c for v, c in zip(everyone, counts0)]
    for v in everyone:
        v.close()
    stalled.close()
    assert all(r.error is None for r in rtc), [r.error for r in rtc]
    assert min(got) >= 20, f"frames each viewer got in 8 s: {got}"
    assert sent >= 80, f"the pipeline sent {sent} frames in 8 s beside 23 viewers"  # 200 at 25 fps


def test_a_server_that_needs_the_token_refuses_without_it():
    port = free_port()
    web = WebServer(Address("127.0.0.1", port), token=TOKEN, require_token=True).start()
    try:
        assert _request(port, "GET", "/status")[0] == 401
        assert _request(port, "GET", "/status?token=wrong")[0] == 401
        assert _request(port, "GET", f"/status?token={TOKEN}")[0] == 200
        assert _request(port, "GET", "/status", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
        refused = MjpegReader(port)
        refused.thread.join(10)
        assert refused.error is not None and "401" in refused.error
    finally:
        web.close()


def test_a_port_in_use_is_a_one_line_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(LivecamError, match=f"cannot serve on 127.0.0.1:{port}: .*choose another port"):
            WebServer(Address("127.0.0.1", port), token=TOKEN).start()


# -- a real browser: Debian's chromium, headless, driven by selenium ------------------------------------------------

def _browser():
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("no chromium + chromedriver here (Debian: apt install chromium chromium-driver; scripts/test.sh "
                    "does it)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,700"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver), options=opts)


_PICTURE_JS = """
const el = document.getElementById(arguments[0]);
const w = el.naturalWidth || el.videoWidth, h = el.naturalHeight || el.videoHeight;
if (!w) return null;
const c = document.createElement("canvas");
c.width = w; c.height = h;
c.getContext("2d").drawImage(el, 0, 0);
return c.toDataURL("image/png");
"""


def _picture(driver, element_id="stream"):
    """The picture the page shows now, read back from a canvas (BGR), or None before it loads."""
    import base64

    url = driver.execute_script(_PICTURE_JS, element_id)
    if not url:
        return None
    return cv2.imdecode(np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)


@needs_data
def test_in_a_real_browser_the_page_shows_the_faces_covered_and_its_button_obscures_the_picture(served, tmp_path):
    port, pipe, backend, frames, track = served
    driver = _browser()
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        state = lambda: driver.find_element("id", "state").text  # noqa: E731
        assert _wait_for(lambda: state().startswith("anonymizing")), state()
        assert _wait_for(lambda: _picture(driver) is not None)
        boxes = [t["box"] for t in track]
        covered = []
        for _ in range(8):  # each picture: the face painted over, or the whole frame obscured (failing closed)
            img = _picture(driver)
            covered.append(max(box_coverage(is_magenta(img), b) for b in boxes))
            assert covered[-1] >= 0.7 or smooth_at(img, track[0]["box"]), f"a face is bare in the page: {covered}"
            time.sleep(0.2)
        assert max(covered) >= 0.7 or not _kept_up(pipe, pipe.reports), "the page never showed the anonymized picture"
        driver.save_screenshot(str(tmp_path / "control-page.png"))
        driver.find_element("id", "privacy_screen").click()
        assert _wait_for(lambda: state().startswith("privacy screen")), state()
        assert pipe.settings.privacy_screen
        assert _wait_for(lambda: smooth_at(_picture(driver), track[0]["box"])), \
            "the page's picture did not turn obscured after the privacy-screen button"
    finally:
        driver.quit()


@needs_data
def test_in_a_real_browser_the_view_page_plays_the_output_over_webrtc_with_faces_covered(served):
    """/view (an OBS Browser Source): WebRTC from aiortc to Chromium; frames read back from the <video>."""
    port, pipe, backend, frames, track = served
    driver = _browser()
    try:
        driver.get(f"http://127.0.0.1:{port}/view")
        assert _wait_for(lambda: driver.execute_script("return document.getElementById('v').videoWidth") > 0), \
            "the WebRTC video did not play"
        assert driver.execute_script("return document.getElementById('m').hidden"), "it fell back to MJPEG"
        driver.set_window_size(1280, 800)  # no scroll bar (an inline <video> left a line below it)
        assert driver.execute_script("return document.documentElement.scrollHeight <= window.innerHeight")
        boxes = [t["box"] for t in track]
        covered = []
        for _ in range(8):
            img = _picture(driver, "v")
            covered.append(max(box_coverage(is_magenta(img, tol=80), b) for b in boxes))
            assert covered[-1] >= 0.7 or smooth_at(img, track[0]["box"]), f"a face is bare in the video: {covered}"
            time.sleep(0.25)
        assert max(covered) >= 0.7 or not _kept_up(pipe, pipe.reports), \
            "the video never showed the anonymized picture"
    finally:
        driver.quit()


def test_in_a_real_browser_a_wrong_token_is_refused():
    port = free_port()
    web = WebServer(Address("127.0.0.1", port), token=TOKEN, require_token=True).start()
    driver = _browser()
    try:
        driver.get(f"http://127.0.0.1:{port}/status?token=wrong")
        assert "token missing or wrong" in driver.find_element("tag name", "body").text
        driver.get(f"http://127.0.0.1:{port}/status?token={TOKEN}")
        assert json.loads(driver.find_element("tag name", "body").text)["mode"] == "starting"
    finally:
        driver.quit()
        web.close()


def test_one_vp8_encode_serves_every_webrtc_viewer_from_a_keyframe_and_a_late_viewer_skips_to_the_next():
    """The shared encode: keyframes when asked for (a viewer joined or fell behind), decodable packets that
    show the frame; a viewer's track starts at a keyframe and, once MAX_QUEUED packets behind, drops them
    and waits for the next keyframe (asking for one) instead of decoding a broken picture."""
    import asyncio

    import av

    from livecam.serve.webrtc import MAX_QUEUED, OutputTrack, SharedVideoEncoder

    enc = SharedVideoEncoder()
    rng = np.random.default_rng(0)
    frame = cv2.GaussianBlur(rng.integers(0, 255, (240, 321, 3), np.uint8), (0, 0), 3)  # odd width: cropped
    packets = [p for i in range(6) for p in enc.encode(frame, now=i / 30)]
    assert [p.is_keyframe for p in packets] == [True] + [False] * 5
    enc.keyframe_wanted = True
    assert [p.is_keyframe for p in enc.encode(frame, now=0.2)] == [True]
    decoder = av.CodecContext.create("libvpx", "r")
    shown = [f.to_ndarray(format="bgr24") for p in packets for f in decoder.decode(p)]
    assert len(shown) == 6 and shown[-1].shape == (240, 320, 3)
    assert np.abs(shown[-1].astype(int) - frame[:, :320]).mean() < 6

    class Server:
        closing = False
        asked = 0

        def want_keyframe(self) -> None:
            self.asked += 1

    async def scenario() -> None:
        server = Server()
        track = OutputTrack(server)
        assert server.asked == 1  # a new viewer asks for a keyframe
        track.push(packets[1:3])  # inter frames before any keyframe: useless to it
        track.push(packets[:2])
        got = [await track.recv(), await track.recv()]
        assert got[0].is_keyframe and got[1] is packets[1]
        track.push(packets[1:] * 4)  # falls behind: more than MAX_QUEUED waiting
        assert server.asked == 2
        track.push(packets[1:2])  # still no keyframe: nothing queued
        track.push(packets[:1])
        assert (await track.recv()).is_keyframe
        server.closing = True
        track.push([])
        with pytest.raises(Exception):
            await track.recv()

    assert MAX_QUEUED < 20
    asyncio.run(scenario())


def test_a_thousand_slow_clients_neither_shut_out_a_viewer_nor_stay_connected():
    """300 half-sent requests were held 70 s, and 1,000 POST /command with `Content-Length: 60000` and one byte
    sent were all accepted and held. Now, beside 1,000 requests whose head never ends and 100 bodies that never
    come (loopback, bounded), a normal viewer gets the page and a stream frame within 2 s, and every slow
    connection is closed within the limits (serve/guard.py: 5 s for a head, 5 s for a body)."""
    import threading

    from livecam.serve import guard as webguard

    port = free_port()
    web = WebServer(Address("127.0.0.1", port), token=TOKEN).start()
    sink, stop = web.sink(), threading.Event()
    frame = np.full((120, 160, 3), 90, np.uint8)

    def feed() -> None:
        while not stop.is_set():
            sink.send(frame)
            time.sleep(0.04)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    slow: list[socket.socket] = []
    try:
        for i in range(1000):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow: {i}".encode())  # the head never ends
            slow.append(s)
        for _ in range(100):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(f"POST /command HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                      "Content-Length: 60000\r\n\r\n{".encode())
            slow.append(s)
        start = time.monotonic()
        status, page = _request(port, "GET", "/")
        assert status == 200 and b"livecam" in page and time.monotonic() - start < 2.0
        viewer = MjpegReader(port, decode=False)
        assert _wait_for(lambda: viewer.count > 0, 2.0), "no stream frame within 2 s"
        viewer.close()
        deadline = time.monotonic() + webguard.HEADER_S + webguard.BODY_S + 5
        still_open = list(slow)
        while still_open and time.monotonic() < deadline:
            for s in list(still_open):
                s.settimeout(0.01)
                try:
                    while s.recv(4096):  # a 408 for a body that never came, then the end
                        pass
                    still_open.remove(s)  # b"": closed by the server
                except socket.timeout:
                    pass
                except OSError:
                    still_open.remove(s)
            time.sleep(0.2)
        assert not still_open, f"{len(still_open)} of {len(slow)} slow connections still open"
    finally:
        stop.set()
        for s in slow:
            s.close()
        web.close()


def test_a_refused_request_does_not_say_where_the_token_is_kept():
    port = free_port()
    web = WebServer(Address("127.0.0.1", port), token=TOKEN, require_token=True).start()
    try:
        status, body = _request(port, "GET", "/status")
        from livecam.serve import token_path

        assert status == 401 and b"?token=TOKEN" in body
        assert str(token_path()).encode() not in body and b"/" not in body.split(b"?token=TOKEN", 1)[1]
    finally:
        web.close()
