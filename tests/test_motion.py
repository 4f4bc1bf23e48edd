"""Camera motion and the motion-aware scene gate, on real photos and clips."""

from __future__ import annotations

import numpy as np
import pytest

from livecam import motion
from livecam.harness.paneval import build_pan_clip
from livecam.inputs.replay import ReplaySource
from tests.conftest import DATA, needs_data


@pytest.fixture(scope="module")
def pan():
    return build_pan_clip(DATA / "wider-val-dev", size=(640, 360), speed=8, images=2)


@needs_data
def test_a_pan_is_followed_and_a_cut_between_photos_is_seen(pan):
    m = motion.CameraMotion()
    cuts, offsets = [], []
    for i in range(len(pan)):
        if m.step(pan[i]):
            cuts.append(i)
        offsets.append(m.offset)
    first_photo = sum(1 for k, *_ in pan.spans if k == 0)
    assert cuts == [first_photo], "exactly one cut: where the second photo starts"
    steps = np.diff(np.array(offsets[:first_photo])[:, 0])
    assert np.abs(steps + 8).max() < 0.6, "the picture moves 8 px left per frame"
    assert abs(offsets[first_photo - 1][1]) < 3


@needs_data
def test_people_walking_in_front_of_a_still_camera_are_not_camera_motion():
    frames = ReplaySource.from_video(DATA / "clips" / "street-1080p.mp4", size=(640, 360)).frames
    m = motion.CameraMotion()
    assert not any(m.step(frames[i]) for i in range(len(frames)))
    assert np.hypot(*m.offset) < 2.0
    for gap in (4, 8, 12):  # a busy machine skips frames: the street 12 frames later is still one scene
        m = motion.CameraMotion()
        m.step(frames[0])
        assert not m.step(frames[gap]), gap


@needs_data
def test_a_loop_back_to_the_start_is_a_cut_not_a_shift():
    """Phase correlation 'explains' a jump cut with a small shift that halves nothing: it must not
    move every tracked face by that shift (seen at a replay's loop point)."""
    frames = ReplaySource.from_video(DATA / "clips" / "street-1080p.mp4", size=(640, 360)).frames
    m = motion.CameraMotion()
    m.step(frames[-1])
    assert m.step(frames[0]) and m.offset == (0.0, 0.0)


@needs_data
def test_compensated_change_tells_a_pan_from_a_cut_and_inputs_stay_untouched(pan):
    a, b = motion.thumbnail(pan[0]), motion.thumbnail(pan[6])  # 48 px of pan: 12 thumbnail px
    a0, b0 = a.copy(), b.copy()
    found = motion.shift(a, b)
    assert found is not None
    dx, dy = found
    assert np.array_equal(a, a0) and np.array_equal(b, b0), "OpenCV windows its inputs in place: pass copies"
    assert dx == pytest.approx(-12, abs=0.5) and abs(dy) < 0.5
    assert motion.change(a, b) > motion.SCENE_CHANGE * 0.3
    assert motion.change(a, b, dx, dy) < 5
    other = motion.thumbnail(pan[len(pan) - 1])
    assert motion.change(a, other, *(motion.shift(a, other) or (0, 0))) > motion.SCENE_CHANGE
    assert motion.change(a, motion.thumbnail(pan[0][:, :600])) == float("inf"), "another size: a new scene"
