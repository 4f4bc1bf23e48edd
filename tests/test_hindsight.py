"""The look-ahead window, frame by frame, without video (numpy only), and the engine built on it."""

from __future__ import annotations

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
