"""Settings file round trip, validation and recovery; `livecam eval`; presenter choice."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from livecam import settings as S
from livecam.effects import Effect
from livecam.faces import Faces
from livecam.presenter import PresenterChooser
from tests.conftest import DATA, needs_data
from tests.helpers import livecam


def test_round_trip(tmp_path):
    s = S.Settings(effect=Effect.PIXELATE, strength=2.0, color=(0, 0, 255), size=(1280, 720))
    path = S.save(s, tmp_path / "settings.toml")
    assert 'color = "#ff0000"' in path.read_text()
    assert S.load(path) == s


@pytest.mark.parametrize("text, message", [
    ('effect = "swirl"', "invalid setting effect = 'swirl': expected one of blur, pixelate, solid"),
    ("strength = 9", "strength must be between 0.5 and 4"),
    ('size = "big"', "invalid size 'big': expected WIDTHxHEIGHT"),
    ("frobnicate = 1", "unknown setting 'frobnicate'"),
    ('stale_ms = "fast"', "invalid setting stale_ms = 'fast': expected int"),
    # the privacy key is a panic button: a binding that would be off, or do another action, stops start-up
    ('[hotkeys]\ntoggle_privacy = "<ctrl>+<bogus>+p"', "hotkeys.toggle_privacy = '<ctrl>+<bogus>+p': unknown key "
                                                    "'<bogus>'"),
    ('[hotkeys]\ntoggle_privacy = "ctrl+p"', "hotkeys.toggle_privacy = 'ctrl+p': unknown key 'ctrl'"),
    ('[hotkeys]\ntoggle_privacy = "<ctrl>+p+p"', "a key given twice"),
    ('[hotkeys]\ntoggle_privacy = ""', "hotkeys.toggle_privacy = '': no keys"),
    ('[hotkeys]\ncycle_effect = "<ctrl>+<alt>+<shift>+p"', "toggle_privacy and cycle_effect are both"),
    ('[hotkeys]\ntoggle_privacy = "<ctrl>+a"\ntoggle_anonymize = "a+<ctrl>"', "toggle_anonymize and toggle_privacy are "
                                                                          "both"),
])
def test_validation_names_key_and_expected_value(text, message):
    import tomllib

    with pytest.raises(S.SettingsError, match=re.escape(message)):
        S.from_mapping(tomllib.loads(text))


def test_good_hotkeys_pass_the_check():
    S.from_mapping({"hotkeys": {"toggle_privacy": "<ctrl>+<shift>+<f12>", "toggle_anonymize": "<cmd>+a",
                                "cycle_effect": "<ctrl>+<65>"}})


def test_a_bad_hotkey_stops_livecam_run_with_one_line(tmp_path):
    """It turned the privacy key off with one log line and ran on."""
    cfg = tmp_path / "settings.toml"
    cfg.write_text('[hotkeys]\ntoggle_privacy = "<ctrl>+<bogus>+p"\n')
    r = livecam("run", "--camera", "demo", "--no-vcam", "--config", cfg, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [f"livecam: error: settings file {cfg}: invalid setting "
                                             "hotkeys.toggle_privacy = '<ctrl>+<bogus>+p': unknown key '<bogus>'; "
                                             "expected keys joined by +, e.g. \"<ctrl>+<alt>+<shift>+p\" (special "
                                             "keys: <ctrl>, <alt>, <shift>, <cmd>, <f1>..<f20>, ...); fix or remove that line"]


def test_session_state_is_never_saved_nor_read_back(tmp_path, caplog):
    """A pause (or privacy screen, or presenter mode) must not survive a restart: the next run would
    send the raw camera from its first frame."""
    path = S.save(S.Settings(anonymize=False, privacy_screen=True, presenter=True), tmp_path / "settings.toml")
    text = path.read_text()
    assert not re.search(r"^(anonymize|presenter|privacy_screen|preview) =", text, re.M), text
    path.write_text("anonymize = false\npresenter = true\n" + text)  # written by hand, or by an older livecam
    s = S.load(path)
    assert s.anonymize is True and s.presenter is False
    assert "anonymize = False ignored: it is a session state" in caplog.text


@needs_data
def test_a_bad_settings_file_stops_livecam_with_key_value_and_path(tmp_path):
    """One bad line must not silently weaken protection (run on defaults): exit non-zero, name it all,
    and leave the file where it is."""
    cfg = tmp_path / "settings.toml"
    cfg.write_text('effect = "solid"\nthreshold = "low"\n')
    photo = DATA / "dlib-faces-dev" / "images" / "2008_001009.jpg"
    r = livecam("anonymize", photo, "-o", tmp_path / "out.jpg", "--config", cfg)
    assert r.returncode == 2
    assert f"livecam: error: settings file {cfg}: invalid setting threshold = 'low': expected float" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "out.jpg").exists()
    assert cfg.read_text().startswith('effect = "solid"') and not (tmp_path / "settings.toml.bad").exists()
    cfg.write_text("effect = [unclosed")
    r = livecam("anonymize", photo, "-o", tmp_path / "out.jpg", "--config", cfg)
    assert r.returncode == 2 and "is not valid TOML" in r.stderr and cfg.exists()


@needs_data
def test_missing_config_and_config_folder_are_errors(tmp_path):
    photo = DATA / "dlib-faces-dev" / "images" / "2008_001009.jpg"
    r = livecam("anonymize", photo, "-o", tmp_path / "out.jpg", "--config", tmp_path / "nope.toml")
    assert r.returncode == 2 and f"settings file {tmp_path / 'nope.toml'} not found" in r.stderr
    folder = tmp_path / "cfgdir"
    folder.mkdir()
    (folder / "keep.txt").write_text("x")
    r = livecam("anonymize", photo, "-o", tmp_path / "out.jpg", env={"LIVECAM_CONFIG": str(folder)})
    assert r.returncode == 2 and "is a folder" in r.stderr
    assert (folder / "keep.txt").exists() and not (tmp_path / "cfgdir.bad").exists(), "the folder must never be renamed"


def test_cli_options_override_the_file(tmp_path):
    from livecam.cli import build_parser, settings_from_args

    path = S.save(S.Settings(effect=Effect.PIXELATE, strength=2.0), tmp_path / "s.toml")
    args = build_parser().parse_args(["anonymize", "x.jpg", "-o", "y.jpg", "--config", str(path), "--effect", "solid"])
    s = settings_from_args(args)
    assert s.effect is Effect.SOLID and s.strength == 2.0


@needs_data
def test_eval_photos_prints_the_coverage_table():
    r = livecam("-q", "eval", DATA / "dlib-faces-dev")
    assert r.returncode == 0, r.stderr
    assert "| all | 18 | 100.0% |" in r.stdout
    assert "over-masked:" in r.stdout
    sizes = re.search(r"mask / face size p95 ([0-9.]+), max ([0-9.]+); ([0-9.]+)% of (\d+) masks on no labelled face",
                      r.stdout)
    assert sizes, r.stdout
    assert 1.0 <= float(sizes[1]) <= float(sizes[2]) < 3 and int(sizes[4]) >= 18, sizes[0]  # 18 faces, each masked


@needs_data
def test_eval_clips_at_the_live_rate_and_the_pan_test_print_their_tables():
    """End to end through the result records: the YouTube Faces clips with the live detection policy
    at 10 Hz (609 face-frames, all covered when measured), and the pan test's file-mode row on one photo."""
    clips = livecam("-q", "eval", DATA / "ytf-clips-dev", "--live-hz", "10")
    assert clips.returncode == 0, clips.stderr
    total = next(line for line in clips.stdout.splitlines() if line.startswith("| all |"))
    assert total.split("|")[2].strip() == "609" and float(total.split("|")[3].strip(" %")) >= 99.0, total
    assert "| Albert_Brooks0 | 217 |" in clips.stdout
    pan = livecam("-q", "eval", DATA / "wider-val-dev", "--pan", "--pan-images", "1", "--pan-only", "file")
    assert pan.returncode == 0, pan.stderr
    row = next(line for line in pan.stdout.splitlines() if line.startswith("| file mode"))
    assert float(row.split("|")[2].split("%")[0]) >= 95.0, row  # 100% measured
    assert "covered by face height: file mode:" in pan.stdout
    assert "| mask / face size p95 / max | masks on no face | frame masked |" in pan.stdout


