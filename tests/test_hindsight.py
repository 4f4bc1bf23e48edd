"""The look-ahead window, frame by frame, without video (numpy only), and the engine built on it."""

from __future__ import annotations

import threading
import time
from typing import Callable, Container

import numpy as np
import pytest

from livecam.faces import Faces
from livecam.hindsight import Hindsight, HindsightParams
from livecam.tracker import FaceTracker, TrackerParams
from tests.helpers import FakeModel

FPS = 30.0


def face(x: float, y: float, size: float = 40.0, tid: int = 1, score: float = 0.9) -> Faces:
    return Faces(np.array([[x, y, x + size, y + size]], np.float32), np.array([score]), np.array([tid]))


def centre(f: Faces) -> np.ndarray:
    return (f.xyxy[:, :2] + f.xyxy[:, 2:]) / 2


def test_a_face_first_tracked_late_is_covered_back_to_its_first_frames():
    """Camera pans 8 px/frame (offset grows), the face stands still in the scene: first tracked at
    frame 10, it is covered in frames 0-9 where it was, following the camera."""
    win: Hindsight[int] = Hindsight(HindsightParams(grow_per_s=0.0))
    for i in range(20):
        offset = (8.0 * i, 0.0)
        boxes = face(300 - 8 * i, 100) if i >= 10 else Faces.empty()  # frame coords: moves left as camera pans
        win.add(i, i / FPS, i, offset, epoch=0, boxes=boxes)
    win.confirm(np.array([1]))
    for i in range(20):
        held, faces = win.pop()
        assert held.payload == i
        assert len(faces) == 1, f"frame {i}"
        np.testing.assert_allclose(centre(faces)[0], [320 - 8 * i, 120], atol=0.5)


def test_carried_back_along_the_tracks_own_velocity_and_grown():
    win: Hindsight[int] = Hindsight(HindsightParams(grow_per_s=0.5, max_grow=1.0))
    for i in range(12):
        boxes = face(100 + 3 * i, 50) if i >= 6 else Faces.empty()  # walks right 3 px/frame
        win.add(i, i / FPS, i, (0.0, 0.0), epoch=0, boxes=boxes)
    win.confirm(np.array([1]))
    _, faces = win.pop()  # frame 0: 6 frames (0.2 s) before the first box
    np.testing.assert_allclose(centre(faces)[0], [120 + 3 * 0, 70], atol=0.5)
    assert faces.width[0] == pytest.approx(40 + 2 * 40 * 0.5 * 0.2, abs=0.1)


def test_unconfirmed_tracks_are_not_covered_and_confirmed_ones_are_covered_where_they_were_tentative():
    win: Hindsight[int] = Hindsight()
    for i in range(6):
        win.add(i, i / FPS, i, (0.0, 0.0), epoch=0, boxes=Faces.concat([face(10, 10, tid=1), face(200, 10, tid=2)]))
    win.confirm(np.array([2]))
    for _ in range(6):
        _, faces = win.pop()
        assert faces.track_id.tolist() == [2]


def test_nothing_is_carried_back_across_a_cut():
    win: Hindsight[int] = Hindsight()
    for i in range(10):
        epoch = 0 if i < 5 else 5
        win.add(i, i / FPS, i, (0.0, 0.0), epoch, boxes=face(10, 10, tid=7) if i >= 5 else Faces.empty())
    win.confirm(np.array([7]))
    counts = [len(win.pop()[1]) for _ in range(10)]
    assert counts == [0] * 5 + [1] * 5


def test_a_track_carried_back_out_of_the_picture_covers_nothing_there():
    """A face entering from the right edge during a pan: carried back, it lies outside the frame."""
    from livecam import effects

    win: Hindsight[int] = Hindsight(HindsightParams(grow_per_s=0.0))
    for i in range(20):
        x = 640 + 40 - 8 * i  # frame coordinates: enters at the right edge at frame ~5
        win.add(i, i / FPS, i, (8.0 * i, 0.0), 0, boxes=face(x, 100) if i >= 12 else Faces.empty())
    win.confirm(np.array([1]))
    masks = [effects.coverage_mask((360, 640), win.pop()[1], effects.EffectParams(margin=0.0)) for _ in range(20)]
    assert masks[0].sum() == 0  # the face is still outside the picture
    assert masks[8].sum() > 0  # it is in, before its first box (frame 12)


