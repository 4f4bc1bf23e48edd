"""Settings file round trip, validation and recovery; `livecam eval`; presenter choice."""

from __future__ import annotations

import numpy as np
import pytest

from livecam import settings as S
from livecam.effects import Effect
from livecam.faces import Faces
from livecam.presenter import PresenterChooser
from tests.conftest import DATA
from tests.helpers import livecam


def test_round_trip(tmp_path):
    s = S.Settings(effect=Effect.PIXELATE, strength=2.0, color=(0, 0, 255), size=(1280, 720), presenter=True)
    path = S.save(s, tmp_path / "settings.toml")
    assert 'color = "#ff0000"' in path.read_text()
    assert S.load(path) == s


@pytest.mark.parametrize("text, message", [
    ('effect = "swirl"', "invalid setting effect = 'swirl': expected one of blur, pixelate, solid"),
    ("strength = 9", "strength must be between 0.5 and 4"),
    ('size = "big"', "invalid size 'big': expected WIDTHxHEIGHT"),
    ("frobnicate = 1", "unknown setting 'frobnicate'"),
    ('stale_ms = "fast"', "invalid setting stale_ms = 'fast': expected int"),
])
def test_validation_names_key_and_expected_value(text, message):
    import tomllib

    with pytest.raises(S.SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        S.from_mapping(tomllib.loads(text))


def test_corrupt_file_is_moved_aside_and_defaults_used(tmp_path, caplog):
    path = tmp_path / "settings.toml"
    path.write_text("effect = [unclosed")
    assert S.load(path) == S.Settings()
    assert not path.exists() and (tmp_path / "settings.toml.bad").exists()
    assert "is not valid" in caplog.text


def test_cli_options_override_the_file(tmp_path):
    from livecam.cli import build_parser, settings_from_args

    path = S.save(S.Settings(effect=Effect.PIXELATE, strength=2.0), tmp_path / "s.toml")
    args = build_parser().parse_args(["anonymize", "x.jpg", "-o", "y.jpg", "--config", str(path), "--effect", "solid"])
    s = settings_from_args(args)
    assert s.effect is Effect.SOLID and s.strength == 2.0


def test_eval_photos_prints_the_coverage_table():
    r = livecam("-q", "eval", DATA / "dlib-faces-dev")
    assert r.returncode == 0, r.stderr
    assert "| all | 18 | 100.0% |" in r.stdout
    assert "over-masked:" in r.stdout


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
    assert bad.returncode == 2 and "threshold 2 is out of range" in bad.stderr


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
