"""`livecam` / `livecam run` and `livecam devices` from the command line (no camera, no v4l2loopback here)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from livecam.inputs import demo_clip
from tests.helpers import Follow, free_port, livecam, read_video

# The bundled demo clip (480x270, 12.5 fps, two people) stands in for a camera: OpenCV opens a video
# file like a device, and these tests run without ../shared.
DEMO = demo_clip()


def _one_error_line(r):
    errors = [line for line in r.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("livecam: error: "), r.stderr
    assert "Traceback" not in r.stderr
    return errors[0]


@pytest.mark.skipif(os.path.exists("/dev/video0"), reason="this machine has a camera")
def test_no_camera_names_the_indices_tried():
    r = livecam()
    assert r.returncode == 4
    assert _one_error_line(r).startswith("livecam: error: no camera found (tried indices 0, 1, 2, 3, 4); plug one "
                                         "in, or name it with --camera")


def test_named_camera_missing():
    r = livecam("run", "--camera", "/dev/video-nope")
    assert r.returncode == 4
    assert "no camera at /dev/video-nope (list cameras with `livecam devices`)" in _one_error_line(r)


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.path.exists("/dev/video10"),
                    reason="checks the v4l2loopback message on a Linux machine without it")
def test_no_virtual_camera_says_how_to_install_v4l2loopback():
    # a video file stands in for the camera (OpenCV opens it like a device)
    r = livecam("--camera", DEMO)
    assert r.returncode == 4
    line = _one_error_line(r)
    assert "no virtual camera device: install and load v4l2loopback" in line
    assert "sudo modprobe v4l2loopback devices=1 video_nr=10 card_label=livecam exclusive_caps=1" in line
    assert line.endswith("or add --no-vcam to run without one (--output records, --preview shows, --serve serves)")


def test_version():
    r = livecam("--version")
    assert r.returncode == 0 and r.stdout.strip().startswith("livecam 0.") and not r.stderr


def test_unsupported_size_says_what_the_camera_offered():
    r = livecam("run", "--camera", DEMO, "--size", "640x480", "--no-vcam", "--preview")
    assert r.returncode == 4
    assert "does not support 640x480: it offered 480x270 (use --size 480x270)" in _one_error_line(r)


def test_nothing_to_send_to():
    r = livecam("run", "--camera", DEMO, "--no-vcam")
    assert r.returncode == 2
    assert "nothing to send the video to" in _one_error_line(r)


def test_run_records_anonymized_output_and_stops_cleanly_on_sigterm(tmp_path):
    out = tmp_path / "live.mp4"
    p = subprocess.Popen([sys.executable, "-m", "livecam", "run", "--camera", "demo", "--no-vcam", "--output", out,
                          "--effect", "solid", "--color", "magenta"], stderr=subprocess.PIPE, text=True)
    follow = Follow(p.stderr)
    follow.wait_for("anonymizing again")  # the first detection is in, however long that took
    time.sleep(4)
    p.send_signal(signal.SIGTERM)
    p.wait(30)
    err = follow.text()
    assert p.returncode == 0, err
    assert "Select the 'livecam' camera" not in err  # there is none with --no-vcam
    frames, ts, _ = read_video(out)
    assert len(frames) > 20 and frames[0].shape == (270, 480, 3)
    # frames are either fully obscured (start-up) or have magenta face masks
    from tests.conftest import is_magenta
    assert max(is_magenta(f).mean() for f in frames) > 0.005


def test_run_serves_the_output_and_checks_its_addresses_first(tmp_path):
    """`livecam run --camera demo --no-vcam --serve PORT`: the page and the stream answer, the token is made
    once (mode 0600) and shown once; a bad --serve or --push is one line before anything starts."""
    import json
    import stat
    import urllib.request

    from livecam.serve.clients import MjpegReader

    assert "--serve 99999: expected PORT or HOST:PORT" in _one_error_line(livecam("run", "--serve", "99999"))
    assert "--push udp://x: expected an srt:// or rtmp:// address" in _one_error_line(
        livecam("run", "--camera", "demo", "--push", "udp://x"))
    port = free_port()
    token = tmp_path / "web-token"
    p = subprocess.Popen([sys.executable, "-m", "livecam", "run", "--camera", "demo", "--no-vcam", "--serve", str(port)],
                         stderr=subprocess.PIPE, text=True, env={**os.environ, "LIVECAM_WEB_TOKEN": str(token)})
    follow = Follow(p.stderr)
    try:
        follow.wait_for(f"serving the anonymized output on http://127.0.0.1:{port}/")
        assert stat.S_IMODE(os.stat(token).st_mode) == 0o600
        assert token.read_text().strip() in follow.text(0), "the token is shown once"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            assert b"livecam" in r.read()
        viewer = MjpegReader(port)
        end = time.monotonic() + 60
        while time.monotonic() < end and len(viewer.frames) < 5:
            time.sleep(0.1)
        viewer.close()
        assert len(viewer.frames) >= 5 and viewer.frames[0].shape == (270, 480, 3), viewer.error
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10) as r:
            assert json.loads(r.read())["camera"].startswith("camera demo")
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
    assert p.returncode == 0, follow.text()


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".webm"])
def test_recordings_play_at_real_time_in_every_container(tmp_path, ext):
    """MP4's muxer picks its own time base (1/16000): frames stamped in it played ~16x too fast and
    frames sent < 1 ms apart stopped the pipeline ("Invalid argument"). Ctrl+C twice must still leave
    a complete file."""
    out = tmp_path / f"live{ext}"
    fps = 12.5  # the demo clip's
    p = subprocess.Popen([sys.executable, "-m", "livecam", "run", "--camera", "demo", "--no-vcam", "--output", out],
                         stderr=subprocess.PIPE, text=True)
    time.sleep(10)
    p.send_signal(signal.SIGINT)
    time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert "error" not in err.lower(), err
    frames, ts, _ = read_video(out)
    span = ts[-1] - ts[0]
    assert len(frames) > 25 and 2.0 < span < 10.0, (len(frames), span)
    assert 0.5 * fps <= (len(frames) - 1) / span <= 1.1 * fps, "timestamps must follow the wall clock"
    assert all(b > a for a, b in zip(ts, ts[1:]))


def test_devices_lists_cameras_and_virtual_camera():
    r = livecam("devices")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("cameras:\n")
    assert "virtual camera:" in r.stdout
    if not os.path.exists("/dev/video0"):
        assert "none found (tried indices 0-7)" in r.stdout
    if sys.platform.startswith("linux") and not os.path.exists("/sys/devices/virtual/video4linux"):
        assert "v4l2loopback" in r.stdout


def test_tray_without_a_desktop_says_so(tmp_path):
    r = livecam("tray", "--camera", DEMO, "--no-vcam", "--output", tmp_path / "x.mp4", env={"DISPLAY": ""})
    assert r.returncode == 2
    assert "the tray needs a desktop session" in _one_error_line(r)
    assert not (tmp_path / "x.mp4").exists(), "no device is opened before the tray is known to work"


def test_a_recording_never_replaces_the_video_played_as_the_camera(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(DEMO.read_bytes())
    r = livecam("run", "--camera", clip, "--no-vcam", "--output", clip, "--overwrite")
    assert r.returncode != 0 and "it is the video played as the camera" in _one_error_line(r)
    assert clip.read_bytes() == DEMO.read_bytes()