def test_tracker_confirms_a_low_score_face_after_several_consistent_detections():
    tr = FaceTracker(TrackerParams(start_score=0.5, confirm_hits=3))
    low = face(100, 100, score=0.2)
    seen = []
    for i in range(4):
        seen.append(len(tr.update(low, i / FPS)))
        assert len(tr.predict(i / FPS, tentative=True)) == 1
    assert seen == [0, 0, 1, 1]
    assert tr.confirmed_ids.tolist() == [1]


def test_tracker_without_confirm_hits_starts_no_track_below_the_threshold():
    tr = FaceTracker(TrackerParams(start_score=0.5))
    for i in range(5):
        assert len(tr.update(face(100, 100, score=0.2), i / FPS)) == 0
    assert len(tr.predict(5 / FPS, tentative=True)) == 0


def _gap_run(params: HindsightParams) -> list[Faces]:
    """A face walking right 3 px a frame, detected in frames 0-4 and 15-19 only (a gap of 10 frames,
    1/3 s): the real tracker's boxes, through the window, for every frame."""
    tr = FaceTracker(TrackerParams(start_score=0.5))
    win: Hindsight[int] = Hindsight(params)
    out = []
    for i in range(20):
        t = i / FPS
        tr.update(face(100 + 3 * i, 50) if i < 5 or i >= 15 else Faces.empty(), t)
        win.add(i, t, i, (0.0, 0.0), 0, tr.predict(t, tentative=True), tr.detected_ids)
        win.confirm(tr.confirmed_ids)
    while len(win):
        out.append(win.pop()[1])
    return out


def test_frames_between_two_detections_are_covered_on_the_line_between_them():
    """In the gap, each box follows the face (on the line between the detections before and after it),
    grown only for the acceleration it could have had, instead of the tracker's prediction from the
    past, which grows with every frame without a detection."""
    bridged, predicted = _gap_run(HindsightParams(bridge=True)), _gap_run(HindsightParams())
    for i in range(5, 15):
        true = face(100 + 3 * i, 50).xyxy[0]
        box = bridged[i].xyxy[0]
        assert (box[:2] <= true[:2] + 0.5).all() and (box[2:] >= true[2:] - 0.5).all(), f"frame {i}: {box} misses {true}"
        np.testing.assert_allclose(centre(bridged[i])[0], [120 + 3 * i, 70], atol=0.5)
        assert bridged[i].width[0] <= 40 + 2 * 40 * 3.0 * (5.5 / FPS) ** 2 / 2 + 0.1  # accel 3 face sizes/s^2, mid-gap (4-15)
    assert predicted[14].width[0] > 1.5 * bridged[14].width[0]  # the control: the prediction had grown
    for i in (*range(5), *range(15, 20)):  # frames with a detection: the detection itself
        np.testing.assert_allclose(bridged[i].xyxy[0], face(100 + 3 * i, 50).xyxy[0], atol=1e-3)


def test_a_face_lost_for_good_keeps_its_growing_box_and_no_bridge_crosses_a_cut():
    """After a track's last detection nothing is known ahead: the tracker's prediction stays (it grows);
    a detection in another scene bridges nothing."""
    tr = FaceTracker(TrackerParams(start_score=0.5))
    win: Hindsight[int] = Hindsight(HindsightParams(bridge=True))
    for i in range(12):
        t = i / FPS
        tr.update(face(100, 50) if i < 3 else Faces.empty(), t)
        boxes = tr.predict(t, tentative=True)
        win.add(i, t, i, (0.0, 0.0), 0 if i < 8 else 8, boxes, tr.detected_ids)
        if i == 10:  # a detection of the same id in the next scene (ids are never reused; the guard holds anyway)
            win.set_boxes(list(win)[-1], face(300, 50), np.array([1]))
        win.confirm(tr.confirmed_ids)
    widths = [float(f.width[0]) if len(f) else 0.0 for f in (win.pop()[1] for _ in range(12))]
    assert widths[2] == pytest.approx(40.0, abs=1e-3)
    assert widths[7] > widths[4] > 1.3 * 40.0  # lost: the box grows with the time since the last detection


class GappyDetector(FakeModel):
    """Finds the walking 'face' of ``_walking_frames`` (its box in frame ``i``: ``box(i)``) in every frame
    but ``missed``."""

    def __init__(self, missed: Container[int], box: Callable[[int], tuple[int, int, int, int]] | None = None):
        super().__init__()
        self.missed, self.box = missed, box or _walking_box

    def find(self, frame: np.ndarray) -> Faces:
        i = int(frame[0, 0, 0])
        if i in self.missed:
            return Faces.empty()
        return Faces(np.array([self.box(i)], np.float32), np.array([0.9]))


