"""--keep / --reveal / `livecam people`: the reveal rule frame by frame (numpy only), the people file,
and real clips of different people (YouTube Faces dev clips): the kept person is left visible,
nobody else ever is, in files and live."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from livecam import effects
from livecam.harness import peopleeval
from livecam.faces import Faces
from livecam.people import (CROSS_IOU, KeepGate, KeepParams, People, PeopleError, load_people, people_path,
                            save_people)
from livecam.settings import Settings
from livecam.inputs.replay import ReplaySource, pingpong_order

from tests.conftest import DATA, box_coverage, is_magenta, needs_data
from tests.helpers import FakeModel, livecam, make_video, read_video
from tests.test_live import Raising, _kept_up, _run

ALICE = np.zeros(128, np.float32)
BOB = np.full(128, 0.1, np.float32)  # 1.13 from ALICE


def _people() -> People:
    return People({"alice": ALICE[None], "bob": BOB[None]})


def _faces(*boxes, ids=None) -> Faces:
    n = len(boxes)
    return Faces(np.array(boxes, np.float32).reshape(-1, 4), np.full(n, 0.9), np.array(ids or range(1, n + 1)))


def _near(v: np.ndarray, d: float) -> np.ndarray:
    out = v.copy()
    out[0] += d
    return out


def _check(gate: KeepGate, faces: Faces, t: float, descriptors: dict[int, np.ndarray]) -> None:
    gate.see(faces)
    due = gate.due(faces, t)
    for tid in due.track_id:
        gate.checked(int(tid), t, descriptors[int(tid)])


ONE = _faces([10, 10, 60, 60])


def test_reveal_needs_several_matching_checks_over_time():
    gate = KeepGate(_people(), ["alice"])
    seen = []
    for k in range(30):  # 25 fps
        t = k * 0.04
        _check(gate, ONE, t, {1: _near(ALICE, 0.3)})
        seen.append(bool(gate.visible(ONE, t)[0]))
    first = seen.index(True)
    p = KeepParams()
    assert p.span_s <= first * 0.04 <= p.span_s + 0.1  # four checks, 1/6 s apart (0.2 s at 25 fps)
    # shown within 0.6 s of the first check: live, with a detection's and a check's latency, within 1 s (4 checks
    # over 0.75 s, the rule before, showed the kept person 1.08-1.16 s after the first frame)
    assert first * 0.04 <= 0.6
    assert all(seen[first:])


@pytest.mark.parametrize("what, descriptor, expected", [
    ("another enrolled person", BOB, False),
    ("a stranger", np.full(128, -0.2, np.float32), False),
    ("a face between two enrolled people", (ALICE + BOB) / 2, False),
    ("the kept person, too far", _near(ALICE, 0.61), False),
    ("the kept person, mean too far", _near(ALICE, 0.54), False),
    ("the kept person", _near(ALICE, 0.45), True),
])
def test_who_is_revealed(what, descriptor, expected):
    gate = KeepGate(_people(), ["alice"])
    for k in range(30):
        _check(gate, ONE, k * 0.04, {1: descriptor})
    assert bool(gate.visible(ONE, 29 * 0.04)[0]) is expected, what


def _revealed_gate() -> KeepGate:
    gate = KeepGate(_people(), ["alice"])
    for k in range(25):
        _check(gate, ONE, k * 0.04, {1: ALICE})
    assert gate.visible(ONE, 1.0)[0]
    return gate


def test_one_failed_check_covers_at_once_and_the_count_starts_again():
    gate = _revealed_gate()
    gate.checked(1, 1.0, BOB)
    assert not gate.visible(ONE, 1.0)[0]
    for t in (1.25, 1.5, 1.75):
        gate.checked(1, t, ALICE)
    assert not gate.visible(ONE, 1.75)[0]  # three checks: not yet
    gate.checked(1, 2.0, ALICE)
    assert gate.visible(ONE, 2.0)[0]


def test_faces_too_small_to_recognise_are_never_checked_or_revealed():
    tiny = _faces([10, 10, 30, 30])
    gate = KeepGate(_people(), ["alice"])
    for k in range(30):
        gate.see(tiny)
        assert not len(gate.due(tiny, k * 0.04))
    assert not gate.visible(tiny, 1.2)[0]


def test_lost_track_cut_and_stall_cover_the_face():
    gate = _revealed_gate()
    gate.see(Faces.empty())  # the track ended
    assert not gate.visible(ONE, 1.0)[0]
    gate = _revealed_gate()
    gate.reset()  # a cut, a recognition error
    assert not gate.visible(ONE, 1.0)[0]
    gate = _revealed_gate()
    assert not gate.visible(ONE, 0.96 + KeepParams().stale_s + 0.1)[0]  # no check for too long
    assert not gate.visible(_faces([10, 10, 60, 60], ids=[-1]), 1.0)[0]  # untracked: never


def test_a_face_crossing_the_kept_face_covers_both_and_checks_again():
    gate = _revealed_gate()
    crossing = _faces([10, 10, 60, 60], [40, 12, 90, 62])  # IoU 0.25
    assert not gate.visible(crossing, 1.0).any()
    gate.see(crossing)
    apart = _faces([10, 10, 60, 60], [200, 12, 250, 62])
    assert not gate.visible(apart, 1.0)[0], "identity may have swapped: checked afresh"
    # a much larger box around the face (a false alarm) cannot take its track over: no reset
    gate = _revealed_gate()
    around = _faces([10, 10, 60, 60], [-40, -40, 160, 160])
    assert gate.visible(around, 1.0)[0]
    assert CROSS_IOU < 0.15  # below the tracker's matching IoU


def test_people_file_holds_descriptors_only_readable_by_the_user(tmp_path):
    path = save_people(_people(), tmp_path / "people.json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_people(path).names == ("alice", "bob")
    data = json.loads(path.read_text())
    assert set(data["people"]) == {"alice", "bob"} and len(data["people"]["alice"][0]) == 128
    data["model"] = "another"
    path.write_text(json.dumps(data))
    with pytest.raises(PeopleError, match="another face model"):
        load_people(path)
    path.write_text("{not json")
    with pytest.raises(PeopleError, match="fix or delete it"):
        load_people(path)


# -- real clips -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clips():
    from livecam.engine import make_anonymizer
    from livecam.people import Describer

    enrol, test = peopleeval.load_people_clips(DATA / "ytf-clips-dev")
    photo = make_anonymizer(Settings())
    people = peopleeval.enrol_people(enrol, photo.detect_photo, Describer())
    return people, {p.name: p for p in test}


@needs_data
@pytest.mark.parametrize("scenario, visible", [("side by side", 0.8), ("closer", 0.8),
                                               ("crossing", 0.3)])  # after a crossing: 4 checks again
def test_keep_in_files_reveals_the_kept_person_and_nobody_else(clips, scenario, visible):
    from livecam.policy import load_settings_detector
    from livecam.people import Describer, InlineKeep

    people, test = clips
    s = Settings()
    det = load_settings_detector(s)
    for kept, other in (("Agbani_Darego0", "Albert_Brooks0"), ("Albert_Brooks0", "Aishwarya_Rai0")):
        clip = peopleeval.build_clip(scenario, test[kept], test[other], length=100)
        row = peopleeval.run_clip(clip, InlineKeep(KeepGate(people, [kept]), Describer()), s, det)
        assert row.other_revealed == 0, row
        assert row.kept_visible >= visible * row.kept_frames, row


@pytest.fixture(scope="module")
def webcam():
    """Intel's head-pose clips: the two people enrolled from their own clips, and their faces in the clip of
    both (``peopleeval.load_webcam_people``)."""
    from livecam.engine import make_anonymizer
    from livecam.people import Describer

    photo = make_anonymizer(Settings())
    found = peopleeval.load_webcam_people(DATA / "clips", photo.detect_photo)
    assert found is not None, "Intel's head-pose clips are part of ../shared/data/clips"
    enrol, test = found
    return peopleeval.enrol_people(enrol, photo.detect_photo, Describer()), test


@needs_data
def test_keep_at_a_webcam_reveals_the_person_enrolled_from_another_recording_and_nobody_else(webcam):
    """What --keep is for: two people at a webcam's distance (Intel's head-pose clips, faces 67-86 px tall),
    each enrolled from a clip of their own, then filmed side by side: whoever is kept is visible (after the
    first second), the other never; their descriptors keep a margin (same person vs the other)."""
    from livecam.engine import make_anonymizer
    from livecam.policy import load_settings_detector
    from livecam.people import Describer, InlineKeep

    people, test = webcam
    s = Settings()
    det = load_settings_detector(s)
    photo = make_anonymizer(s, detector=det)
    assert len(test[0].frames) >= 50 and min(float(b[3] - b[1]) for p in test for b in p.boxes) >= 60
    for kept, other in ((0, 1), (1, 0)):
        clip = peopleeval.webcam_clip(test[kept], test[other])
        row = peopleeval.run_clip(clip, InlineKeep(KeepGate(people, [test[kept].name]), Describer()), s, det)
        print(row)
        assert row.other_revealed == 0 and row.other_bare == 0, row
        assert row.kept_frames >= 70 and row.kept_visible >= 0.95 * row.kept_frames, row
    same, diff = peopleeval.distances(people, test, photo.detect_photo, Describer(), every=5)
    print(f"same person max {max(same):.3f}, other min {min(diff):.3f}")
    assert max(same) < KeepParams().match < min(diff)  # measured: same <= 0.46, other >= 0.65


@needs_data
def test_people_and_anonymize_keep_from_the_command_line(tmp_path, clips):
    """`livecam people add` from a video of one person; from a photo of several, the face that stands out;
    `livecam anonymize --keep` leaves that person visible and covers the other (checked in the pixels)."""
    _, test = clips
    env = {"LIVECAM_CONFIG": str(tmp_path / "cfg" / "settings.toml")}
    agbani, albert = test["Agbani_Darego0"], test["Albert_Brooks0"]
    enrol_video = tmp_path / "agbani.mp4"
    make_video(peopleeval.load_people_clips(DATA / "ytf-clips-dev")[0][1].frames, enrol_video)
    crowd = DATA / "ytf-clips-dev" / "frames" / "Aaron_Guiel5" / "5.1841.jpg"
    r = livecam("people", "add", "aaron", crowd, env=env)  # Aaron in front of a crowd: his face stands out
    assert r.returncode == 0 and "5.1841.jpg" in r.stderr and "faces; enrolling the largest" in r.stderr, r.stderr
    assert livecam("people", "remove", "aaron", env=env).returncode == 0
    r = livecam("people", "add", "agbani", enrol_video, env=env)
    assert r.returncode == 0, r.stderr
    r = livecam("people", "list", env=env)
    assert r.stdout.startswith("agbani: "), r.stdout
    assert stat.S_IMODE(os.stat(tmp_path / "cfg" / "people.json").st_mode) == 0o600

    clip = peopleeval.build_clip("side by side", agbani, albert, length=75)
    src = tmp_path / "two.mp4"
    make_video(clip.frames, src)
    out = tmp_path / "out.mp4"
    r = livecam("anonymize", src, "-o", out, "--keep", "nobody", env=env)
    assert r.returncode != 0 and "nobody: not enrolled" in r.stderr and "livecam people add" in r.stderr, r.stderr
    r = livecam("anonymize", src, "-o", out, "--keep", "agbani", "--effect", "solid", "--color", "magenta", env=env)
    assert r.returncode == 0, r.stderr
    frames, _, _ = read_video(out)
    assert len(frames) == len(clip.frames)
    kept_visible = [box_coverage(is_magenta(f), clip.kept_box[i]) < 0.3 for i, f in enumerate(frames)]
    other_covered = [box_coverage(is_magenta(f), clip.other_box[i]) >= 0.7 for i, f in enumerate(frames)]
    assert all(other_covered), [i for i, ok in enumerate(other_covered) if not ok]
    assert sum(kept_visible[25:]) >= 0.8 * len(kept_visible[25:])

    r = livecam("people", "remove", "agbani", env=env)
    assert r.returncode == 0 and load_people(tmp_path / "cfg" / "people.json").names == ()


class Broken:
    """A recogniser that fails (made in the recognition process: a module-level class)."""

    def describe(self, frame, box):
        raise RuntimeError("out of memory")


def _live(frames, settings, people, seconds, make_describer=None, command=None):
    """The live tests' ``_run`` on ``frames`` played forwards then backwards (``command`` sent after 1 s);
    returns (reports, pipeline, whether detection kept up)."""
    _, reports, pipe = _run(frames, settings, seconds=seconds, source=ReplaySource(frames, 25.0, pingpong=True),
                            commands=[(1.0, command)] if command is not None else (), people=people,
                            make_describer=make_describer)
    return reports, pipe, _kept_up(pipe, reports)


def _pingpong(n: int, index: int) -> int:
    """The frame of ``n`` that ``ReplaySource(pingpong=True)`` shows as its ``index``-th."""
    cycle = pingpong_order(n)
    return cycle[index % len(cycle)]


def _coverage(r, shape: tuple[int, int], box, settings: Settings) -> float:
    """How much of ``box`` (xyxy) the frame of report ``r`` covers, 0..1 (a wholly obscured frame: all of it)."""
    if r.obscured_all:
        return 1.0
    return box_coverage(effects.coverage_mask(shape, r.faces, settings.effect_params()) > 0, box)


def _kept_and_other(reports, settings, frames, kept_box, other_box) -> tuple[float | None, int, int]:
    """Live reports of ``frames`` played forwards then backwards: the other face is covered in every frame
    sent (asserted); returns (seconds from the first frame sent anonymized until the kept face was first
    visible, frames it was visible in after the first 2 s, frames sent after the first 2 s)."""
    shape = frames[0].shape[:2]
    t0 = reports[0].capture_t
    started = None  # the first frame sent anonymized (before it: the model loading, every frame obscured)
    first_visible, visible, after = None, 0, 0
    for r in reports:
        if r.index < 0 or r.obscured_all:
            continue
        if started is None:
            started = r.capture_t
        k = _pingpong(len(frames), r.index)
        assert _coverage(r, shape, other_box[k], settings) >= 0.7, f"bystander revealed in frame {r.index}"
        shown = _coverage(r, shape, kept_box[k], settings) < 0.3
        if shown and first_visible is None:
            first_visible = r.capture_t - started
        if r.capture_t - t0 > 2.0:
            after += 1
            visible += shown
    assert after > 0
    return first_visible, visible, after


@needs_data
def test_live_keep_reveals_the_kept_person_and_never_the_bystander(clips):
    people, test = clips
    clip = peopleeval.build_clip("closer", test["Albert_Brooks0"], test["Agbani_Darego0"], length=90)
    s = Settings(keep=("Albert_Brooks0",), effect=effects.Effect.SOLID, color=(255, 0, 255))
    reports, _, kept_up = _live(clip.frames, s, people, seconds=8)
    _, visible, after = _kept_and_other(reports, s, clip.frames, clip.kept_box, clip.other_box)
    if kept_up:  # on a busy machine only what must hold at any speed: the bystander covered in every frame
        assert visible >= 0.5 * after, (visible, after)


@needs_data
def test_live_keep_at_a_webcam_reveals_the_kept_person_and_never_the_other(webcam):
    """Live, two people at a webcam's distance, each enrolled from a recording of their own: the kept one is
    revealed soon after the first frame sent anonymized (4 checks over 0.5 s, at most ``LIVE_CHECKS_PER_S`` a
    second, each a dlib description in the recognition process) and mostly stays visible; the other is covered
    in every frame sent. This version (3 runs, 2026-12-07): first visible 1.25-1.44 s after the first frame
    anonymized, visible in 70-77 of ~101 frames after 2 s; a busy CI run took 1.64 s from the first frame
    captured (the model loading included), and a clean-clone run beside another job failed a 2 s bound from the
    first frame anonymized (``kept_up`` sees detection, not the recognition process): the bound is 3 s.
    Earlier (4 runs): first visible after 0.84-0.96 s, visible in 58-102 of ~101 frames
    after 2 s; with 4 checks over 0.75 s, 1.08-1.16 s and 52-101 (7 runs); on predicted boxes (before: the kept
    person 0.38-0.69 from her own views against 0.39-0.46) 1.36-4.0 s and 5-100 (5 runs). What varies: the
    clip's tilted heads get a second, low-score box (0.1-0.16) overlapping the face now and then, which counts
    as a crossing and starts the checks again."""
    people, (woman, man) = webcam
    s = Settings(keep=("woman",), effect=effects.Effect.SOLID, color=(255, 0, 255))
    reports, _, kept_up = _live(woman.frames, s, people, seconds=6)
    first_visible, visible, after = _kept_and_other(reports, s, woman.frames, woman.boxes, man.boxes)
    print(f"kept person first visible after {first_visible} s; visible in {visible} of {after} frames after 2 s")
    if kept_up:  # on a busy machine only what must hold at any speed: the other person covered in every frame
        assert first_visible is not None and first_visible <= 3.0, first_visible
        assert visible >= 0.4 * after, (visible, after)


@needs_data
def test_live_keep_covers_everyone_when_recognition_fails(clips):
    people, test = clips
    clip = peopleeval.build_clip("side by side", test["Albert_Brooks0"], test["Agbani_Darego0"], length=60)
    s = Settings(keep=("Albert_Brooks0",), effect=effects.Effect.SOLID, color=(255, 0, 255))
    # 8 s: long enough that a busy machine's detection stalls (all frames obscured at first) end inside it
    reports, _, _ = _live(clip.frames, s, people, seconds=8, make_describer=Broken)
    painted = 0
    for r in reports:
        if r.index < 0 or r.obscured_all:
            continue
        kept = clip.kept_box[_pingpong(len(clip.frames), r.index)]
        assert _coverage(r, clip.frames[0].shape[:2], kept, s) >= 0.3, f"revealed in frame {r.index}"
        painted += 1
    assert painted > 0


@needs_data
def test_keep_me_visible_enrols_the_face_in_view_and_keeps_it(clips, tmp_path, monkeypatch, caplog):
    """The tray's "Keep me visible": views of the one face in front of the camera are saved (descriptors,
    0600) and that person is kept: visible in the frames after it, pixels checked. On a machine too busy for
    the recognition process (lowest priority: beside two busy processes its first answer came after 70 s)
    enrolling ends saying so, and the face stays covered."""
    import logging

    from livecam import live
    from livecam.live import keep

    _, test = clips
    monkeypatch.setenv("LIVECAM_CONFIG", str(tmp_path / "settings.toml"))
    monkeypatch.setattr(keep, "ENROL_START_S", 6.0)  # the wait for a first view (idle: under 1 s)
    me = test["Agbani_Darego0"]
    s = Settings(effect=effects.Effect.SOLID, color=(255, 0, 255))
    with caplog.at_level(logging.WARNING, logger="livecam"):
        reports, pipe, kept_up = _live(me.frames, s, People(), seconds=9, command=live.keep_me_visible("me"))
    shape = me.frames[0].shape[:2]
    covered = [_coverage(r, shape, me.boxes[_pingpong(len(me.frames), r.index)], s)
               for r in reports if r.index >= 0 and not r.obscured_all]
    if "face recognition answered none of" in caplog.text:
        print("busy machine: face recognition had no CPU time to enrol")
        assert "me" not in pipe.settings.keep and all(c >= 0.7 for c in covered)
        return
    assert "me" in pipe.settings.keep and "me" in pipe.status.people
    saved = load_people(tmp_path / "people.json")
    assert saved.names == ("me",) and len(saved.views["me"]) >= 4
    assert stat.S_IMODE(os.stat(tmp_path / "people.json").st_mode) == 0o600
    assert min(covered[:10]) >= 0.7, "covered before enrolment"
    if kept_up:
        assert sum(c < 0.3 for c in covered[-50:]) >= 25, "visible once enrolled and recognised"


def test_keep_me_visible_ends_and_says_so_when_the_detector_fails(tmp_path, monkeypatch, caplog):
    """"Keep me visible" while the detector fails: no view can come, and enrolling still ends on time with
    one line saying why (its end used to be checked only when a detection arrived, so it stayed open for as
    long as the detector failed). Every frame sent meanwhile is wholly obscured."""
    import logging

    from livecam import live
    from livecam.live import keep

    monkeypatch.setenv("LIVECAM_CONFIG", str(tmp_path / "settings.toml"))
    monkeypatch.setattr(keep, "ENROL_START_S", 1.0)  # the wait for a first view (30 s by default)
    frames = [np.full((120, 160, 3), 128, np.uint8)] * 10
    with caplog.at_level(logging.WARNING, logger="livecam"):
        _, reports, pipe = _run(frames, Settings(), make_detector=lambda: Raising(), seconds=3.5, loop=True,
                                people=People(), commands=[(0.5, live.keep_me_visible("me"))])
    assert any("could not keep me visible: 0 clear views" in r.getMessage() for r in caplog.records), caplog.text
    assert "me" not in pipe.settings.keep and not (tmp_path / "people.json").exists()
    assert all(r.obscured_all for r in reports)


class OneFace(FakeModel):
    def find(self, frame):
        return Faces(np.array([[40, 30, 90, 90]], np.float32), np.array([0.9]))


def test_keep_me_visible_says_when_face_recognition_had_no_cpu_time(tmp_path, monkeypatch, caplog):
    """Beside two busy processes the recognition process (lowest priority) answered its first check after 70 s:
    "Keep me visible" ended saying "0 clear views of one face ... try again alone in front of the camera",
    wrong advice for a user who was. Now it names the cause; the face stays covered in every frame."""
    import logging

    from livecam import live
    from livecam.live import keep

    monkeypatch.setenv("LIVECAM_CONFIG", str(tmp_path / "settings.toml"))
    monkeypatch.setattr(keep, "ENROL_START_S", 2.0)
    frames = [np.full((120, 160, 3), 128, np.uint8)] * 10
    with caplog.at_level(logging.WARNING, logger="livecam"):
        _, reports, pipe = _run(frames, Settings(), make_detector=lambda: OneFace(), seconds=4.5, loop=True,
                                people=People(), make_describer=NeverReady,
                                commands=[(0.5, live.keep_me_visible("me"))])
    said = [r.getMessage() for r in caplog.records if "could not keep me visible" in r.getMessage()]
    assert len(said) == 1 and "face recognition answered none of" in said[0] and "less busy" in said[0], caplog.text
    assert "me" not in pipe.settings.keep and not (tmp_path / "people.json").exists()
    assert all(_coverage(r, (120, 160), [40, 30, 90, 90], Settings()) >= 0.7 for r in reports)


def test_keep_an_unknown_name_is_one_line_naming_it(tmp_path):
    import cv2

    photo = tmp_path / "x.jpg"
    cv2.imwrite(str(photo), np.full((64, 64, 3), 128, np.uint8))
    r = livecam("anonymize", photo, "-o", tmp_path / "y.jpg", "--keep", "zoe",
                env={"LIVECAM_CONFIG": str(tmp_path / "settings.toml")})
    assert r.returncode == 2 or r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "--keep zoe: not enrolled (enrolled: nobody yet)" in r.stderr, r.stderr
    assert not (tmp_path / "y.jpg").exists()
    assert people_path().name == "people.json"


def test_live_checks_are_budgeted_and_candidates_go_first():
    gate = KeepGate(_people(), ["alice"], KeepParams(per_s=2.0))
    five = _faces(*[[100 * k, 0, 100 * k + 50, 50] for k in range(5)])
    gate.see(five)
    assert len(gate.due(five, 0.0)) == 2
    assert len(gate.due(five, 0.1)) == 0  # 0.2 of a token
    gate.checked(3, 0.0, BOB)  # a stranger, twice: backed off
    gate.checked(3, 0.0, BOB)
    gate.checked(4, 0.0, ALICE)  # matching alice so far: first in line
    picked = gate.due(five, 1.0).track_id.tolist()
    assert 4 in picked and 3 not in picked and len(picked) == 2


class ReportsPolicy:
    """A recogniser whose descriptor is its process's scheduling policy (made in the recognition process)."""

    def describe(self, frame, box):
        return np.full(128, float(os.sched_getscheduler(0)), np.float32)


