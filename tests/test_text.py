"""--cover plates/text (#39): the record, the plate rule, the effect, the timeline, PP-OCR on real and
generated plates, and `livecam anonymize --cover` end to end (pixels of the plate, in every frame)."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from livecam import effects
from livecam.errors import ModelError
from livecam.settings import Settings, SettingsError
from livecam.text import Cover, Texts, parse_cover
from livecam.text.finder import load_text_finder
from livecam.text.plates import PlateRule
from livecam.text.timeline import TextParams, TextTimeline
from tests.conftest import DATA, needs_data
from tests.helpers.cli import livecam
from tests.helpers.video import make_video, read_video
from tests.test_effects import retained_detail

PLATE = (240, 220, 400, 262)  # the generated plate's white box, xyxy


def plate_scene(dx: int = 0, w: int = 640, h: int = 360) -> np.ndarray:
    """A textured background with a plate ("KX12 ABC") and a sign ("OPEN DAILY"), shifted by ``dx``."""
    rng = np.random.default_rng(0)
    f = (rng.integers(30, 60, (h, w + 200, 3), dtype=np.uint8) * 2)
    x1, y1, x2, y2 = PLATE
    cv2.rectangle(f, (x1 + 100, y1), (x2 + 100, y2), (235, 235, 235), -1)
    cv2.putText(f, "KX12 ABC", (x1 + 110, y1 + 32), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (20, 20, 20), 2, cv2.LINE_AA)
    cv2.putText(f, "OPEN DAILY", (160, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (240, 240, 240), 2, cv2.LINE_AA)
    return np.ascontiguousarray(f[:, 100 - dx:100 - dx + w])


def detail(img: np.ndarray, box) -> float:
    x1, y1, x2, y2 = box
    return float(cv2.Laplacian(cv2.cvtColor(img[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


@pytest.mark.parametrize("value, expected", [
    ("faces", (Cover.FACES,)),
    ("plates,faces", (Cover.FACES, Cover.PLATES)),
    (" Faces , TEXT ", (Cover.FACES, Cover.TEXT)),
    ("faces,cars", ValueError),
    ("", ValueError),
])
def test_parse_cover(value, expected):
    if expected is ValueError:
        with pytest.raises(ValueError, match="expected any of faces, plates, text"):
            parse_cover(value)
    else:
        assert parse_cover(value) == expected


def test_cover_setting_keeps_faces_and_round_trips():
    s = Settings().replace(cover="faces,plates")
    assert s.cover == (Cover.FACES, Cover.PLATES)
    assert Settings().replace(cover=["faces", "text"]).cover == (Cover.FACES, Cover.TEXT)
    with pytest.raises(SettingsError, match="invalid setting cover = 'plates': expected .* faces included"):
        Settings().replace(cover="plates")
    with pytest.raises(SettingsError, match="invalid setting cover = 'faces,cars'"):
        Settings().replace(cover="faces,cars")


def test_texts_record_checks_shapes():
    t = Texts(np.array([[0, 0, 40, 10], [5, 5, 9, 9]]), np.array([0.9, 0.6]), np.array([True, False]))
    assert len(t[t.plate]) == 1 and len(Texts.empty()) == 0 and len(Texts.concat([t, Texts.empty(), t])) == 4
    np.testing.assert_allclose(t.covered_boxes(0.25)[0], [-2.5, -2.5, 42.5, 12.5])
    with pytest.raises(ValueError, match=r"score and plate must have shape \(2,\)"):
        Texts(t.xyxy, np.array([0.9]), t.plate)
    with pytest.raises(ValueError, match="NaN"):
        Texts(np.array([[0, 0, np.nan, 1]]), np.array([1.0]), np.array([False]))


@pytest.mark.parametrize("text, plate", [
    ("KX12 ABC", True), ("M5-XSX", True), ('"RK·708A!', True), ("BSE：55-79", True), ("627", False),
    ("NEW YORK", False), ("WASHINGTON9", False), ("1234567890", False), ("京A12345", False), ("", False),
    ("2014-05-13", False), ("06:46:42", False), ("376-8750", False), ("9937410", True), ("RK-619A", True),
])
def test_plate_rule_reads(text, plate):
    assert PlateRule().reads_as_plate(text) is plate


@pytest.mark.parametrize("plate, pad_y", [(False, 0.25), (True, 0.5)])
def test_text_effect_covers_the_padded_box_and_nothing_else(plate, pad_y):
    frame = plate_scene()
    x1, y1, x2, y2 = PLATE
    texts = Texts(np.array([PLATE], np.float32), np.array([0.9]), np.array([plate]))
    out = effects.apply_texts(frame, texts, effects.EffectParams())
    px, py = int(np.ceil(0.25 * (y2 - y1))), int(np.ceil(pad_y * (y2 - y1)))
    assert detail(out, PLATE) < 0.1 * detail(frame, PLATE)
    changed = np.abs(out.astype(int) - frame).max(2) > 0
    assert changed[y1 - py + 2:y2 + py - 2, x1 - px + 2:x2 + px - 2].mean() > 0.9
    changed[y1 - py:y2 + py, x1 - px:x2 + px] = False
    assert not changed.any()
    assert effects.apply_texts(frame, Texts.empty(), effects.EffectParams()) is frame


class _Counting:
    def __init__(self, box):
        self.calls, self.box = 0, box

    def __call__(self, frame):
        self.calls += 1
        return Texts(np.array([self.box], np.float32), np.array([0.9]), np.array([True]))


def test_timeline_runs_on_a_grid_and_covers_frames_either_side_in_stabilised_coordinates():
    finder = _Counting((100, 100, 140, 110))
    tl = TextTimeline(finder, TextParams(every_s=0.2, hold_s=0.25))
    frame = np.zeros((8, 8, 3), np.uint8)
    ran = [tl.see(frame, i / 10, (i * 2.0, 0.0), epoch=1) for i in range(10)]
    assert ran == [True, False, True, False, True, False, True, False, True, False]
    # frame 1 (t=0.1, offset 2): findings at t=0 (offset 0) and 0.2 (offset 4), each moved into its coordinates
    got = tl.at(0.1, (2.0, 0.0), epoch=1)
    np.testing.assert_allclose(got.xyxy[:, 0], [102, 98])
    assert len(tl.at(0.1, (2.0, 0.0), epoch=2)) == 0  # another scene
    tl.cut()
    assert tl.see(frame, 0.95, (0.0, 0.0), epoch=3)  # a cut: at once, off the grid


class _Scripted:
    def __init__(self, answers):
        self.answers = list(answers)

    def __call__(self, frame):
        return self.answers.pop(0)


def _texts(*rows):
    return Texts(np.array([r[:4] for r in rows], np.float32), np.full(len(rows), 0.9), np.array([r[4] for r in rows]))


def test_a_region_read_as_a_plate_once_stays_a_plate_and_other_text_is_left():
    """A plate half out of the picture reads "NZJ" (not a plate): covered because it overlaps the plate read
    0.4 s before; the sign beside it is never covered with --cover faces,plates."""
    sign = (300, 10, 380, 30, False)
    finder = _Scripted([_texts((100, 100, 200, 130, True), sign), _texts((98, 101, 150, 129, False), sign),
                        _texts((97, 100, 140, 129, False), sign)])
    tl = TextTimeline(finder, TextParams(every_s=0.2, hold_s=0.25, plates_only=True, sticky_s=1.0))
    frame = np.zeros((8, 8, 3), np.uint8)
    for i in range(3):
        tl.see(frame, 0.2 * i, (0.0, 0.0), epoch=1)
    got = tl.at(0.4, (0.0, 0.0), epoch=1)
    assert got.plate.all() and sorted(got.xyxy[:, 2].tolist()) == [140, 150]
    everything = TextTimeline(_Scripted([_texts((97, 100, 140, 129, False), sign)]), TextParams(every_s=0.2))
    everything.see(frame, 0.0, (0.0, 0.0), epoch=1)
    assert len(everything.at(0.0, (0.0, 0.0), epoch=1)) == 2  # --cover faces,text: every region


def test_missing_model_is_a_one_line_model_error():
    from livecam.text.ppocr import model_path

    with pytest.raises(ModelError, match="rapidocr-onnxruntime .*--force-reinstall"):
        model_path("no-such-model.onnx")


def test_ppocr_finds_the_plate_and_the_sign_and_reads_only_the_plate_as_one():
    frame = plate_scene()
    text = load_text_finder((Cover.FACES, Cover.TEXT))
    plates = load_text_finder((Cover.FACES, Cover.PLATES))
    assert load_text_finder((Cover.FACES,)) is None and text is not None and plates is not None
    found_text, found_plates = text(frame), plates(frame)
    assert len(found_text) == 2 and not found_text.plate.any() and found_plates.plate.tolist() == [False, True]
    found_plates = found_plates[found_plates.plate]
    from livecam.harness.plateeval import found

    p = np.array(PLATE, np.float32)
    assert found(p, effects.text_boxes(found_plates)) and found(p, effects.text_boxes(found_text))


@needs_data
def test_plates_in_real_car_photos_are_found():
    """#39 measured 96% of plates > 30 px with the plate rule at 960 px (photos fitted into 720p)."""
    from livecam.harness.plateeval import found, tiled

    finder = load_text_finder((Cover.FACES, Cover.PLATES))
    assert finder is not None
    hits = []
    for i, (frame, plates) in enumerate(tiled(DATA / "plates-dev", 1)):
        if i % 6:
            continue
        texts = finder(frame)
        cover = effects.text_boxes(texts[texts.plate])
        hits += [found(p, cover) for p in plates if p[3] - p[1] > 30]
    assert len(hits) >= 30 and np.mean(hits) >= 0.9, (np.mean(hits), len(hits))