def _walking_box(i: int) -> tuple[int, int, int, int]:
    return (60 + 4 * i, 60, 100 + 4 * i, 100)


def _walking_frames(n: int = 40, box: Callable[[int], tuple[int, int, int, int]] | None = None,
                    size: tuple[int, int] = (180, 320), seed: int = 1) -> list[np.ndarray]:
    """A still, textured scene with a bright 40x40 'face' at ``box(i)`` in frame ``i`` (default: walking right 4
    px a frame, ``_walking_box``; the index in pixel (0, 0))."""
    import cv2

    rng = np.random.default_rng(seed)
    bg = cv2.GaussianBlur((rng.random((*size, 3)) * 255).astype(np.uint8), (7, 7), 0)
    frames = []
    for i in range(n):
        f = bg.copy()
        x1, y1, x2, y2 = (box or _walking_box)(i)
        f[y1:y2, x1:x2] = 230
        f[0, 0] = i
        frames.append(f)
    return frames


@pytest.mark.parametrize("bridge", [False, True])
def test_file_mode_covers_a_face_the_detector_misses_between_two_detections(bridge):
    """Files (look-ahead 1 s): the detector misses the walking face in frames 8-19. It is covered in every
    frame either way; with ``--bridge-gaps`` the gap frames mask far less around it (the box follows
    the line between the detections instead of growing)."""
    from livecam.effects import Effect
    from livecam.engine import make_anonymizer
    from livecam.settings import Settings
    from tests.conftest import box_coverage, is_magenta

    s = Settings(effect=Effect.SOLID, color=(255, 0, 255), lookahead_s=1.0, bridge_gaps=bridge)
    engine = make_anonymizer(s, detector=GappyDetector(range(8, 20)))
    frames = _walking_frames()
    out = [o for i, f in enumerate(frames) for o, _ in engine.push(f, i / FPS)] + [o for o, _ in engine.flush()]
    assert len(out) == len(frames)
    masked = []
    for i, o in enumerate(out):
        magenta = is_magenta(o, tol=0)
        assert box_coverage(magenta, _walking_box(i)) >= 0.9, f"frame {i}"
        masked.append(int(magenta.sum()))
    gap = max(masked[8:20])
    if bridge:
        assert gap <= 1.5 * masked[5], (gap, masked[5])  # about one face's mask (margin and growth included)
    else:
        assert gap >= 3 * masked[5], (gap, masked[5])  # the control: the predicted box grew


def _fast_box(i: int, speed: int = 14) -> tuple[int, int, int, int]:
    return (10 + speed * i, 60, 50 + speed * i, 100)


@pytest.mark.parametrize("every,first,speed", [(6, 5, 14), (5, 2, 14), (6, 0, 20)])
def test_a_fast_face_a_slow_detector_finds_far_apart_is_covered_in_every_frame(every, first, speed):
    """A 40 px face walking 14 or 20 px a frame (10-15 face widths a second, a passer-by close to the
    camera), found in one frame of every 5-6, as beside two busy processes: its detections lie 1.7-3 face
    widths apart, too far for the tracker's boxes to overlap them, so each can start a new track with no
    velocity of its own. Before, the frames before the first detection were bare (frames 0-4, and 0-1):
    the first box was carried back standing still; at 20 px a frame, 2 frames of every 6 between
    detections too. Now a track detected once is carried back along the line to the next track's first
    detection, and the frames between one track's last detection and the next one's first are covered on
    that line too (without that line: frames 34-35 bare at 20 px)."""
    from livecam.effects import Effect
    from livecam.engine import make_anonymizer
    from livecam.settings import Settings
    from tests.conftest import box_coverage, is_magenta

    frames = _walking_frames(40, lambda i: _fast_box(i, speed), size=(160, 880), seed=2)
    missed = {i for i in range(len(frames)) if i < first or (i - first) % every}  # ~5x slower than the camera
    s = Settings(effect=Effect.SOLID, color=(255, 0, 255), lookahead_s=0.5)
    engine = make_anonymizer(s, detector=GappyDetector(missed, lambda i: _fast_box(i, speed)))
    out = [o for i, f in enumerate(frames) for o, _ in engine.push(f, i / 30.0)] + [o for o, _ in engine.flush()]
    assert len(out) == len(frames)
    last = (len(frames) - 1 - first) // every * every + first  # after the last detection nothing is known ahead
    bare = [i for i, o in enumerate(out[:last + 1]) if box_coverage(is_magenta(o, tol=0), _fast_box(i, speed)) < 0.9]
    assert not bare, f"face bare in frames {bare}"