def _one_check(make_describer):
    """The results of one identity check asked of a ``RecognitionWorker`` making ``make_describer`` (waits up to
    60 s)."""
    import time

    from livecam.people import CheckRequest, CheckResult, RecognitionWorker

    worker = RecognitionWorker(make_describer).start()
    try:
        worker.ask(CheckRequest(0.0, np.zeros((120, 160, 3), np.uint8), _faces([40, 30, 90, 90])))
        deadline, results = time.monotonic() + 60, list[CheckResult]()
        while not results and time.monotonic() < deadline:
            time.sleep(0.05)
            results = worker.results()
    finally:
        worker.stop()
    return results


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux only")
def test_recognition_runs_only_on_cpu_time_nothing_else_wants():
    """The recognition process is ``SCHED_IDLE``: at nice 10 it added up to 9 ms to the live p95 latency."""
    results = _one_check(ReportsPolicy)
    assert results and results[0].descriptor is not None, results
    assert int(results[0].descriptor[0]) == os.SCHED_IDLE


class SlowToLoad:
    """A recogniser whose model takes longer to load than the worker waits for it at start-up (beside two busy
    processes the recognition process, at the lowest priority, took over 30 s to load dlib's)."""

    def __init__(self):
        import time

        time.sleep(2.0)

    def describe(self, frame, box):
        return np.zeros(128, np.float32)