@pytest.mark.parametrize("cover", ["faces,plates", "faces"])
def test_anonymize_covers_the_plate_in_every_frame_from_the_first(tmp_path, cover):
    frames = [plate_scene(dx=2 * i) for i in range(24)]
    src, out = tmp_path / "pan.mp4", tmp_path / "out.mp4"
    make_video(frames, src, fps=12)
    r = livecam("anonymize", src, "-o", out, "--cover", cover)
    assert r.returncode == 0, r.stderr
    got, _, _ = read_video(out)
    assert len(got) == len(frames)
    sharp = []
    for i, (a, b) in enumerate(zip(frames, got)):
        x1, y1, x2, y2 = PLATE
        box = (x1 + 2 * i + 4, y1 + 4, x2 + 2 * i - 4, y2 - 4)  # inside the plate as it moves
        sharp.append(detail(b, box) > 0.3 * detail(a, box))
    assert not any(sharp) if cover != "faces" else all(sharp)


def test_a_bad_cover_option_is_one_line(tmp_path):
    r = livecam("anonymize", tmp_path / "x.mp4", "-o", tmp_path / "o.mp4", "--cover", "plates")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "livecam: error: invalid setting cover = 'plates': expected any of faces, plates, text joined by commas, "
        "e.g. faces,plates, faces included"]