# -- live: the delay window in the real pipeline (replayed synthetic frames, real pyvirtualcam.Camera) ------

def _late_face_frames(n: int = 60, appears: int = 10) -> list[np.ndarray]:
    """A still, textured scene; a bright 'face' (40x40) appears at frame ``appears``. Each frame's
    index is written in its top-left pixel so a scripted detector knows which frame it sees."""
    import cv2

    rng = np.random.default_rng(0)
    bg = cv2.GaussianBlur((rng.random((180, 320, 3)) * 255).astype(np.uint8), (7, 7), 0)
    frames = []
    for i in range(n):
        f = bg.copy()
        if i >= appears:
            f[60:100, 140:180] = 230
        f[0, 0] = i
        frames.append(f)
    return frames


class LateDetector(FakeModel):
    """Finds the face only from frame ``found`` on (a face entering at a low score, say)."""

    def __init__(self, found: int):
        super().__init__()
        self.found = found

    def find(self, frame: np.ndarray) -> Faces:
        if int(frame[0, 0, 0]) >= self.found:
            return Faces(np.array([[140, 60, 180, 100]], np.float32), np.array([0.9]))
        return Faces.empty()


@pytest.mark.parametrize("delay, covered_early", [(1.0, True), (0.0, False)])
def test_live_delay_covers_a_face_from_the_first_frame_it_is_in(delay, covered_early):
    """Live with ``--delay 1``: the face found at frame 20 is covered in frames 10-19 too (carried
    back); without a delay those frames went out bare (today's behaviour, the control)."""
    from livecam.effects import Effect
    from livecam.settings import Settings
    from tests.conftest import box_coverage, is_magenta
    from tests.test_live import _run

    frames = _late_face_frames()
    s = Settings(effect=Effect.SOLID, color=(255, 0, 255), delay_s=delay, detect_hz=25.0)
    backend, reports, _ = _run(frames, s, make_detector=lambda: LateDetector(20), seconds=len(frames) / 25 + delay + 1)
    early = [(out, r) for out, r in zip(backend.frames, reports) if 10 <= r.index < 20 and not r.obscured_all]
    assert early, "frames before the first detection were sent (not all obscured)"
    cover = [box_coverage(is_magenta(out, tol=0), (140, 60, 180, 100)) for out, _ in early]
    if covered_early:
        assert min(cover) >= 0.7, cover
    else:
        assert max(cover) < 0.7, cover
    later = [(out, r) for out, r in zip(backend.frames, reports) if r.index >= 24 and not r.obscured_all]
    assert later and all(box_coverage(is_magenta(out, tol=0), (140, 60, 180, 100)) >= 0.7 for out, _ in later)


def test_frames_waiting_in_the_window_are_sent_when_livecam_stops():
    """Stopping with a 1 s delay: the frames still waiting are sent (a recording keeps its last second),
    each judged and covered like any other."""
    from livecam.effects import Effect
    from livecam.settings import Settings
    from tests.conftest import box_coverage, is_magenta
    from tests.test_live import _run

    frames = _late_face_frames(n=40, appears=0)
    s = Settings(effect=Effect.SOLID, color=(255, 0, 255), delay_s=1.0, detect_hz=25.0)
    backend, reports, _ = _run(frames, s, make_detector=lambda: LateDetector(0), seconds=len(frames) / 25 + 0.2)
    assert max(r.index for r in reports) == len(frames) - 1, "the last frames were sent, not dropped"
    for out, r in zip(backend.frames, reports):
        assert r.obscured_all or box_coverage(is_magenta(out, tol=0), (140, 60, 180, 100)) >= 0.7


def test_live_delay_with_bridge_gaps_covers_a_missed_face_on_the_line_between_its_detections():
    """Live, ``--delay 1 --bridge-gaps``: the walking face the detector misses in frames 8-19 is covered in
    every frame sent, and the frames of the gap mask about one face, not a box grown for 12 frames."""
    from livecam.effects import Effect
    from livecam.settings import Settings
    from tests.conftest import box_coverage, is_magenta
    from tests.test_live import _run

    frames = _walking_frames()
    s = Settings(effect=Effect.SOLID, color=(255, 0, 255), delay_s=1.0, detect_hz=25.0, bridge_gaps=True)
    backend, reports, _ = _run(frames, s, make_detector=lambda: GappyDetector(range(8, 20)),
                               seconds=len(frames) / 25 + 2)
    sent = {r.index: out for out, r in zip(backend.frames, reports) if r.index >= 0 and not r.obscured_all}
    for i, out in sent.items():
        assert box_coverage(is_magenta(out, tol=0), _walking_box(i)) >= 0.9, f"frame {i}"
    detected = [int(is_magenta(sent[i], tol=0).sum()) for i in (4, 5, 6, 24, 25) if i in sent]
    gap = [int(is_magenta(sent[i], tol=0).sum()) for i in range(10, 18) if i in sent]
    assert detected and gap, "frames before, in and after the gap were sent"
    assert max(gap) <= 1.5 * max(detected), (gap, detected)


