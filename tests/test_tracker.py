"""Tracker lifecycle, frame by frame, without video (numpy only)."""

import numpy as np
import pytest

from livecam.faces import Faces
from livecam.tracker import FaceTracker, TrackerParams

DT = 1 / 30


def faces(*boxes, score=0.9):
    return Faces(np.array(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), score))


def area(xyxy):
    return float((xyxy[2] - xyxy[0]) * (xyxy[3] - xyxy[1]))


def test_birth_is_immediate_and_reports_the_detection():
    tr = FaceTracker()
    out = tr.update(faces([100, 100, 150, 160]), 0.0)
    assert out.track_id.tolist() == [1]
    assert out.xyxy.tolist() == [[100, 100, 150, 160]]
    assert [(t.track_id, t.hits) for t in tr.tracks] == [(1, 1)]


def test_hold_grow_then_die_exactly_at_hold_time():
    p = TrackerParams(hold_s=0.5)
    tr = FaceTracker(p)
    tr.update(faces([100, 100, 150, 150]), 0.0)
    prev = 50 * 50
    frames = 0
    for i in range(1, 100):
        t = i * DT
        out = tr.update(None, t)
        if t - 0.0 > p.hold_s + 1e-9:
            assert len(out) == 0 and tr.tracks == []
            break
        frames += 1
        assert out.track_id.tolist() == [1]
        a = area(out.xyxy[0])
        assert a > prev, "a held box must grow with its uncertainty"
        prev = a
        cx = (out.xyxy[0, 0] + out.xyxy[0, 2]) / 2
        assert cx == pytest.approx(125, abs=1e-3)  # no velocity known: stays centred
    assert frames == int(p.hold_s / DT + 1e-9)


def test_id_stable_through_missed_detections_and_velocity_predicted():
    tr = FaceTracker()
    x = 100.0
    for i in range(10):  # moving right at 3 px per frame
        out = tr.update(faces([x + 3 * i, 100, x + 3 * i + 50, 150]), i * DT)
    assert out.track_id.tolist() == [1]
    for i in range(10, 14):  # four missed detections
        out = tr.update(None, i * DT)
        cx = (out.xyxy[0, 0] + out.xyxy[0, 2]) / 2
        assert cx == pytest.approx(x + 3 * i + 25, abs=3.0)  # predicted position follows the motion
    out = tr.update(faces([x + 42, 100, x + 92, 150]), 14 * DT)
    assert out.track_id.tolist() == [1]
    assert tr.tracks[0].hits == 11


def test_two_faces_crossing_keep_their_ids():
    tr = FaceTracker()
    ids_a, ids_b = set(), set()
    for i in range(40):
        xa, xb = 100 + 10 * i, 500 - 10 * i  # they cross around i = 20
        out = tr.update(faces([xa, 100, xa + 60, 160], [xb, 130, xb + 60, 190]), i * DT)
        order = np.argsort(out.xyxy[:, 1])  # a is the upper one
        ids_a.add(int(out.track_id[order[0]]))
        ids_b.add(int(out.track_id[order[1]]))
    assert ids_a == {1} and ids_b == {2}


def test_new_face_gets_new_id_and_ids_never_reused_after_reset():
    tr = FaceTracker(TrackerParams(hold_s=0.1))
    tr.update(faces([0, 0, 10, 10]), 0.0)
    tr.update(faces([0, 0, 10, 10], [200, 200, 240, 240]), DT)
    assert sorted(t.track_id for t in tr.tracks) == [1, 2]
    tr.reset()
    out = tr.update(faces([0, 0, 10, 10]), 0.0)
    assert out.track_id.tolist() == [3]


def test_predict_does_not_change_state():
    tr = FaceTracker()
    tr.update(faces([100, 100, 150, 150]), 0.0)
    before = tr.predict(0.2).xyxy.copy()
    tr.predict(0.5)
    assert np.array_equal(tr.predict(0.2).xyxy, before)
    assert tr.time == 0.0
    assert len(tr.predict(5.0)) == 0  # past the hold time


def test_time_must_not_go_backwards():
    tr = FaceTracker()
    tr.update(faces([0, 0, 10, 10]), 1.0)
    with pytest.raises(ValueError, match="backwards"):
        tr.update(None, 0.5)


@pytest.mark.parametrize("kw, error", [
    ({"hold_s": -1}, "hold_s"),
    ({"iou_match": 0}, "iou_match"),
    ({"growth": -0.1}, "growth"),
])
def test_params_validated(kw, error):
    with pytest.raises(ValueError, match=error):
        TrackerParams(**kw)