def test_checks_are_answered_when_the_recognition_process_was_slow_to_start(monkeypatch):
    """Its "ready" came after the worker stopped waiting and was taken for the first check's answers: the
    thread feeding the process died (``ValueError: not enough values to unpack``) and no face was checked
    again, so a kept person stayed covered for the rest of the stream (seen beside two busy processes)."""
    from livecam.people import worker as people

    monkeypatch.setattr(people, "READY_S", 0.2)
    results = _one_check(SlowToLoad)
    assert results and results[0].descriptor is not None and results[0].error is None, results


class NeverReady:
    """A recogniser still loading its model when livecam stops (beside two busy processes, dlib's took 70 s)."""

    def __init__(self):
        import time

        time.sleep(600)


def test_stopping_while_the_recognition_process_loads_ends_its_thread_and_process(monkeypatch):
    """A stop 5 s into the recognition process's loading closed the pipe under the thread still waiting for it
    (``AttributeError: 'NoneType' object has no attribute 'recv'``, beside two busy processes): now the thread
    ends, the process is gone, and nothing is raised in any thread."""
    import threading
    import time

    from livecam.people import CheckRequest, RecognitionWorker
    from tests.test_busy import _running

    raised: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: raised.append(args.exc_value))
    worker = RecognitionWorker(NeverReady).start(eager=False)
    worker.ask(CheckRequest(0.0, np.zeros((120, 160, 3), np.uint8), _faces([40, 30, 90, 90])))
    deadline = time.monotonic() + 60
    while (worker._proc is None or worker._proc.pid is None) and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = worker._proc.pid
    worker.stop()
    assert not worker._thread.is_alive() and not raised, raised
    deadline = time.monotonic() + 10
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(pid)