@pytest.mark.parametrize("delay", [1.0, 0.0])
def test_with_a_delay_a_pipeline_briefly_late_sends_every_frame(delay, monkeypatch):
    """The output stalls for 2 frame times every 10th frame (the pipeline thread descheduled beside an
    encoder; 10 fps, so a slow test machine has a frame's time of margin): with a delay, the frames
    captured meanwhile wait for it and every frame is sent, each covered; without one, the newest frame
    wins and the ones in between are dropped (the control)."""
    from livecam.harness import replay
    from livecam.effects import Effect
    from livecam.settings import Settings
    from tests.conftest import box_coverage, is_magenta
    from tests.test_live import _run

    send = replay.RecordingBackend.send
    calls = [0]

    def stalling(self, frame):
        calls[0] += 1
        if calls[0] % 10 == 0:
            time.sleep(2 / 10)
        send(self, frame)

    monkeypatch.setattr(replay.RecordingBackend, "send", stalling)
    frames = _late_face_frames(n=60, appears=0)
    s = Settings(effect=Effect.SOLID, color=(255, 0, 255), delay_s=delay, detect_hz=25.0)
    backend, reports, _ = _run(frames, s, make_detector=lambda: LateDetector(0), fps=10.0,
                               seconds=len(frames) / 10 + delay + 1)
    sent = sorted({r.index for r in reports if r.index >= 0})
    missing = set(range(sent[0], len(frames))) - set(sent)
    if delay:
        assert not missing, f"frames dropped: {sorted(missing)}"
    else:
        assert len(missing) >= 5, "the control: without a delay, the newest frame wins"
    for out, r in zip(backend.frames, reports):
        assert r.obscured_all or box_coverage(is_magenta(out, tol=0), (140, 60, 180, 100)) >= 0.7


class HeldUpDetector(LateDetector):
    """Finds the face from frame ``found`` on, but a detection of such a frame waits for ``go``: livecam
    is stopped while the face's first detection is still running."""

    def __init__(self, found: int):
        super().__init__(found)
        self.go = threading.Event()

    def find(self, frame: np.ndarray) -> Faces:
        if int(frame[0, 0, 0]) >= self.found:
            self.go.wait(10)
        return super().find(frame)


def test_stopping_with_a_delay_waits_for_the_newest_frames_detection_before_the_last_frames_leave():
    """A face comes in during the last half second before livecam stops (--delay 1): the frames still
    waiting leave only once the newest is detected, so the face is covered in each of them. Before,
    they left at once, with the face bare."""
    from livecam.harness import replay
    from livecam.effects import Effect
    from livecam.settings import Settings
    from livecam.inputs.replay import ReplaySource
    from tests.conftest import box_coverage, is_magenta

    frames = _late_face_frames(n=40, appears=30)
    det = HeldUpDetector(30)
    s = Settings(effect=Effect.SOLID, color=(255, 0, 255), delay_s=1.0, detect_hz=25.0, stale_ms=2000)
    replay.RecordingBackend.instances.clear()
    src = ReplaySource(frames, 25.0)
    reports: list = []
    pipe = replay.replay_pipeline(s, src, reports.append, make_detector=lambda: det)
    backend = replay.RecordingBackend.instances[-1]
    backend.keep = True
    pipe.start()
    deadline = time.monotonic() + 30
    while src.index < len(frames) - 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    pipe.stop()
    threading.Timer(0.2, det.go.set).start()  # the held-up detection ends after the stop was asked
    assert pipe.wait(20) and pipe.error is None
    late = [(out, r) for out, r in zip(backend.frames, reports) if r.index >= 30]
    assert len(late) >= 5 and any(not r.obscured_all for _, r in late), "the last frames were sent, anonymized"
    for out, r in late:
        assert r.obscured_all or box_coverage(is_magenta(out, tol=0), (140, 60, 180, 100)) >= 0.7, f"frame {r.index}"


