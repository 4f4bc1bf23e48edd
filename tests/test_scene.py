"""SceneTracker: the detect -> stabilise -> track step shared by file mode, live and eval --live-hz.

Frames are crops of a synthetic textured picture (no video needed): moving the crop window is a
camera pan with an exactly known shift; another picture is a cut.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from livecam.faces import Faces
from livecam.live.gate import judge
from livecam.scene import KEEP_FRAMES, SceneTracker

W, H = 640, 360
FACE = (300.0, 150.0, 340.0, 200.0)  # where the face is on the first frame


def texture(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (H + 200, W + 400), np.uint8)
    img = cv2.GaussianBlur(noise, (0, 0), 3)
    img = cv2.normalize(img, np.zeros_like(img), 0, 255, cv2.NORM_MINMAX)
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)


def crop(picture: np.ndarray, x: int) -> np.ndarray:
    return np.ascontiguousarray(picture[100:100 + H, x:x + W])


def face_at(dx: float, score: float = 0.9) -> Faces:
    x1, y1, x2, y2 = FACE
    return Faces(np.array([[x1 + dx, y1, x2 + dx, y2]], np.float32), np.array([score], np.float32))


@pytest.fixture(scope="module")
def picture():
    return texture(1)


def test_a_face_held_between_detections_moves_with_the_camera(picture):
    """The camera pans 8 px a frame (the picture moves left); the face is detected on frame 0 only.
    Its held box follows the picture, where a tracker in frame coordinates would leave it behind."""
    sc = SceneTracker()
    for seq in range(10):
        assert not sc.see(seq, crop(picture, 200 + 8 * seq)), "a pan is not a cut"
        if seq == 0:
            assert sc.detected(0, face_at(0), 0.0)
        shown = sc.faces(seq, seq / 30)
        assert len(shown) == 1
        cx = float(shown.xyxy[0, [0, 2]].mean())
        assert cx == pytest.approx(320 - 8 * seq, abs=1.5), seq
        assert judge(sc, seq, seq / 30, stale_ms=500) is None


def test_a_late_detection_is_placed_by_the_offset_of_the_frame_it_ran_on(picture):
    sc = SceneTracker()
    for seq in range(6):
        sc.see(seq, crop(picture, 200 + 8 * seq))
    # the detector ran on frame 2 (face at 320 - 16 there); its result arrives at frame 5
    assert sc.detected(2, face_at(-16), 2 / 30)
    cx = float(sc.faces(5, 5 / 30).xyxy[0, [0, 2]].mean())
    assert cx == pytest.approx(320 - 40, abs=1.5)


def test_a_cut_drops_older_detections_and_the_scene_starts_afresh(picture):
    other = texture(2)
    sc = SceneTracker()
    sc.see(0, crop(picture, 200))
    sc.detected(0, face_at(0), 0.0)
    sc.see(1, crop(picture, 208))
    assert sc.see(2, crop(other, 200)), "another picture is a cut"
    assert sc.epoch == 2 and not sc.det_in_scene
    assert len(sc.faces(2, 2 / 30)) == 0, "nothing from the old scene is shown as a face of the new one"
    assert str(judge(sc, 2, 2 / 30, stale_ms=500)).startswith("scene change")
    assert not sc.detected(1, face_at(-8), 1 / 30), "a detection of the picture before the cut is dropped"
    assert sc.det_seq == 0
    assert sc.detected(2, face_at(50), 2 / 30)
    shown = sc.faces(2, 2 / 30)
    assert [t.track_id for t in sc.tracker.tracks] == [2], "the old track is gone, a new one started"
    assert shown.xyxy[0].tolist() == [350, 150, 390, 200]
    assert judge(sc, 2, 2 / 30, stale_ms=500) is None


def test_a_caller_can_start_a_new_scene(picture):
    """The live pipeline starts one when the camera comes back at another size."""
    sc = SceneTracker()
    sc.see(0, crop(picture, 200))
    sc.detected(0, face_at(0), 0.0)
    assert sc.see(1, crop(picture, 200), new_scene=True)
    assert not sc.det_in_scene and len(sc.faces(1, 1 / 30)) == 0


def test_detections_finishing_out_of_order_never_move_time_backwards(picture):
    sc = SceneTracker()
    for seq in range(4):
        sc.see(seq, crop(picture, 200))
    sc.detected(3, face_at(0), 3 / 30)
    assert sc.detected(1, face_at(0), 1 / 30)  # a slow pass on an older frame finishing later
    assert sc.det_t == pytest.approx(3 / 30) and sc.tracker.time == pytest.approx(3 / 30)


def test_a_detection_of_a_frame_no_longer_remembered_is_dropped(picture):
    sc = SceneTracker()
    frame = crop(picture, 200)
    for seq in range(KEEP_FRAMES + 1):
        sc.see(seq, frame)
    assert not sc.detected(0, face_at(0), 0.0)
    assert sc.detected(1, face_at(0), 1 / 30)


def test_the_gate_distrusts_a_stale_detection(picture):
    sc = SceneTracker()
    for seq in range(30):
        sc.see(seq, crop(picture, 200))
    sc.detected(0, face_at(0), 0.0)
    assert judge(sc, 10, 10 / 30, stale_ms=500) is None
    assert str(judge(sc, 29, 29 / 30, stale_ms=500)).startswith("face detection stalled")
    assert str(judge(sc, 29, 29 / 30, stale_ms=500, detector_error="boom")).startswith("face detector failed")