class _NoFaces:
    input_size, on_gpu = None, False

    def detect(self, frame_bgr, width, threshold):
        from livecam.faces import Faces

        return Faces.empty()


class _Broken:
    def __call__(self, frame):
        raise RuntimeError("onnxruntime: bad allocation")


def _live(frames, finder, seconds, cover="faces,plates", commands=()):
    from livecam.harness import replay
    from livecam.inputs.replay import ReplaySource

    replay.register()
    replay.RecordingBackend.instances.clear()
    reports: list = []
    pipe = replay.replay_pipeline(Settings().replace(cover=cover), ReplaySource(frames, 25.0, loop=True),
                                  reports.append, make_detector=_NoFaces, text_finder=finder)
    backend = replay.RecordingBackend.instances[-1]
    backend.keep = True
    pipe.start()
    for at, cmd in commands:
        time.sleep(at)
        pipe.send(cmd)
    pipe.wait(seconds)
    pipe.stop()
    assert pipe.wait(10) and pipe.error is None, pipe.error
    return backend.frames, reports, pipe


def test_live_covers_the_plate_in_every_frame_sent_or_obscures_the_frame():
    frames = [plate_scene(dx=i) for i in range(50)]
    sent, reports, pipe = _live(frames, load_text_finder((Cover.FACES, Cover.PLATES)), 4.0)
    x1, y1, x2, y2 = PLATE
    shown = 0
    for out, r in zip(sent, reports):
        dx = r.index % len(frames)
        if r.obscured_all:
            assert retained_detail(frames[dx], out) < 0.05
            continue
        box = (x1 + dx + 4, y1 + 4, x2 + dx - 4, y2 - 4)
        assert detail(out, box) < 0.3 * detail(frames[dx], box), r
        shown += 1
    assert reports[0].obscured_all  # nothing leaves before the first check
    checked = sum(1 for r in reports if not (r.reason or "").startswith("text detection"))
    if checked < 0.5 * len(reports):  # the text thread (below face detection's priority) starved: as test_live's
        print(f"busy machine: {len(reports) - checked} of {len(reports)} frames waited for a text check: "
              "usability checks relaxed")  # _kept_up, only what must hold at any speed is checked then
        return
    assert shown >= 0.3 * len(reports), f"anonymized {shown} of {len(reports)} frames"
    assert pipe.status.text_hz > 0


def test_live_text_detector_failure_fails_closed_and_says_so():
    frames = [plate_scene(dx=i) for i in range(20)]
    sent, reports, pipe = _live(frames, _Broken(), 2.0)
    assert all(r.obscured_all for r in reports)
    assert pipe.status.reason.startswith("text detector failed: RuntimeError: onnxruntime: bad allocation")
    for out, r in zip(sent, reports):
        assert retained_detail(frames[r.index % len(frames)], out) < 0.05


def test_cover_changed_while_live_starts_and_stops_covering_the_plate():
    """The tray's and the web page's "Cover" menu: set_values(cover=...) on a running pipeline."""
    from livecam.live.commands import set_values

    frames = [plate_scene(dx=i) for i in range(50)]
    sent, reports, pipe = _live(frames, None, 3.0, cover="faces", commands=(
        (1.5, set_values(cover=(Cover.FACES, Cover.PLATES))), (3.0, set_values(cover=(Cover.FACES,)))))
    x1, y1, x2, y2 = PLATE
    start = reports[0].sent_t
    phases: dict[str, list[bool]] = {"faces": [], "plates": [], "faces again": []}
    for out, r in zip(sent, reports):
        dx = r.index % len(frames)
        box = (x1 + dx + 4, y1 + 4, x2 + dx - 4, y2 - 4)
        sharp = not r.obscured_all and detail(out, box) > 0.3 * detail(frames[dx], box)
        at = r.sent_t - start
        phase = "faces" if at < 1.4 else "plates" if 1.6 < at < 4.4 else "faces again" if at > 4.9 else None
        if phase:
            phases[phase].append(sharp)
    assert any(phases["faces"]) and any(phases["faces again"]), "the plate should be left as it is with faces only"
    assert phases["plates"] and not any(phases["plates"]), "the plate shown sharp while plates were covered"
    assert pipe.settings.cover == (Cover.FACES,)