def test_people_add_from_a_photo_of_several_people_picks_the_face_asked_for(tmp_path):
    """A photo with two faces was refused ("2 faces found"). Now the faces are numbered from the left: a preview
    shows the numbers, --face N enrols that one, and the two people enrolled from the same photo differ."""
    import cv2

    from livecam.inputs import demo_clip

    frames, _, _ = read_video(demo_clip())
    photo = tmp_path / "two.png"
    cv2.imwrite(str(photo), frames[0])  # the woman left, the man right, about the same size
    env = {"LIVECAM_CONFIG": str(tmp_path / "cfg" / "settings.toml")}
    r = livecam("people", "add", "bob", photo, env=env)
    assert r.returncode != 0 and "2 faces of about the same size found; choose one with --face N" in r.stderr
    preview = tmp_path / "faces.png"
    r = livecam("people", "add", "bob", photo, "--faces-preview", preview, env=env)
    assert r.returncode == 0, r.stderr
    shown = cv2.imread(str(preview))
    assert shown is not None
    yellow = (shown[..., 2] > 200) & (shown[..., 1] > 200) & (shown[..., 0] < 80)
    assert yellow[:, :240].sum() > 100 and yellow[:, 240:].sum() > 100  # a numbered box on each face
    assert not (tmp_path / "cfg" / "people.json").exists()  # a preview enrols nobody
    assert livecam("people", "add", "ann", photo, "--face", "1", env=env).returncode == 0
    assert livecam("people", "add", "bob", photo, "--face", "2", env=env).returncode == 0
    people = load_people(tmp_path / "cfg" / "people.json")
    assert np.linalg.norm(people.views["ann"][0] - people.views["bob"][0]) > 0.6  # two different people
    r = livecam("people", "add", "bob", photo, "--face", "3", env=env)
    assert r.returncode != 0 and "--face 3: " in r.stderr and "numbered 1 to 2 from the left" in r.stderr
