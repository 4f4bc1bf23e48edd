"""Network cameras in (``--camera http://...``, ``srt://...``): real streams on loopback, through the
real live pipeline; a stream that drops fails closed and comes back by itself."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time

import numpy as np
import pytest

from livecam import live
from livecam.outputs import Format, Outputs, Started, open_outputs
from livecam.harness import replay
from livecam.effects import Effect
from livecam.errors import DeviceError, LivecamError
from livecam.live import Mode
from livecam.media import read_image
from livecam.inputs.network import NetworkSource, is_network
from livecam.serve import Address, WebServer
from livecam.settings import Settings
from tests.conftest import DATA, box_coverage, is_magenta, load_boxes, needs_data
from tests.helpers import free_port, make_video, smooth_at
from tests.test_live import _kept_up

PHOTO = "images/2008_001322.jpg"  # three labelled faces, 500x375


def test_which_camera_values_are_network_streams():
    assert all(map(is_network, ["srt://1.2.3.4:9000", "rtsp://cam/stream", "RTMP://x/live", "http://h:8/a.mjpg"]))
    assert not any(map(is_network, ["0", "/dev/video0", "demo", "clip.mp4", "srt:/nothing"]))


def test_a_network_camera_that_is_not_there_is_a_one_line_error():
    port = free_port()  # nothing listens here
    with pytest.raises(DeviceError, match=f"no video from http://127.0.0.1:{port}/x.mjpg: "):
        NetworkSource(f"http://127.0.0.1:{port}/x.mjpg", timeout_s=2)


def _photo():
    img = read_image(DATA / "dlib-faces-dev" / PHOTO)[:374]  # even height for H.264
    return np.ascontiguousarray(img), load_boxes("dlib-faces-dev")[PHOTO]


def _start(open_source, first=None, push=None, warm=None, sound=None):
    """The live pipeline with ``open_source`` as its camera (faces solid magenta) into the recording
    virtual camera (and ``push``), started (``warm``: a frame to load the model and choose its size
    on first); returns (backend, reports, pipe)."""
    replay.register()
    replay.RecordingBackend.instances.clear()
    first = first or open_source()
    settings = Settings(effect=Effect.SOLID, color=(255, 0, 255))
    sink = open_outputs(Outputs(push=push, vcam_backend=replay.BACKEND), Format(first.width, first.height, 25.0),
                        Started(sound=sound))
    reports: list[live.FrameReport] = []
    pipe = live.build_pipeline(settings, open_source, sink, first_source=first, on_frame=reports.append)
    backend = replay.RecordingBackend.instances[-1]
    backend.keep = True
    if warm is not None:
        pipe.prepare(warm)
    return backend, reports, pipe.start()


def _run_pipeline(open_source, until, seconds=20.0):
    """``_start``, then until ``until(pipe, reports)`` holds or ``seconds`` pass."""
    backend, reports, pipe = _start(open_source)
    end = time.monotonic() + seconds
    while time.monotonic() < end and not until(pipe, reports):
        time.sleep(0.1)
    return backend, reports, pipe


def _stop(pipe):
    pipe.stop()
    assert pipe.wait(10)
    assert pipe.error is None, pipe.error


def _assert_faces_covered(backend, reports, boxes, pipe):
    shown = [(out, r) for out, r in zip(backend.frames, reports) if not r.obscured_all]
    assert len(shown) >= 10 or not _kept_up(pipe, reports), "the stream was never anonymized"
    for out, r in shown:
        covered = [box_coverage(is_magenta(out), b) for b in boxes]
        assert min(covered) >= 0.7, f"a face is bare in an output frame: {covered}"


@needs_data
def test_an_mjpeg_network_camera_goes_through_the_live_pipeline():
    """An IP camera's MJPEG over HTTP (here: livecam's own --serve stream of a photo with three
    labelled faces), read by PyAV: every frame sent covers the three faces."""
    img, boxes = _photo()
    port = free_port()
    camera = WebServer(Address("127.0.0.1", port), token="x").start()
    sink = camera.sink()
    stop = threading.Event()

    def feed():
        while not stop.is_set():
            sink.send(img)
            time.sleep(0.04)

    threading.Thread(target=feed, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{port}/stream.mjpg"
        backend, reports, pipe = _run_pipeline(
            lambda: NetworkSource(url), lambda p, r: sum(not x.obscured_all for x in r) >= 40)
        _stop(pipe)
    finally:
        stop.set()
        camera.close()
    _assert_faces_covered(backend, reports, boxes, pipe)


def _srt_sender(video, port):
    """Debian's ffmpeg playing ``video`` in a loop in real time as an SRT listener (a phone's sender
    is the caller in most apps; either side may listen)."""
    return subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-stream_loop", "-1",
                             "-i", str(video), "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
                             "-g", "25", "-f", "mpegts", f"srt://127.0.0.1:{port}?mode=listener"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@needs_data
def test_an_srt_camera_is_anonymized_and_a_dropped_stream_fails_closed_then_comes_back(tmp_path):
    if shutil.which("ffmpeg") is None:
        pytest.skip("no ffmpeg with SRT here (Debian: apt install ffmpeg; scripts/test.sh does it)")
    img, boxes = _photo()
    video = tmp_path / "still.mp4"
    make_video([img] * 50, video)
    port = free_port(socket.SOCK_DGRAM)  # SRT runs over UDP
    url = f"srt://127.0.0.1:{port}"
    sender = _srt_sender(video, port)
    try:
        time.sleep(1.0)
        backend, reports, pipe = _run_pipeline(
            lambda: NetworkSource(url, timeout_s=2.0), lambda p, r: sum(not x.obscured_all for x in r) >= 40, 30)
        try:
            assert pipe.status.mode is Mode.ANONYMIZING or not _kept_up(pipe, reports), pipe.status
            sender.kill()  # the phone drops off
            sender.wait(5)
            lost = time.monotonic()
            while time.monotonic() - lost < 15 and "camera lost" not in (pipe.status.reason or ""):
                time.sleep(0.1)
            assert "camera lost" in (pipe.status.reason or ""), pipe.status
            n_lost = len(reports)
            sender = _srt_sender(video, port)  # and comes back
            back = time.monotonic()
            while time.monotonic() - back < 30 and not any(not r.obscured_all for r in reports[n_lost:]):
                time.sleep(0.1)
            assert any(r.seq > 0 for r in reports[n_lost:]), "the stream came back but livecam did not"
            assert any(not r.obscured_all for r in reports[n_lost:]) or not _kept_up(pipe, reports), \
                "livecam did not anonymize the stream again"
        finally:
            _stop(pipe)
    finally:
        sender.kill()
        sender.wait(5)
    _assert_faces_covered(backend, reports, boxes, pipe)
    assert any(r.obscured_all and "camera lost" in (r.reason or "") for r in reports), \
        "frames sent while the stream was gone are obscured and say why"


# -- --push: the output to an SRT / RTMP receiver (Debian's ffmpeg, on loopback) ------------------------------------

@pytest.mark.parametrize("url, error", [
    ("udp://1.2.3.4:5", "expected an srt:// or rtmp:// address"),
    ("out.ts", "expected an srt:// or rtmp:// address"),
])
def test_push_addresses_are_checked_before_anything_starts(url, error):
    from livecam.outputs.push import check_push_url

    with pytest.raises(LivecamError, match=error):
        check_push_url(url)


def _receiver(url_in: str, out, frames: int, listen_rtmp: bool = False):
    return subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                             *(["-listen", "1"] if listen_rtmp else []), "-i", url_in, "-frames:v", str(frames),
                             "-c", "copy", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _decoded(path):
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


def _assert_received_covered(frames, boxes, kept_up: bool):
    assert len(frames) >= 20, f"the receiver got {len(frames)} frames"
    covered = 0
    for img in frames:
        ok = [box_coverage(is_magenta(img), b) >= 0.7 or smooth_at(img, b) for b in boxes]
        assert all(ok), "a face is bare in a pushed frame"
        covered += all(box_coverage(is_magenta(img), b) >= 0.7 for b in boxes)
    assert covered >= len(frames) // 2 or not kept_up, "the pushed stream was never anonymized"


def _push_pipeline(push_url, img):
    """The live pipeline on the photo, pushing to ``push_url``; returns (pipeline, its reports)."""
    from livecam.inputs.replay import ReplaySource

    src = ReplaySource([img] * 25, 25.0, loop=True)
    _, reports, pipe = _start(lambda: src, src, push=push_url, warm=img)
    return pipe, reports


@needs_data
def test_push_over_srt_sends_only_covered_faces_and_reconnects_when_the_receiver_comes_back(tmp_path):
    if shutil.which("ffmpeg") is None:
        pytest.skip("no ffmpeg with SRT here (Debian: apt install ffmpeg; scripts/test.sh does it)")
    img, boxes = _photo()
    port = free_port(socket.SOCK_DGRAM)
    first = _receiver(f"srt://127.0.0.1:{port}?mode=listener", tmp_path / "a.ts", 40)
    time.sleep(0.5)
    pipe, reports = _push_pipeline(f"srt://127.0.0.1:{port}", img)
    try:
        first.wait(60)  # it leaves after 40 frames: the receiver went away
        assert first.returncode == 0, first.stderr.read() if first.stderr else ""
        time.sleep(1.0)
        second = _receiver(f"srt://127.0.0.1:{port}?mode=listener", tmp_path / "b.ts", 20)
        second.wait(60)
        assert second.returncode == 0, "the push did not reconnect to a new receiver"
        assert pipe.error is None
    finally:
        _stop(pipe)
    kept_up = _kept_up(pipe, reports)
    _assert_received_covered(_decoded(tmp_path / "a.ts"), boxes, kept_up)
    _assert_received_covered(_decoded(tmp_path / "b.ts"), boxes, kept_up)


@needs_data
def test_push_over_rtmp_through_pyavs_own_ffmpeg(tmp_path):
    if shutil.which("ffmpeg") is None:
        pytest.skip("no ffmpeg here to receive RTMP (Debian: apt install ffmpeg; scripts/test.sh does it)")
    img, boxes = _photo()
    port = free_port()
    receiver = _receiver(f"rtmp://127.0.0.1:{port}/live/test", tmp_path / "a.flv", 30, listen_rtmp=True)
    time.sleep(0.5)
    pipe, reports = _push_pipeline(f"rtmp://127.0.0.1:{port}/live/test", img)
    try:
        receiver.wait(60)
        assert receiver.returncode == 0, receiver.stderr.read() if receiver.stderr else ""
    finally:
        _stop(pipe)
    _assert_received_covered(_decoded(tmp_path / "a.flv"), boxes, _kept_up(pipe, reports))


@needs_data
def test_push_carries_a_network_cameras_sound_beside_the_anonymized_picture(tmp_path):
    """A phone over SRT sends picture and sound (a 440 Hz tone); livecam pushes the anonymized picture to an
    SRT receiver with the sound beside it: the received file has both, the tone's pitch and about as much
    sound as picture."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("no ffmpeg with SRT here (Debian: apt install ffmpeg; scripts/test.sh does it)")
    import av

    from livecam.audio import AudioTap

    img, boxes = _photo()
    video = tmp_path / "still.mp4"
    make_video([img] * 50, video)
    port_in, port_out = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    sender = subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-stream_loop", "-1", "-i", str(video),
         "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-map", "0:v", "-map", "1:a",
         "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "25", "-c:a", "aac",
         "-f", "mpegts", f"srt://127.0.0.1:{port_in}?mode=listener"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # 6 s of it: the first ~1.5 s are obscured until the first detection of the stream's picture
    receiver = _receiver(f"srt://127.0.0.1:{port_out}?mode=listener", tmp_path / "out.ts", 150)
    tap = AudioTap()
    try:
        time.sleep(1.0)
        url = f"srt://127.0.0.1:{port_in}"
        _, reports, pipe = _start(lambda: NetworkSource(url, timeout_s=5.0, audio=tap),
                                  push=f"srt://127.0.0.1:{port_out}", warm=img, sound=tap)
        try:
            receiver.wait(90)
            assert receiver.returncode == 0, receiver.stderr.read() if receiver.stderr else ""
        finally:
            _stop(pipe)
    finally:
        for p in (sender, receiver):
            p.kill()
            p.wait(5)
    _assert_received_covered(_decoded(tmp_path / "out.ts"), boxes, _kept_up(pipe, reports))
    with av.open(str(tmp_path / "out.ts")) as c:
        assert c.streams.audio, "the pushed stream has no sound"
        times = [float(f.time or 0.0) for f in c.decode(video=0)]
    with av.open(str(tmp_path / "out.ts")) as c:
        sound = [(float(f.time or 0.0), f.to_ndarray()[0]) for f in c.decode(audio=0)]
        rate = c.streams.audio[0].rate
    starts = [min(times), sound[0][0]]
    v_s = max(times) - min(times)
    samples = np.concatenate([x for _, x in sound])
    assert abs(starts[0] - starts[1]) < 0.2, f"picture and sound start {starts[0] - starts[1]:+.2f} s apart"
    assert len(samples) / rate >= 0.5 * v_s, f"{len(samples) / rate:.2f} s of sound for {v_s:.2f} s of picture"
    spectrum = np.abs(np.fft.rfft(samples[rate // 10:]))
    pitch = np.argmax(spectrum) * rate / (2 * (len(spectrum) - 1))
    assert abs(pitch - 440) < 10, f"the pushed sound's pitch is {pitch:.0f} Hz, not the camera's 440 Hz"


def test_push_to_a_receiver_that_does_not_answer_says_so_and_connects_when_it_does(caplog):
    """Nothing listening at the SRT address: it said `[Errno 1447131472] Error in PyAV callback: '9'`, then
    "pushing the output to srt://..." every few seconds though nothing was received. Now one line says the
    receiver does not answer, the state (web page, /status) says not connected, and "pushing" is said once the
    receiver takes the stream."""
    import logging
    import threading

    from livecam.live.commands import Status
    from livecam.outputs.push import PushSink
    from livecam.serve import status_json
    from livecam.settings import Settings

    if shutil.which("ffmpeg") is None:
        pytest.skip("no ffmpeg with SRT here (Debian: apt install ffmpeg; scripts/test.sh does it)")
    caplog.set_level(logging.INFO, logger="livecam")
    port = free_port(socket.SOCK_DGRAM)
    url = f"srt://127.0.0.1:{port}"
    push = PushSink(url, 320, 240, 25.0, retry_s=0.5)
    stop = threading.Event()

    def feed() -> None:
        frame = np.full((240, 320, 3), 128, np.uint8)
        while not stop.is_set():
            push.send(frame)
            time.sleep(0.04)

    threading.Thread(target=feed, daemon=True).start()
    receiver = None
    try:
        deadline = time.monotonic() + 30
        while "not connected" not in push.state[1] and time.monotonic() < deadline:
            time.sleep(0.1)
        name, state = push.state
        assert name == "push" and state.startswith(f"not connected: the receiver at {url} does not answer"), state
        time.sleep(4)  # more tries, all failing
        said = [r.getMessage() for r in caplog.records]
        assert not [m for m in said if "pushing the output" in m or "PyAV callback" in m], said
        assert len([m for m in said if "does not answer" in m]) == 1, said
        assert status_json(Status(outputs=(push.state,)), Settings())["outputs"]["push"] == state
        receiver = subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i",
                                     f"{url}?mode=listener", "-f", "null", "-"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        assert push.connected.wait(30), push.state
        assert push.state == ("push", f"connected to {url}")
        assert len([r for r in caplog.records if "pushing the output" in r.getMessage()]) == 1
    finally:
        stop.set()
        push.close()
        if receiver is not None:
            receiver.kill()
            receiver.wait()
