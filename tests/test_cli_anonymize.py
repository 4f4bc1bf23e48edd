"""`livecam anonymize` end to end: real faces covered, videos kept intact, bad input handled."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from livecam.media import read_image

from tests.conftest import DATA, box_coverage, is_magenta, load_boxes, needs_data
from tests.helpers import X264_REPEATABLE, audio_packets, livecam, make_video, read_video, ytf_tracks

SOLID = ("--effect", "solid", "--color", "magenta")


@needs_data
def test_every_dlib_face_is_covered(tmp_path):
    r = livecam("anonymize", DATA / "dlib-faces-dev" / "images", "-o", tmp_path, *SOLID)
    assert r.returncode == 0, r.stderr
    for name, boxes in load_boxes("dlib-faces-dev").items():
        out = read_image(tmp_path / "images" / name.split("/")[-1])
        covered = is_magenta(out)
        for b in boxes:
            assert box_coverage(covered, b) >= 0.7, f"{name}: face {b.tolist()} not covered"


@needs_data
def test_wider_easy_and_medium_at_least_as_well_as_deface(tmp_path):
    import json

    r = livecam("anonymize", DATA / "wider-val-dev" / "images", "-o", tmp_path, *SOLID)
    assert r.returncode == 0, r.stderr
    attrs = json.loads((DATA / "wider-val-dev" / "attributes.json").read_text())
    hit: dict[str, list[bool]] = {"easy": [], "medium": []}
    for name, boxes in load_boxes("wider-val-dev").items():
        covered = is_magenta(read_image(tmp_path / "images" / name.split("/")[-1]))
        for b, a in zip(boxes, attrs[name]):
            if a["invalid"] or a["difficulty"] not in ("easy", "medium"):
                continue
            ok = box_coverage(covered, b) >= 0.7
            hit["medium"].append(ok)  # easy is a subset of medium
            if a["difficulty"] == "easy":
                hit["easy"].append(ok)
    # deface 1.5 at its defaults, same rule, same images: easy 88%, medium 90%
    assert np.mean(hit["easy"]) >= 0.88, np.mean(hit["easy"])
    assert np.mean(hit["medium"]) >= 0.90, np.mean(hit["medium"])


@pytest.fixture(scope="module")
def ytf_videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ytf")
    videos = {}
    for i, (clip, track) in enumerate(sorted(ytf_tracks().items())):
        frames = [read_image(DATA / "ytf-clips-dev" / t["frame"]) for t in track]
        path = folder / f"{clip}.mp4"
        make_video(frames, path, audio_seconds=len(frames) / 25 if i == 0 else None, repeatable=True)
        videos[clip] = (path, track, frames[0].shape)
    return videos


@needs_data
def test_ytf_clips_face_covered_in_every_frame_and_video_kept_intact(ytf_videos, tmp_path):
    src = ytf_videos
    r = livecam("anonymize", *[p for p, _, _ in src.values()], "-o", tmp_path, *SOLID)
    assert r.returncode == 0, r.stderr
    for clip, (path, track, shape) in src.items():
        frames, ts, has_audio = read_video(tmp_path / path.name)
        in_frames, in_ts, in_audio = read_video(path)
        assert len(frames) == len(track) == len(in_frames)
        assert frames[0].shape == in_frames[0].shape
        assert ts == pytest.approx(in_ts)
        assert has_audio == in_audio
        if in_audio:
            assert audio_packets(tmp_path / path.name) == audio_packets(path), "audio must be copied untouched"
        for i, (frame, t) in enumerate(zip(frames, track)):
            assert box_coverage(is_magenta(frame), t["box"]) >= 0.7, f"{clip} frame {i}: labelled face not covered"


@needs_data
def test_single_photo_to_named_output(tmp_path):
    out = tmp_path / "out.png"
    r = livecam("anonymize", DATA / "dlib-faces-dev" / "images" / "2008_001009.jpg", "-o", out, *SOLID)
    assert r.returncode == 0, r.stderr
    img = read_image(out)
    for b in load_boxes("dlib-faces-dev")["images/2008_001009.jpg"]:
        assert box_coverage(is_magenta(img, tol=0), b) >= 0.7


def _bad_inputs(tmp):
    text = tmp / "notes.txt"
    text.write_text("hello")
    fake = tmp / "fake.jpg"
    fake.write_text("not really a jpeg")
    photo = tmp / "photo.jpg"
    shutil.copy(DATA / "dlib-faces-dev" / "images" / "2008_001009.jpg", photo)
    blocker = tmp / "blocker"
    blocker.write_text("a file where a folder should be")
    return {
        "missing": (["anonymize", tmp / "nope.mp4", "-o", tmp / "o.mp4"], 2, "input not found: "),
        "not media": (["anonymize", text, "-o", tmp / "o"], 2, "not a photo or video livecam knows"),
        "corrupt": (["anonymize", fake, "-o", tmp / "o.jpg"], 2, "not a readable image"),
        "overwrite": (["anonymize", photo, "-o", photo], 2, "would overwrite the input"),
        "unwritable": (["anonymize", photo, "-o", blocker / "sub" / "x.jpg"], 2, "is a file"),
        "unwritable fs": (["anonymize", photo, "-o", "/sys/livecam-test/x.jpg"], 2, "cannot write to output folder"),
        "bad effect": (["anonymize", photo, "-o", tmp / "o.jpg", "--effect", "swirl"], 2, "invalid choice: 'swirl'"),
        "bad strength": (["anonymize", photo, "-o", tmp / "o.jpg", "--strength", "9"], 2, "strength must be between"),
        "bad color": (["anonymize", photo, "-o", tmp / "o.jpg", "--color", "sky"], 2, "invalid color 'sky'"),
        "no cuda": (["anonymize", photo, "-o", tmp / "o.jpg", "--device", "cuda"], 2, "no CUDA GPU"),
    }


@needs_data
@pytest.mark.parametrize("case", ["missing", "not media", "corrupt", "overwrite", "unwritable", "unwritable fs",
                                  "bad effect", "bad strength", "bad color", "no cuda"])
def test_bad_input_one_line_error(tmp_path, case):
    import torch

    if case == "no cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    args, code, message = _bad_inputs(tmp_path)[case]
    r = livecam(*args)
    assert r.returncode == code, r.stderr
    errors = [line for line in r.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("livecam: error: "), r.stderr
    assert r.stderr.strip().splitlines()[-1] == errors[0]
    assert message in errors[0]
    assert "Traceback" not in r.stderr


@needs_data
def test_a_bad_file_is_named_and_the_others_are_done(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(DATA / "dlib-faces-dev" / "images" / "2008_001009.jpg", src / "a.jpg")
    (src / "b.jpg").write_bytes(b"\xff\xd8 broken")
    shutil.copy(DATA / "dlib-faces-dev" / "images" / "2008_001322.jpg", src / "c.jpg")
    r = livecam("anonymize", src, "-o", tmp_path / "out")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (
        f"livecam: error: {src / 'b.jpg'}: not a readable image (corrupt, empty or not "
        f"really a .jpg file) (2 of 3 files were done and kept)")
    for name in ("a.jpg", "c.jpg"):
        done = read_image(tmp_path / "out" / "in" / name)
        assert done is not None and done.shape == read_image(src / name).shape
    assert not (tmp_path / "out" / "in" / "b.jpg").exists()


def _ytf_clip(i=0):
    clip, track = sorted(ytf_tracks().items())[i]
    return clip, track, [read_image(DATA / "ytf-clips-dev" / t["frame"]) for t in track]


@needs_data
@pytest.mark.parametrize("ext", [".gif", ".webm"])
def test_gif_and_webm_outputs_are_written_with_every_face_covered(tmp_path, ext):
    clip, track, frames = _ytf_clip()
    src = tmp_path / f"{clip}.mp4"
    make_video(frames, src, audio_seconds=len(frames) / 25)  # AAC cannot go into WebM: left out with a warning
    r = livecam("anonymize", src, "-o", tmp_path / f"out{ext}", *SOLID)
    assert r.returncode == 0, r.stderr
    out, _, _ = read_video(tmp_path / f"out{ext}")
    assert len(out) == len(frames) and out[0].shape[:2] == (frames[0].shape[0] // 2 * 2, frames[0].shape[1] // 2 * 2)
    for i, (frame, t) in enumerate(zip(out, track)):
        assert box_coverage(is_magenta(frame, tol=90), t["box"]) >= 0.7, f"{ext} frame {i}: face not covered"


@needs_data
def test_a_folder_with_a_gif_is_done_whole(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(DATA / "clips" / "head-pose-face-detection-female.gif", src / "a.gif")
    shutil.copy(DATA / "dlib-faces-dev" / "images" / "2008_001009.jpg", src / "b.jpg")
    r = livecam("-q", "anonymize", src, "-o", tmp_path / "out", "--small-faces-every", "0")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "in" / "a.gif").stat().st_size > 0 and (tmp_path / "out" / "in" / "b.jpg").exists()


@needs_data
def test_a_truncated_video_is_an_error_and_writes_nothing(tmp_path):
    _, _, frames = _ytf_clip()
    src = tmp_path / "clip.mp4"
    make_video(frames, src, options={"movflags": "faststart"})  # index first, as phones write them
    data = src.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    r = livecam("anonymize", cut, "-o", tmp_path / "out.mp4")
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith(f"livecam: error: {cut}: the video ends early: decoded ") and \
        f"of the {len(frames)} frames it declares" in line, line
    assert not (tmp_path / "out.mp4").exists() and not list(tmp_path.glob(".out*")), "no partial output"


@needs_data
def test_folder_batches_refuse_collisions_stay_inside_and_skip_hidden(tmp_path):
    photo = DATA / "dlib-faces-dev" / "images" / "2008_001009.jpg"
    for d in ("a", "b", "c/sub", "c/.git/objects"):
        (tmp_path / d).mkdir(parents=True)
    shutil.copy(photo, tmp_path / "a" / "x.jpg")
    shutil.copy(photo, tmp_path / "b" / "x.jpg")
    shutil.copy(photo, tmp_path / "c" / "y.jpg")
    for i in range(50):
        (tmp_path / "c" / ".git" / "objects" / f"{i:02x}").write_text("blob")
    out = tmp_path / "out"
    r = livecam("anonymize", tmp_path / "a" / "x.jpg", tmp_path / "b" / "x.jpg", "-o", out)
    assert r.returncode == 2 and "would both be written to" in r.stderr, r.stderr
    assert not out.exists() or not any(out.iterdir()), "nothing is written when two inputs collide"
    r = livecam("anonymize", tmp_path / "c" / "sub" / "..", "-o", out, "--small-faces-every", "0")
    assert r.returncode == 0, r.stderr
    assert (out / "c" / "y.jpg").exists(), "c/sub/.. is the folder c, mirrored inside -o"
    assert not (tmp_path / "y.jpg").exists() and not list(tmp_path.glob("*.jpg")), "nothing written outside -o"
    assert "skipping" not in r.stderr and ".git" not in r.stderr, "hidden folders are skipped quietly"


@needs_data
@pytest.mark.parametrize("split", [[], ["--jobs", "2", "--chunk", "2"]], ids=["one piece", "in parts"])
def test_a_rotated_phone_video_is_anonymized_and_written_upright(tmp_path, split):
    """Phones store portrait video sideways with a rotation flag: detecting on the sideways pixels
    left a close face bare. The output shows what a player shows, upright, every face covered."""
    import av
    from fractions import Fraction

    clip, track, frames = _ytf_clip()
    src = tmp_path / "phone.mp4"
    h, w = frames[0].shape[:2]
    with av.open(str(src), "w") as out:
        v = out.add_stream("libx264", rate=25, options=X264_REPEATABLE)
        v.width, v.height, v.pix_fmt = h, w, "yuv420p"  # stored sideways...
        v.set_display_rotation(90)  # ...shown turned 90 degrees counter-clockwise: upright
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(cv2.rotate(f, cv2.ROTATE_90_CLOCKWISE)), format="bgr24")
            vf.pts, vf.time_base = i, Fraction(1, 25)
            for p in v.encode(vf):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)
    r = livecam("anonymize", src, "-o", tmp_path / "out.mp4", *SOLID, *split)
    assert r.returncode == 0, r.stderr
    assert ("parts joined" in r.stderr) == bool(split)
    got, ts, _ = read_video(tmp_path / "out.mp4")
    assert len(got) == len(frames) and got[0].shape == frames[0].shape, "written upright"
    assert ts == read_video(src)[1]
    for i, (frame, t) in enumerate(zip(got, track)):
        assert box_coverage(is_magenta(frame), t["box"]) >= 0.7, f"frame {i}: face bare"
