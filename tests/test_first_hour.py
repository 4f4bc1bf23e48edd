"""A new user's first hour: nothing overwritten or half-written, a demo without a camera.

Everything here runs on the bundled demo clip (no ../shared needed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from livecam.inputs import demo_clip
from tests.conftest import is_magenta
from tests.helpers import Follow, livecam, make_video, read_video

DEMO = demo_clip()


def _one_error_line(r) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("livecam: error: "), r.stderr
    return lines[0]


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    frames, _, _ = read_video(DEMO)
    path = tmp_path_factory.mktemp("in") / "people.png"
    import cv2

    cv2.imwrite(str(path), frames[0])
    return path


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> Path:
    """The demo clip three times over (~26 s at 12.5 fps): long enough to be stopped half-way."""
    frames, _, _ = read_video(DEMO)
    path = tmp_path_factory.mktemp("in") / "long.mp4"
    make_video(frames * 3, path, fps=12)
    return path


def test_demo_clip_ships_with_livecam():
    frames, _, _ = read_video(DEMO)
    assert len(frames) > 50 and frames[0].shape == (270, 480, 3)
    assert (DEMO.parent / "ATTRIBUTION.md").read_text().count("CC BY 4.0") == 1


def test_an_existing_output_is_never_replaced_unless_asked(photo, tmp_path):
    keep = tmp_path / "keep.png"
    keep.write_bytes(b"my own file")
    r = livecam("anonymize", photo, "-o", keep)
    assert r.returncode == 2
    assert f"output {keep} already exists" in _one_error_line(r) and "--overwrite" in r.stderr
    assert keep.read_bytes() == b"my own file"
    r = livecam("anonymize", photo, "-o", keep, "--overwrite")
    assert r.returncode == 0, r.stderr
    assert keep.read_bytes()[:4] == b"\x89PNG"


def test_a_batch_over_existing_outputs_writes_nothing(photo, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.png", "b.png"):
        (src / name).write_bytes(photo.read_bytes())
    out = tmp_path / "out"
    (out / "in").mkdir(parents=True)
    (out / "in" / "b.png").write_bytes(b"made by hand")
    r = livecam("anonymize", src, "-o", out)
    assert r.returncode == 2
    assert "already exists" in _one_error_line(r)
    assert sorted(p.name for p in (out / "in").iterdir()) == ["b.png"]
    assert (out / "in" / "b.png").read_bytes() == b"made by hand"


def test_a_trailing_slash_means_a_folder_and_quiet_works_after_the_command(photo, tmp_path):
    r = livecam("anonymize", photo, "-o", f"{tmp_path / 'out5'}/", "-q")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out5" / "people.png").is_file()
    assert not (tmp_path / "out5.png").exists()
    assert r.stderr == "", "-q after the command silences livecam too"


def test_sigterm_during_anonymize_says_so_and_leaves_no_temp_file(long_video, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    p = subprocess.Popen([sys.executable, "-m", "livecam", "anonymize", long_video, "-o", out / "x.mp4"],
                         stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not list(out.glob(".*")) and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.1)
    assert list(out.glob(".*")), "the video is being written to a temporary file"
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 143, err
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    assert list(out.iterdir()) == [], "no temporary and no partial output left"


def test_run_checks_its_recording_before_the_camera_opens(tmp_path):
    existing = tmp_path / "mine.mkv"
    existing.write_bytes(b"a recording of mine")
    # the camera does not exist: the recording's problem must be found first
    r = livecam("run", "--camera", "/dev/video-nope", "--no-vcam", "--output", existing)
    assert r.returncode == 2
    assert f"cannot record to {existing}: the file already exists" in _one_error_line(r)
    assert existing.read_bytes() == b"a recording of mine"
    r = livecam("run", "--camera", "/dev/video-nope", "--no-vcam", "--output", "/proc/livecam/x.mkv")
    assert r.returncode == 2
    assert "/proc/livecam" in _one_error_line(r) and "--output" in r.stderr
    r = livecam("run", "--camera", "/dev/video-nope", "--no-vcam", "--output", tmp_path / "new" / "x.mkv")
    assert r.returncode == 4 and "no camera at /dev/video-nope" in r.stderr  # missing folder: created, fine


def _record(out: Path, *extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "livecam", "run", "--camera", "demo", "--no-vcam", "--output", out,
                             "--effect", "solid", "--color", "magenta", *extra], stderr=subprocess.PIPE, text=True)


def test_a_killed_recording_stays_readable_and_a_second_writer_is_refused(tmp_path):
    """SIGKILL (or a power cut) mid-recording: the MP4 is fragmented, so what was written plays; a
    second livecam recording into the same file, even with --overwrite, is refused."""
    out = tmp_path / "live.mp4"
    p = _record(out)
    try:
        Follow(p.stderr).wait_for("anonymizing again")  # the first detection is in: faces are painted from here
        second = livecam("run", "--camera", "demo", "--no-vcam", "--output", out, "--overwrite", timeout=120)
        assert second.returncode == 2
        assert "another livecam is recording into it" in _one_error_line(second)
        time.sleep(3.0)  # > one keyframe interval (2 s): at least one complete fragment of painted frames
    finally:
        p.kill()
        p.wait(30)
    frames, ts = _read_until_damaged(out)
    assert len(frames) >= 10 and frames[0].shape == (270, 480, 3)
    assert all(b > a for a, b in zip(ts, ts[1:]))
    # every frame is either wholly obscured (start-up) or has its faces painted magenta
    assert max(is_magenta(f).mean() for f in frames) > 0.002


def _read_until_damaged(path: Path) -> tuple[list[np.ndarray], list[float]]:
    """Frames and timestamps up to where the file was cut (a player shows those, then stops)."""
    import av

    frames, ts = [], []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        try:
            for packet in c.demux(s):
                for f in packet.decode():
                    frames.append(f.to_ndarray(format="bgr24"))
                    assert f.pts is not None and s.time_base is not None, "a decoded frame without a timestamp"
                    ts.append(float(f.pts * s.time_base))
        except av.error.InvalidDataError:  # the fragment being written when the process was killed
            pass
    return frames, ts


@pytest.mark.skipif(os.path.exists("/dev/video0"), reason="this machine has a camera")
def test_no_camera_is_one_line_with_no_opencv_noise_and_suggests_the_demo():
    r = livecam()
    assert r.returncode == 4
    line = _one_error_line(r)  # nothing else on stderr: no OpenCV "[ WARN ... ] can't open camera" lines
    assert "no camera found (tried indices 0, 1, 2, 3, 4)" in line and "--camera demo" in line


def test_frames_through_the_lookahead_keep_count_order_and_timestamps(tmp_path):
    """A video through the look-ahead window: every frame comes out once, in order, with its
    timestamp (frames are numbered by a bright bar whose position is the frame index)."""
    frames = []
    for i in range(40):
        f = np.zeros((64, 96, 3), np.uint8)
        f[:, 2 * i:2 * i + 2] = 255
        frames.append(f)
    src = tmp_path / "bars.mp4"
    make_video(frames, src, fps=10)
    out = tmp_path / "bars-anon.mp4"
    r = livecam("anonymize", src, "-o", out, "--lookahead", "1.5")
    assert r.returncode == 0, r.stderr
    got, ts, _ = read_video(out)
    _, ts_in, _ = read_video(src)
    assert len(got) == 40 and ts == ts_in
    assert [int(np.argmax(g[32, :, 1])) // 2 for g in got] == list(range(40))