def test_a_frame_long_after_the_one_before_starts_a_new_scene():
    """The pipeline (or the camera) starved for 0.35 s (under the 0.4 s stale limit): the face walked two
    face widths meanwhile, further than its box from before may grow. The frames after the gap are a new
    scene: obscured until it is detected, then covered where the face is now. Before, they went out with
    the old box and the face bare beside it."""
    import cv2

    from livecam.harness import replay
    from livecam.effects import Effect
    from livecam.settings import Settings
    from livecam.inputs.replay import ReplaySource
    from tests.conftest import box_coverage, is_magenta

    rng = np.random.default_rng(2)
    bg = cv2.GaussianBlur((rng.random((180, 320, 3)) * 255).astype(np.uint8), (7, 7), 0)
    before, after = (100, 60, 140, 100), (180, 60, 220, 100)
    frames = []
    for i in range(60):
        f = bg.copy()
        x1, y1, x2, y2 = before if i < 30 else after
        f[y1:y2, x1:x2] = 230
        f[0, 0] = i
        frames.append(f)

    class Slow(FakeModel):
        def find(self, frame: np.ndarray) -> Faces:
            i = int(frame[0, 0, 0])
            if i >= 30:
                time.sleep(0.15)  # the first detections after the gap take a while
            return Faces(np.array([before if i < 30 else after], np.float32), np.array([0.9]))

    class Gappy(ReplaySource):
        def read(self):
            if self.index + 1 == 30:
                time.sleep(0.35)
            return super().read()

    s = Settings(effect=Effect.SOLID, color=(255, 0, 255), detect_hz=25.0)
    replay.RecordingBackend.instances.clear()
    src = Gappy(frames, 25.0)
    reports: list = []
    pipe = replay.replay_pipeline(s, src, reports.append, make_detector=Slow)
    backend = replay.RecordingBackend.instances[-1]
    backend.keep = True
    pipe.start()
    pipe.wait(len(frames) / 25 + 2)
    pipe.stop()
    assert pipe.wait(20) and pipe.error is None
    late = [(out, r) for out, r in zip(backend.frames, reports) if r.index >= 30]
    assert late and any(not r.obscured_all for _, r in late), "frames after the gap were sent, anonymized"
    for out, r in late:
        assert r.obscured_all or box_coverage(is_magenta(out, tol=0), after) >= 0.7, f"frame {r.index}"


class StallingDetector(LateDetector):
    """Finds the face from frame ``found`` on; its first detection of a frame from ``stall`` on takes
    ``seconds`` (the detector starved beside other work)."""

    def __init__(self, found: int, stall: int, seconds: float):
        super().__init__(found)
        self.stall, self.seconds, self.stalled = stall, seconds, False

    def find(self, frame: np.ndarray) -> Faces:
        if int(frame[0, 0, 0]) >= self.stall and not self.stalled:
            self.stalled = True
            time.sleep(self.seconds)
        return super().find(frame)


@pytest.mark.parametrize("delay", [0.5, 1.0])
def test_with_a_delay_a_frame_no_later_detection_reached_in_time_is_not_trusted_on_an_old_one(delay):
    """A face walks in (frame 30) while the detector is stalled for 1.5 s (from frame 26, beside two busy
    processes at start-up): the frames after the last detection go out before any detection of them or of a
    later frame arrives. Before, those within the stale limit (0.4 s) went out on the old boxes with the
    face bare (frames 30-35); now a frame judged only by an earlier detection is trusted for
    ``blind_limit_ms`` (0.1 s) at these delays: obscured, or covered once later detections arrive."""
    from livecam.effects import Effect
    from livecam.settings import Settings
    from tests.conftest import box_coverage, is_magenta
    from tests.test_live import _run

    frames = _late_face_frames(n=100, appears=30)
    s = Settings(effect=Effect.SOLID, color=(255, 0, 255), delay_s=delay, detect_hz=25.0)
    backend, reports, _ = _run(frames, s, make_detector=lambda: StallingDetector(30, 26, 1.5),
                               seconds=len(frames) / 25 + delay + 1)
    late = [(out, r) for out, r in zip(backend.frames, reports) if r.index >= 30]
    assert any(not r.obscured_all for _, r in late), "frames with the face were sent, anonymized"
    for out, r in late:
        assert r.obscured_all or box_coverage(is_magenta(out, tol=0), (140, 60, 180, 100)) >= 0.7, f"frame {r.index}"