@needs_data
def test_eval_sweep_rows_match_runs_at_each_threshold():
    """The sweep detects once at the lowest threshold; its rows must equal separate runs."""
    sweep = livecam("-q", "eval", DATA / "dlib-faces-dev", "--sweep", "0.9,0.2")
    assert sweep.returncode == 0, sweep.stderr
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:4]]
            for line in sweep.stdout.splitlines() if line.startswith("| 0.")}
    assert list(rows) == ["0.2", "0.9"]
    for t, (covered, over) in rows.items():
        single = livecam("-q", "eval", DATA / "dlib-faces-dev", "--threshold", t).stdout
        assert f"| all | 18 | {covered} |" in single and f"over-masked: {over} " in single, (t, single)
    assert rows["0.9"][0] != rows["0.2"][0]  # the threshold matters on this set (9 of 18 faces score <= 0.9)
    bad = livecam("eval", DATA / "dlib-faces-dev", "--sweep", "0.2,2")
    assert bad.returncode == 2
    assert "--sweep: invalid setting threshold = 2.0: expected a number between 0.01 and 0.99" in bad.stderr


def test_eval_refuses_a_folder_without_labels(tmp_path):
    r = livecam("eval", tmp_path)
    assert r.returncode == 2
    assert "no boxes.json or tracks.json in this folder" in r.stderr


