"""The pure rules as tables, each row a case (#36): the fail-closed gate, the detection policy and its passes,
the tiling, and the split of a long video into parts. No model, no video: numpy only."""

from __future__ import annotations

import math

import numpy as np
import pytest

from livecam.detectors import passes
from livecam.faces import Faces
from livecam.live.gate import BLIND_MS, Evidence, blind_limit_ms, distrust
from livecam.media import split
from livecam.policy import CONFIRM_HITS, DetectionPolicy

FLAT = ((0.0, 0.0), np.full((90, 160), 128, np.float32))  # a view: (camera offset, thumbnail)
OTHER = ((0.0, 0.0), np.tile(np.linspace(0, 255, 160, dtype=np.float32), (90, 1)))  # another picture


@pytest.mark.parametrize("evidence, t, now, expected", [
    (Evidence(load_error="no such file"), 1.0, FLAT, "face model failed to load: no such file"),
    (Evidence(detector_error="CUDA OOM", last_ok_t=0.99, det_view=FLAT), 1.0, FLAT, "face detector failed: CUDA OOM"),
    (Evidence(model_ready=False), 1.0, FLAT, "starting: loading the face model"),
    (Evidence(), 1.0, FLAT, "starting: first detection"),
    (Evidence(last_ok_t=0.5, det_view=FLAT), 1.0, FLAT, "face detection stalled: newest result is 500 ms old"),
    (Evidence(last_ok_t=1.3, det_view=FLAT), 1.0, FLAT, None),  # a later detection (a delay): trusted
    (Evidence(last_ok_t=0.9, det_view=None), 1.0, FLAT, "scene change: waiting for a detection of the new picture"),
    (Evidence(last_ok_t=0.9, det_view=FLAT, det_in_scene=False), 1.0, FLAT, "scene change: waiting"),
    (Evidence(last_ok_t=0.9, det_view=FLAT), 1.0, OTHER, "scene change: waiting for a detection (change"),
    (Evidence(last_ok_t=0.9, det_view=FLAT), 1.0, FLAT, None),
])
def test_the_fail_closed_gate(evidence, t, now, expected):
    why = distrust(evidence, t, now, scale=8.0, stale_ms=400)
    assert why == expected if expected is None else why is not None and why.startswith(expected), why


@pytest.mark.parametrize("age_ms, before_only, delay_s, trusted", [
    (150, False, 0.5, True),   # a detection of this frame or a later one: the stale limit
    (150, True, 0.5, False),   # only an earlier one, with a delay: stale - delay = 100 ms at most ...
    (90, True, 0.5, True),
    (150, True, 0.0, True),    # ... without a delay, the stale limit
    (250, True, 0.1, True),    # stale - delay = 300 ms
    (350, True, 0.1, False),
])
def test_a_frame_judged_only_by_an_earlier_detection(age_ms, before_only, delay_s, trusted):
    ev = Evidence(last_ok_t=1.0 - age_ms / 1000, det_view=FLAT, before_only=before_only)
    why = distrust(ev, 1.0, FLAT, 8.0, 400, blind_limit_ms(400, delay_s))
    assert (why is None) == trusted, why


@pytest.mark.parametrize("stale_ms, delay_s, limit", [
    (400, 0.0, 400), (400, 0.25, 150), (400, 0.5, BLIND_MS), (400, 2.0, BLIND_MS), (1000, 0.5, 500), (80, 0.5, 80)])
def test_the_blind_limit(stale_ms, delay_s, limit):
    assert blind_limit_ms(stale_ms, delay_s) == limit


class Calls:
    """A detector that records the width and input size of every call and finds nothing."""

    input_size = None
    on_gpu = False

    def __init__(self) -> None:
        self.calls: list[tuple[int | None, tuple[int, int]]] = []

    def detect(self, frame_bgr, width, threshold):
        self.calls.append((width, frame_bgr.shape[:2]))
        return Faces.empty()


FRAME = np.zeros((720, 1280, 3), np.uint8)


@pytest.mark.parametrize("threshold, detector_threshold", [(0.2, 0.1), (0.5, 0.25), (0.01, 0.01), (0.02, 0.01)])
def test_the_threshold_split(threshold, detector_threshold):
    p = DetectionPolicy(threshold, small_faces_s=0.5)
    assert p.detector_threshold == pytest.approx(detector_threshold)
    params = p.tracker_params()
    assert params.start_score == threshold and params.confirm_hits == CONFIRM_HITS


@pytest.mark.parametrize("call, small_faces_s, calls", [
    (lambda p, d: p.video(d, FRAME, thorough=False), 0.5, 1),   # the fast pass
    (lambda p, d: p.video(d, FRAME, thorough=True), 0.0, 1),    # small faces off: never more
    (lambda p, d: p.video(d, FRAME, thorough=True), 0.5, 2 + len(passes.tile_windows(1280, 720, 1.5, passes.TILE))),
    (lambda p, d: p.live(d, FRAME, tile=None), 0.5, 1),
    (lambda p, d: p.live(d, FRAME, tile=3), 0.5, 2),            # the fast pass and one tile
    (lambda p, d: p.live(d, FRAME, tile=3), 0.0, 1),
    (lambda p, d: p.photo(d, FRAME), 0.5, 2 + len(passes.tile_windows(1280, 720, 1.5, passes.TILE))),
])
def test_which_passes_a_detection_runs(call, small_faces_s, calls):
    det = Calls()
    call(DetectionPolicy(0.2, small_faces_s, width=640), det)
    assert len(det.calls) == calls
    assert det.calls[0] == (640, (720, 1280))  # the fast pass first, at the policy's width


@pytest.mark.parametrize("w, h, scale, tile, windows", [
    (1280, 720, 1.0, (1024, 576), 4),
    (1280, 720, 1.5, (1024, 576), 4),  # 1920x1080 in 1024x576 tiles
    (1024, 576, 1.0, (1024, 576), 1),
    (640, 360, 2.0, (768, 432), 4),
    (1920, 1080, 1.0, (768, 432), 9),
])
def test_tiles_cover_the_frame_with_overlap(w, h, scale, tile, windows):
    wins = passes.tile_windows(w, h, scale, tile)
    assert len(wins) == windows
    W, H = round(w * scale), round(h * scale)
    seen = np.zeros((H, W), bool)
    for x1, y1, x2, y2 in wins:
        assert x2 - x1 <= tile[0] and y2 - y1 <= tile[1]
        seen[y1:y2, x1:x2] = True
    assert seen.all()


@pytest.mark.parametrize("duration, part_s, starts", [
    (10.0, 60.0, [0.0]),             # shorter than two parts: one
    (119.0, 60.0, [0.0]),
    (120.0, 60.0, [0.0, 60.0]),
    (200.0, 60.0, [0.0, 200 / 3, 400 / 3]),
    (30.0, 0.0, [0.0]),              # --chunk 0: never split
])
def test_a_long_video_splits_into_equal_parts_that_cover_every_frame(duration, part_s, starts):
    spans = split(duration, part_s, warm=2.0, tail=1.0)
    assert [s.start for s in spans] == pytest.approx(starts)
    assert spans[-1].end == math.inf and spans[0].warm == 0.0 and spans[-1].tail == 0.0
    for t in np.linspace(0, duration + 5, 997):  # every frame is written by exactly one part
        assert sum(s.writes(float(t)) for s in spans) == 1
    for a, b in zip(spans, spans[1:]):  # each part sees its neighbours' edges, for the tracker and the look-ahead
        assert a.end == b.start and b.sees(b.start - 2.0) and a.sees(a.end + 0.99) and not b.writes(b.start - 0.01)
