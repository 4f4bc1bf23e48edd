"""The live path end to end: replayed real clips -> real pyvirtualcam.Camera with a recording
backend. Faces covered in every frame sent, and fail-closed behaviour with bad detectors."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from livecam import live
from livecam.harness import bench, replay
from livecam.effects import Effect
from livecam.errors import ModelError
from livecam.faces import Faces
from livecam.media import read_image
from livecam.settings import Settings
from livecam.inputs.replay import ReplaySource
from tests.conftest import DATA, HAVE_DATA, box_coverage, is_magenta, needs_data
from tests.helpers import FakeModel, ytf_tracks
from tests.test_effects import retained_detail

replay.register()


def _ytf(clip):
    track = ytf_tracks()[clip]
    return [read_image(DATA / "ytf-clips-dev" / t["frame"]) for t in track], track


def _run(frames, settings, seconds=None, make_detector=None, fps=25.0, commands=(), source=None, open_source=None,
         warm=True, loop=False, people=None, make_describer=None):
    """Run the live pipeline on replayed frames; returns (backend, reports, pipeline).

    ``warm``: load the detector before the replay starts (as if livecam had been running); ``people``,
    ``make_describer``: the enrolled people and their recogniser (``--keep``)."""
    replay.RecordingBackend.instances.clear()
    src = source or ReplaySource(frames, fps, loop=loop)
    reports: list[live.FrameReport] = []
    pipe = replay.replay_pipeline(settings, src, reports.append, make_detector=make_detector, open_source=open_source,
                                 warm=warm, people=people, make_describer=make_describer)
    backend = replay.RecordingBackend.instances[-1]
    backend.keep = True
    pipe.start()
    for at, cmd in commands:
        time.sleep(at)
        pipe.send(cmd)
    pipe.wait(seconds if seconds is not None else len(frames) / fps + 1.0)
    pipe.stop()
    assert pipe.wait(10), "pipeline did not stop"
    assert pipe.error is None, pipe.error
    assert len(backend.frames) == len(reports) > 0
    return backend, reports, pipe


def _kept_up(pipe, reports, stale_ms: float = 400) -> bool:
    """Whether detection kept up during the run: a median detection well inside the stale limit and
    no frame failed closed for a stalled detection. On a busy machine it does not, and tests then
    check only what must hold at any speed (no face bare in a frame sent; failing closed otherwise),
    not how often livecam could anonymize."""
    from livecam.live.worker import AUTO_SIZES

    st = pipe.status
    stalls = sum(1 for r in reports if r.reason and r.reason.startswith("face detection stalled"))
    # detection stepped down to its narrowest width is the machine at its limit too (a CPU without bf16 here:
    # 320 px; a kept face there was shown in 18 of 152 frames once, in CI, against half asked)
    narrowest = st.detect_size is not None and st.detect_size <= AUTO_SIZES[-1]
    ok = st.detector_ms * 3 <= stale_ms and st.detect_hz >= 5 and not stalls and not narrowest
    if not ok:
        print(f"busy machine: detection {st.detect_hz:.1f} Hz, {st.detector_ms:.0f} ms at {st.detect_size} px, "
              f"{stalls} frames failed closed on a stalled detection: usability checks relaxed")
    return ok


def _source_frame(frames, report):
    return frames[report.index % len(frames)] if report.index >= 0 else frames[-1]


@needs_data
@pytest.mark.parametrize("clip", sorted(ytf_tracks()) if HAVE_DATA else ["(no data)"])
def test_labelled_face_covered_in_every_frame_sent(clip):
    frames, track = _ytf(clip)
    s = Settings(effect=Effect.SOLID, color=(255, 0, 255))
    backend, reports, pipe = _run(frames, s)
    assert (backend.width, backend.height) == (frames[0].shape[1], frames[0].shape[0])
    import pyvirtualcam
    assert backend.fmt is pyvirtualcam.PixelFormat.BGR
    assert all(f.shape == frames[0].shape and f.dtype == np.uint8 for f in backend.frames)
    assert backend.closed == 1
    anonymized = clip_frames = 0
    for out, r in zip(backend.frames, reports):
        if r.index < 0:  # the clip ended: "camera lost" frames
            assert r.obscured_all and r.reason.startswith("camera lost")
            continue
        clip_frames += 1
        box = track[r.index]["box"]
        if r.obscured_all:
            assert retained_detail(_source_frame(frames, r), out) < 0.05
        else:
            anonymized += 1
            assert box_coverage(is_magenta(out, tol=0), box) >= 0.7, f"frame {r.index}: labelled face not covered"
    # the YouTube Faces clips are heavily compressed and jumpy: the scene-change gate obscures a few
    # frames (the safe side), but most of the clip's frames must be anonymized, not failing closed - when
    # the machine let detection keep up (a busy machine rightly fails closed more: that is the safe side).
    # Counted over the clip's frames: the ~1 s of "camera lost" frames after it ended (17 of Aishwarya_Rai0's
    # 93 frames sent) are obscured by design (idle: 73 of its 76 frames anonymized; beside two busy processes
    # with detection keeping up 69, which failed when the camera-lost frames were counted as failures)
    if _kept_up(pipe, reports):
        assert anonymized >= 0.8 * clip_frames, "should be anonymizing (not failing closed) most of the time"


class Raising(FakeModel):
    def __init__(self, fail_first=10 ** 9):
        super().__init__()
        self.fail_first = fail_first

    def find(self, frame):
        if self.calls <= self.fail_first:
            raise RuntimeError("CUDA error: an illegal memory access")
        return Faces.empty()


class Hanging(FakeModel):
    def __init__(self, ok_calls=3):
        super().__init__()
        self.ok_calls, self.release = ok_calls, threading.Event()

    def find(self, frame):
        if self.calls > self.ok_calls:
            self.release.wait()
        return Faces.empty()


class Slow(FakeModel):
    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def find(self, frame):
        time.sleep(self.seconds)
        return Faces.empty()


def _street(n=60):
    return ReplaySource.from_video(DATA / "clips" / "street-1080p.mp4", size=(640, 360), max_frames=n).frames


def _assert_obscured(frames, backend, reports, which):
    for out, r in zip(backend.frames, reports):
        if which(r):
            assert r.obscured_all, r
            assert retained_detail(_source_frame(frames, r), out) < 0.05
            assert not np.array_equal(out, _source_frame(frames, r))


@needs_data
def test_raising_detector_fails_closed_on_every_frame():
    frames = _street(40)
    backend, reports, pipe = _run(frames, Settings(), make_detector=lambda: Raising(), seconds=2, loop=True)
    _assert_obscured(frames, backend, reports, lambda r: True)
    assert pipe.status.mode is live.Mode.FAILING_CLOSED
    assert pipe.status.reason.startswith("face detector failed: RuntimeError: CUDA error")


@needs_data
def test_detector_that_recovers_ends_failing_closed():
    frames = _street(60)
    backend, reports, pipe = _run(frames, Settings(), make_detector=lambda: Raising(fail_first=8), seconds=2.5,
                                  loop=True)
    first_ok = next(i for i, r in enumerate(reports) if not r.obscured_all)
    assert first_ok > 0
    _assert_obscured(frames, backend, reports, lambda r: reports.index(r) < first_ok)
    # once it works, only the replay's loop point (a scene change) may obscure frames again
    assert not any(r.obscured_all and not r.reason.startswith("scene change") for r in reports[first_ok:])
    assert pipe.status.mode is live.Mode.ANONYMIZING


@needs_data
def test_hanging_detector_fails_closed_after_the_stale_limit():
    frames = _street(60)
    det = Hanging(ok_calls=3)
    s = Settings(stale_ms=200)
    try:
        backend, reports, pipe = _run(frames, s, make_detector=lambda: det, seconds=2.5, loop=True)
    finally:
        det.release.set()
    assert any(not r.obscured_all for r in reports), "worked before it hung"
    last_ok = max(i for i, r in enumerate(reports) if not r.obscured_all)
    # after the last good frame, every frame is obscured, and that starts within the stale limit
    _assert_obscured(frames, backend, reports, lambda r: reports.index(r) > last_ok)
    stale_start = reports[last_ok + 1].capture_t
    hung_at = min(r.capture_t for r in reports if r.reason and "stalled" in r.reason)
    assert hung_at == stale_start
    assert len(reports) - last_ok > 20
    assert "stalled" in pipe.status.reason


@needs_data
def test_slow_detector_fails_closed_and_says_so():
    frames = _street(50)
    backend, reports, pipe = _run(frames, Settings(stale_ms=100), make_detector=lambda: Slow(0.3), seconds=2.5,
                                  loop=True)
    stale = [r for r in reports if r.reason and "stalled" in r.reason]
    assert len(stale) > len(reports) / 2
    _assert_obscured(frames, backend, reports, lambda r: r.reason is not None)
    # a frame is only shown anonymized while a detection at most stale_ms older than it exists
    det_times = sorted(pipe._det_times)
    shown = [r for r in reports if not r.obscured_all]
    for r in shown:
        newest = max((t for t in det_times if t <= r.capture_t), default=None)
        assert newest is not None and r.capture_t - newest <= 0.1 + 1e-6, "anonymized on a stale detection"


@needs_data
def test_model_that_fails_to_load_fails_closed():
    def broken():
        raise ModelError("model file not found: /nope.onnx")

    frames = _street(30)
    backend, reports, pipe = _run(frames, Settings(), make_detector=broken, warm=False, seconds=1.5, loop=True)
    _assert_obscured(frames, backend, reports, lambda r: True)
    assert pipe.status.reason == "face model failed to load: model file not found: /nope.onnx"


class Unplugging:
    """A camera that stops after ``n`` frames; reopening fails ``down`` times, then works."""

    def __init__(self, frames, n, down):
        self.frames, self.n, self.down = frames, n, down
        self.opens = 0

    def first(self):
        return ReplaySource(self.frames[: self.n], 25.0)

    def reopen(self):
        self.opens += 1
        if self.opens <= self.down:
            raise OSError("no such device")
        return ReplaySource(self.frames, 25.0)


@needs_data
def test_unplugged_camera_keeps_sending_obscured_frames_then_reconnects():
    frames = _street(40)
    cam = Unplugging(frames, n=15, down=2)
    s = Settings(stale_ms=200)
    backend, reports, pipe = _run(frames, s, seconds=6.0, make_detector=lambda: Slow(0.01),
                                  source=cam.first(), open_source=cam.reopen)
    # frames kept flowing to the virtual camera during the outage (no gap longer than ~stale + 1 frame)
    assert max(np.diff(backend.sent_t)) < 0.2 + 2 / 25 + 0.1
    assert cam.opens == 3
    lost = [i for i, r in enumerate(reports) if r.index < 0]
    assert len(lost) > 10, "obscured frames must be sent while the camera is gone"
    for i in lost:
        assert reports[i].obscured_all and reports[i].reason.startswith("camera lost")
        assert retained_detail(frames[14], backend.frames[i]) < 0.05
    back = [r for r in reports[lost[0]:] if r.index >= 0]
    assert sum(not r.obscured_all for r in back) > 10  # anonymizing again after reconnecting


@needs_data
def test_commands_privacy_pause_and_effect_apply_at_once():
    frames, track = _ytf("Aaron_Guiel5")
    s = Settings(effect=Effect.SOLID, color=(255, 0, 255))
    cmds = [(1.5, live.toggle("privacy_screen")), (1.0, live.toggle("privacy_screen")),
            (0.01, live.toggle("anonymize")), (1.0, live.toggle("anonymize"))]
    backend, reports, pipe = _run(frames, s, commands=cmds, seconds=1.5, loop=True)
    reasons = [r.reason for r in reports]
    assert "privacy screen" in reasons
    raw = [r for r, out in zip(reports, backend.frames) if np.array_equal(out, _source_frame(frames, r))]
    assert raw, "anonymize off must pass the camera through (explicit choice)"
    assert pipe.settings.anonymize and not pipe.settings.privacy_screen
    assert pipe.status.mode is live.Mode.ANONYMIZING
    # privacy frames are fully obscured
    for r, out in zip(reports, backend.frames):
        if r.reason == "privacy screen":
            assert retained_detail(_source_frame(frames, r), out) < 0.05


@needs_data
def test_camera_back_at_another_size_is_painted_where_the_faces_are():
    """Detection and painting share one pixel grid: a camera that comes back at twice the size is
    shown at the output's size, and its faces are covered there (before: boxes of the new size
    were painted on the resized frame, every face bare)."""
    frames, track = _ytf("Albert_Brooks0")
    big = [cv2.resize(f, (f.shape[1] * 2, f.shape[0] * 2)) for f in frames]

    class Resizing:
        opens = 0

        def first(self):
            return ReplaySource(frames[:30], 25.0)

        def reopen(self):
            self.opens += 1
            return ReplaySource(big, 25.0)

    cam = Resizing()
    s = Settings(effect=Effect.SOLID, color=(255, 0, 255))
    backend, reports, pipe = _run(frames, s, seconds=6.0, source=cam.first(), open_source=cam.reopen)
    assert cam.opens >= 1
    lost = next(i for i, r in enumerate(reports) if r.index < 0)
    after = [(out, r) for out, r in zip(backend.frames[lost:], reports[lost:]) if r.index >= 0]
    assert after and all(out.shape == frames[0].shape for out, _ in after), "the output keeps its size"
    shown = [(out, r) for out, r in after if not r.obscured_all]
    assert len(shown) > 40 or not _kept_up(pipe, reports), "anonymizing again after the camera came back"
    for out, r in shown:
        assert box_coverage(is_magenta(out, tol=0), track[r.index]["box"]) >= 0.7, f"frame {r.index}: face bare"


def _street_clip_live(s: Settings) -> tuple[int, int, int, live.Status, bool]:
    """The street clip at 720p, live for 10 s (played twice, with the loop's jump cut): (face-frames bare, face-frames,
    longest bare run, the pipeline's status, whether detection kept up)."""
    frames = ReplaySource.from_video(DATA / "clips" / "street-1080p.mp4", size=(1280, 720)).frames
    backend, reports, pipe = _run(frames, s, seconds=10.0, loop=True)
    kept_up = _kept_up(pipe, reports)
    assert len(reports) > 200 or not kept_up  # beside two busy threads: 177 frames, every one obscured
    misses, total, run, _, _ = bench.bare_faces(s, frames, reports)
    st = pipe.status
    print(f"street clip, live: {misses} of {total} face-frames bare, longest run {run} frames, "
          f"{sum(r.obscured_all for r in reports)} of {len(reports)} frames obscured; detection {st.detect_hz:.1f} "
          f"Hz at {st.detector_ms:.0f} ms, {st.detect_size} px")
    return misses, total, run, st, kept_up


@needs_data
def test_live_at_the_narrowest_width_held_boxes_keep_mispredicted_faces_covered():
    """Detection at 320 px (where a busy machine's load governor ends up): faces are found less precisely and
    less often, and the tracker's held boxes, growing with the filter's uncertainty, are what keeps them covered
    between detections. Measured here: 7-25 of ~1530 face-frames bare (4 runs), longest runs 3-8; with held boxes
    capped at 2x their track's largest recent detection (#38, now off by default) 74-76 of ~1520 (4.9%, where
    this bound allows 3.5%), runs of 12."""
    misses, total, run, st, kept_up = _street_clip_live(Settings(detect_size=320))
    assert total > 1000 or not kept_up  # a busy machine obscures whole frames instead (0 face-frames sent bare)
    gap_s = 1.0 / max(1.0, st.detect_hz) + st.detector_ms / 1000  # a slower machine: faces bare a little longer
    share = 0.02 * max(1.0, gap_s / (1 / 12 + 0.03))
    assert misses <= share * total, f"{misses} of {total} face-frames bare (allowed {share:.1%})"
    assert run <= max(8, round((Settings().stale_ms + st.detector_ms) / 1000 * 25)), run


@needs_data
def test_live_output_on_a_street_clip_leaves_no_face_bare_for_long():
    """The real detector, live, on the multi-face street clip (played twice, with the loop's jump
    cut): every face the detector finds with confidence in the frame itself (score >= 0.5, at
    least 20 px, full resolution) must be covered in the output frames sent for that frame; a
    miss (detection latency, a smaller live detector size) may last a few frames, never longer
    than a third of a second."""
    s = Settings()
    misses, total, run, st, kept_up = _street_clip_live(s)
    assert total > 1000 or not kept_up
    # Detection at the narrowest width (320 px, AUTO_SIZES[-1]) is this machine at its limit too: a CPU without
    # bf16 here chose it at start and ran 9.8-10.2 Hz at 30-34 ms, where 12-35 ms/640-768 px gave 8-14 bare;
    # there the small faces the 320 px pass misses stay bare a little longer and more often (17-44 of ~1580,
    # runs of 5-9 frames, the session's starting code alike), bounded as on a busy machine below.
    from livecam.live.worker import AUTO_SIZES

    narrowest = (st.detect_size or AUTO_SIZES[0]) <= AUTO_SIZES[-1]
    # 2% where detection keeps up (12 Hz, ~30 ms a detection). A face new to the picture is bare until a
    # detection of a frame it is in comes back: up to one interval plus the detection's own time, so where a
    # busy machine detects less often and more slowly the share follows that measured time (beside four busy
    # processes: 2.4-5.3 Hz, 1-5% bare; beside two, 7.9 Hz at 80 ms a detection: 3.4%, over the share that
    # followed the rate alone, 3.0%)
    gap_s = 1.0 / max(1.0, st.detect_hz) + st.detector_ms / 1000
    share = 0.02 * max(1.0, gap_s / (1 / 12 + 0.03))  # kept up or not: 10 Hz at 32 ms is 2.3%
    if narrowest:
        share *= 1.5
    assert misses <= share * total, f"{misses} of {total} face-frames bare (allowed {share:.1%})"
    # measured: 8-14 of ~1600 face-frames, runs of 4-6 frames (small faces the live detector size misses);
    # before motion-aware tracking: 35 of 1737, runs of 15 frames after the loop's jump cut. A run may
    # last about two detection intervals (the tracker holds a face between detections). On a busy machine
    # what bounds it at any speed is the stale limit: a frame leaves on boxes at most that old (then it is
    # obscured), and the face's own detection takes one more detection's time (beside two busy processes:
    # runs of 4, 5 and 9 frames at 10.2, 8.9 and 10.2 Hz; the 33-39 px faces the tile finds, off there)
    allowed = max(8, round(2 * 25 / max(1.0, st.detect_hz)))
    if not kept_up or narrowest:
        allowed = max(allowed, round((s.stale_ms + st.detector_ms) / 1000 * 25))
    assert run <= allowed, f"a face stayed bare for {run} frames (allowed {allowed} at this detection rate)"


@needs_data
def test_settings_sent_to_a_running_pipeline_apply_or_are_refused():
    """The tray could send threshold 0.9 to a running pipeline: it was published, but detection kept
    0.2. A threshold now reaches the detector and the tracker; what only applies at start is refused."""
    frames, _ = _ytf("Aaron_Guiel5")
    cmds = [(1.0, live.set_values(threshold=0.9)), (0.05, live.set_values(detect_size=320)),
            (0.05, live.set_values(effect=Effect.PIXELATE))]
    backend, reports, pipe = _run(frames, Settings(), commands=cmds, seconds=1.0, loop=True)
    assert pipe.settings.threshold == 0.9 and pipe.settings.effect is Effect.PIXELATE
    assert pipe.settings.detect_size is None, "detect_size only changes at start: refused"
    assert pipe._worker.policy.detector_threshold == pytest.approx(0.45)
    assert pipe._scene.tracker.params.start_score == 0.9