def _faces(*rows):
    a = np.array(rows, np.float32)
    return Faces(a[:, :4], np.ones(len(a)), a[:, 4].astype(int))


def test_presenter_keeps_main_face_and_never_hands_over_for_a_frame():
    p = PresenterChooser()
    main = [500, 200, 700, 450, 1]      # big, central
    bystander = [50, 300, 110, 370, 2]  # small, at the edge
    for _ in range(p.params.dwell_frames - 1):
        assert sorted(p.others(_faces(main, bystander), 1280, 720).track_id.tolist()) == [1, 2]
    assert p.others(_faces(main, bystander), 1280, 720).track_id.tolist() == [2]
    # a bigger face for one frame does not take over
    big = [400, 100, 900, 700, 3]
    assert sorted(p.others(_faces(main, bystander, big), 1280, 720).track_id.tolist()) == [2, 3]
    assert p.main_id == 1
    # main face gone: everyone covered, the bystander is not uncovered at once
    assert p.others(_faces(bystander), 1280, 720).track_id.tolist() == [2]
    assert p.main_id is None


def test_presenter_a_partial_second_box_on_the_main_face_is_not_covered():
    """Measured on the two-person clip: a detection of the lower half of the main face started a track
    of its own and covered half of the presenter's face for a few frames. A face beside the main one
    (cheek to cheek) or a small face far behind it stays covered."""
    p = PresenterChooser()
    main = [500, 200, 700, 450, 1]
    part = [480, 320, 610, 460, 4]       # the lower-left of the main face, 20 px past its edge
    beside = [660, 230, 860, 480, 5]     # a second face, cheek to cheek
    tiny = [505, 205, 540, 245, 6]       # a distant face in the corner of the main face's box
    for _ in range(p.params.dwell_frames):
        p.others(_faces(main), 1280, 720)
    assert p.main_id == 1
    assert sorted(p.others(_faces(main, part, beside, tiny), 1280, 720).track_id.tolist()) == [5, 6]
    front = [470, 170, 760, 520, 7]      # a face in front of the presenter's, holding its box
    assert sorted(p.others(_faces(main, front, beside), 1280, 720).track_id.tolist()) == [5, 7]


def test_presenter_a_track_reborn_where_the_main_face_was_stays_the_main_face():
    """Measured on the two-person clip: the tracker lost the presenter's face and found it again under
    a new id; the presenter was covered until the new track qualified (20 frames). A new track where
    the main face was is the main face at once; one elsewhere is not."""
    p = PresenterChooser()
    main, bystander = [500, 200, 700, 450, 1], [50, 300, 110, 370, 2]
    for _ in range(p.params.dwell_frames):
        p.others(_faces(main, bystander), 1280, 720)
    assert p.main_id == 1
    reborn = [510, 205, 712, 455, 9]
    assert p.others(_faces(reborn, bystander), 1280, 720).track_id.tolist() == [2]
    assert p.main_id == 9
    p.others(_faces(bystander), 1280, 720)  # gone
    assert p.main_id is None
    elsewhere = [900, 200, 1100, 450, 10]
    assert sorted(p.others(_faces(elsewhere, bystander), 1280, 720).track_id.tolist()) == [2, 10]


def test_each_setting_is_declared_once_and_the_key_lists_follow(tmp_path, monkeypatch):
    """Scope, type and check live on the field; the lists the CLI, the live pipeline and the tray use are
    derived from it (a new setting is one line)."""
    from livecam.cli import build_parser, settings_from_args

    assert S.SESSION_KEYS == ("anonymize", "privacy_screen", "presenter", "preview")
    assert set(S.RESTART_KEYS) == {"device", "detect_size", "model", "small_faces_s", "camera", "size", "fps",
                                   "vcam_device", "detect_hz", "hotkeys"}
    assert set(S.TRAY_KEYS) == {"effect", "strength", "delay_s", "keep", "cover"}
    fields = {f.name for f in dataclasses.fields(S.Settings)}
    assert set(S.OPTION_KEYS) == fields - set(S.SESSION_KEYS) - {"hotkeys"}
    monkeypatch.setenv("LIVECAM_CONFIG", str(tmp_path / "none.toml"))
    args = build_parser().parse_args(["run", "--delay", "0.5", "--threshold", "0.3", "--size", "640x360"])
    assert settings_from_args(args).replace() == S.Settings(delay_s=0.5, threshold=0.3, size=(640, 360))
    with pytest.raises(S.SettingsError, match=r"invalid setting delay_s = 9\.0: expected seconds between 0"):
        S.from_mapping({"delay_s": 9})


def test_mask_ratios_measure_each_mask_against_the_face_it_covers():
    """#38's honest over-masking figure: a mask twice a face's width counts 2.0; a mask over half of a small face
    beside a big one is measured against the face it overlaps most; a mask on background counts as on no face."""
    import numpy as np

    from livecam.harness.evaluate import mask_ratios

    faces = np.array([[100, 100, 120, 120], [300, 100, 400, 220]], np.float32)
    drawn = np.array([[90, 90, 130, 130],      # 2x the small face
                      [310, 110, 390, 210],    # inside the big one: 0.8 x 0.83 of it
                      [500, 300, 540, 340],    # background
                      [100, 105, 120, 125]],   # three quarters of the small face: 1.0 x 1.0
                     np.float32)
    ratios, unmatched = mask_ratios(drawn, faces)
    assert ratios == [2.0, pytest.approx(0.8333, abs=1e-3), 1.0] and unmatched == 1
    assert mask_ratios(drawn, np.zeros((0, 4), np.float32)) == ([], 4)
    # a crowd: a mask drawn on a 40 px face also covers all of a 10 px face behind it; it is measured against
    # its own face (1.4x with the margin), not 5.6x the small one
    crowd = np.array([[200, 200, 240, 240], [205, 205, 215, 215]], np.float32)
    ratios, unmatched = mask_ratios(np.array([[192, 192, 248, 248]], np.float32), crowd)
    assert ratios == [pytest.approx(1.4)] and unmatched == 0


def test_the_pan_test_keeps_crowds_and_reports_the_frame_masked(tmp_path):
    """#38's crowd footage: ``--pan-crowd N`` pans only across photos with at least N labelled faces; every run
    reports the share of the frame masked (a wholly obscured frame counts whole) and each mask against the face
    it covers."""
    import json

    import cv2
    import numpy as np

    from livecam.errors import LivecamError
    from livecam.harness.paneval import PanScore, build_pan_clip

    faces = {"crowd.png": [[20 + 30 * k, 40, 40 + 30 * k, 60] for k in range(5)], "two.png": [[50, 50, 70, 70]] * 2}
    for name in faces:
        cv2.imwrite(str(tmp_path / name), np.full((120, 220, 3), 128, np.uint8))
    (tmp_path / "boxes.json").write_text(json.dumps(faces))
    assert len(build_pan_clip(tmp_path, (160, 120), 8).images) == 2
    crowd = build_pan_clip(tmp_path, (160, 120), 8, min_faces=3)
    assert len(crowd.images) == 1 and len(crowd.boxes[0]) == 5
    with pytest.raises(LivecamError, match="with 6 or more labelled faces"):
        build_pan_clip(tmp_path, (160, 120), 8, min_faces=6)

    score = PanScore()
    mask = np.zeros((120, 160), bool)
    b, _, _ = crowd.labels(0)
    for x1, y1, x2, y2 in b.astype(int):
        mask[y1:y2, x1:x2] = True
    score.add(crowd, 0, mask, b.copy())       # each face masked exactly: 1.0x
    score.add(crowd, 1, None)                 # wholly obscured
    row = score.row("test")
    assert row.masked == pytest.approx((mask.mean() + 1.0) / 2)
    assert row.ratio == (pytest.approx(1.0), pytest.approx(1.0)) and row.unmatched == 0
    assert row.covered == 1.0


def test_livecam_bench_finds_the_street_clip_beside_the_project_by_default():
    """``livecam bench`` with no clip replays ``../shared``'s street clip (it looked inside the project after the
    harness moved into its own package)."""
    from livecam.harness.bench import default_clip
    from tests.conftest import SHARED

    assert default_clip() == (SHARED / "data" / "clips" / "street-1080p.mp4").resolve()
