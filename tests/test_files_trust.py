"""Nothing silently wrong with files (#35): the boxes round trip renders exactly the video it was made from,
side files (--export-boxes, --audit) follow the output rule, archive footage with gaps or damage is anonymized,
a batch killed outright leaves no worker behind, and the audit log has no gap after a stop.

Inputs are the bundled demo clip (two people, 480x270) made into videos here: nothing needs ../shared."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from livecam.inputs import demo_clip

from tests.conftest import box_coverage, is_magenta
from tests.helpers import livecam, make_video, read_video

PAINT = ("--effect", "solid", "--color", "magenta")


@pytest.fixture(scope="module")
def demo_frames() -> list[np.ndarray]:
    frames, _, _ = read_video(demo_clip())
    return frames


@pytest.fixture(scope="module")
def short(tmp_path_factory, demo_frames) -> Path:
    """40 frames of the demo clip (two faces in each)."""
    path = tmp_path_factory.mktemp("in") / "talk.mp4"
    make_video(demo_frames[:40], path, fps=12)
    return path


@pytest.fixture(scope="module")
def reference(detector, demo_frames) -> list[np.ndarray]:
    """Per demo frame: the faces the detector finds at full size with a score of 0.5 or more."""
    out = []
    for f in demo_frames:
        faces = detector.detect(f, f.shape[1], 0.2)
        out.append(faces.xyxy[faces.score >= 0.5])
    return out


def _one_error_line(r: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and ln.startswith("livecam")]
    assert r.returncode != 0 and lines and lines[-1].startswith("livecam: error: "), r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    return lines[-1]


def _exported(src: Path, tmp_path: Path) -> tuple[Path, dict]:
    boxes = tmp_path / "boxes.json"
    r = livecam("anonymize", src, "-o", tmp_path / "first.mp4", "--export-boxes", boxes)
    assert r.returncode == 0, r.stderr
    return boxes, json.loads(boxes.read_text())


# -- 1, 5: the boxes round trip ---------------------------------------------------------------------------
@pytest.mark.parametrize("declared", ["as exported", "edited to match"])
def test_a_boxes_file_that_lacks_frames_is_refused_and_nothing_is_written(short, tmp_path, declared):
    """A boxes file listing 10 of the video's 40 frames rendered frames 11-40 bare, with exit 0. Now refused,
    whether or not the frame count it declares was edited to match the shorter list."""
    boxes, data = _exported(short, tmp_path)
    entry = data["files"][0]
    assert len(entry["frames"]) == 40 and all(entry["frames"])  # two faces in every frame
    entry["frames"] = entry["frames"][:10]
    if declared != "as exported":
        entry["video"]["frames"] = 10
    boxes.write_text(json.dumps(data))
    out = tmp_path / "render.mp4"
    line = _one_error_line(livecam("anonymize", short, "-o", out, "--boxes", boxes))
    assert "--boxes" in line and ("frame" in line)
    assert not out.exists() and not list(tmp_path.glob(".render*"))


def test_boxes_made_for_another_video_of_the_same_name_are_refused(short, demo_frames, tmp_path):
    """The boxes of a 40-frame talk.mp4 were applied by name to another talk.mp4 of 110 frames: frames 41-110
    bare. The input is now named by its content."""
    boxes, _ = _exported(short, tmp_path)
    other = tmp_path / "elsewhere" / short.name
    other.parent.mkdir()
    make_video(demo_frames, other, fps=12)
    out = tmp_path / "render.mp4"
    line = _one_error_line(livecam("anonymize", other, "-o", out, "--boxes", boxes))
    assert "lists no boxes for" in line and "content" in line
    assert not out.exists()


def test_an_empty_frame_list_is_a_frame_left_bare_on_purpose(short, tmp_path):
    """What the reviewer emptied stays distinguishable from what the file lacks: ``[]`` renders that frame
    uncovered, the rest as listed."""
    boxes, data = _exported(short, tmp_path)
    data["files"][0]["frames"][5] = []
    boxes.write_text(json.dumps(data))
    r = livecam("anonymize", short, "-o", tmp_path / "r.mp4", "--boxes", boxes, *PAINT)
    assert r.returncode == 0, r.stderr
    out, _, _ = read_video(tmp_path / "r.mp4")
    assert len(out) == 40
    painted = [is_magenta(f).mean() for f in out]
    assert painted[5] < 0.001 and min(painted[:5] + painted[6:]) > 0.005


def test_a_rerun_with_edited_boxes_renders_the_edit(short, tmp_path):
    """After a render with the exported boxes, the same command with an edited file said "resuming: 1 of 1
    outputs are complete" and kept the old output, exit 0: a face the reviewer added stayed bare. Now the
    edited file is another render: refused over the old output, rendered with --overwrite."""
    boxes, data = _exported(short, tmp_path)
    out = tmp_path / "r.mp4"
    assert livecam("anonymize", short, "-o", out, "--boxes", boxes, *PAINT).returncode == 0
    before, _, _ = read_video(out)
    assert not is_magenta(before[20])[200:260, 400:470].any()
    data["files"][0]["frames"][20].append([400, 200, 470, 260, 1.0, -1])  # a face the reviewer added
    boxes.write_text(json.dumps(data))
    line = _one_error_line(livecam("anonymize", short, "-o", out, "--boxes", boxes, *PAINT))
    assert "already exists" in line and "--overwrite" in line  # not "complete from an earlier run"
    r = livecam("anonymize", short, "-o", out, "--boxes", boxes, *PAINT, "--overwrite")
    assert r.returncode == 0, r.stderr
    after, _, _ = read_video(out)
    assert is_magenta(after[20])[215:245, 415:455].mean() > 0.9


# -- 2: files livecam writes besides the outputs -------------------------------------------------------------
def test_side_files_never_replace_an_input_an_output_or_a_users_file(short, tmp_path):
    src = tmp_path / "inp.mp4"
    shutil.copy(short, src)
    original = src.read_bytes()
    mine = tmp_path / "notes.txt"
    mine.write_text("my own notes\n")
    cases = [("--export-boxes", src, "is an input"), ("--audit", src, "is an input"),
             ("--export-boxes", tmp_path / "x.mp4", "is an output"), ("--audit", tmp_path / "x.mp4", "is an output"),
             ("--export-boxes", mine, "already exists"), ("--audit", mine, "not a livecam audit log")]
    for option, target, says in cases:
        line = _one_error_line(livecam("anonymize", src, "-o", tmp_path / "x.mp4", option, target))
        assert option in line and says in line, (option, target, line)
    assert src.read_bytes() == original and mine.read_text() == "my own notes\n"
    assert not (tmp_path / "x.mp4").exists()
    # --overwrite replaces an exported boxes file, never a user's file as an audit log or the input
    r = livecam("anonymize", src, "-o", tmp_path / "x.mp4", "--audit", mine, "--overwrite")
    assert "not a livecam audit log" in _one_error_line(r) and mine.read_text() == "my own notes\n"
    r = livecam("anonymize", src, "-o", tmp_path / "x.mp4", "--export-boxes", src, "--overwrite")
    assert "is an input" in _one_error_line(r) and src.read_bytes() == original
    # an audit log of livecam's own is appended to
    audit = tmp_path / "audit.jsonl"
    assert livecam("anonymize", src, "-o", tmp_path / "y.mp4", "--audit", audit).returncode == 0
    assert livecam("anonymize", src, "-o", tmp_path / "z.mp4", "--audit", audit).returncode == 0
    lines = [json.loads(x) for x in audit.read_text().splitlines()]
    assert [x.get("summary", False) for x in lines] == [False, True, False, True]


# -- 3, 4: archive footage -------------------------------------------------------------------------------
def _covered_share(out: list[np.ndarray], reference: list[np.ndarray], order: list[int]) -> float:
    hits = [box_coverage(is_magenta(f), b) >= 0.7 for f, i in zip(out, order) for b in reference[i]]
    assert len(hits) > 40
    return float(np.mean(hits))


def test_a_video_with_gaps_in_its_timestamps_keeps_them_and_every_face_is_covered(demo_frames, reference,
                                                                                 tmp_path):
    """A paused recording (gaps of 67 ms to 1 s between frames 80 ms apart): "could not transcode the video
    (Invalid argument)" before; now every frame keeps its time and every face is covered."""
    times, t = [], 0
    for i in range(60):
        times.append(t)
        t += {15: 1000, 30: 200, 45: 67}.get(i, 80)
    src = tmp_path / "gap.mp4"
    make_video(demo_frames[:60], src, fps=12, times_ms=times)
    out = tmp_path / "out.mp4"
    r = livecam("anonymize", src, "-o", out, *PAINT)
    assert r.returncode == 0, r.stderr
    frames, ts, _ = read_video(out)
    _, ts_in, _ = read_video(src)
    assert len(frames) == 60 and np.allclose(ts, ts_in, atol=1e-3)
    assert _covered_share(frames, reference, list(range(60))) == 1.0


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs Debian's ffmpeg for its concat demuxer")
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_two_recordings_joined_by_ffmpegs_concat_anonymize_with_their_timestamps(demo_frames, reference, tmp_path,
                                                                                 jobs):
    """Each recording's sound runs 0.27 s past its picture, so the joined video has a gap at the join: "could not
    transcode the video (Invalid argument)" before, in one piece and in parts."""
    part = tmp_path / "part.mp4"
    make_video(demo_frames[:40], part, fps=12, audio_seconds=3.6)
    listing = tmp_path / "list.txt"
    listing.write_text(f"file '{part}'\nfile '{part}'\n")
    src = tmp_path / "joined.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "concat", "-safe", "0", "-i", listing, "-c", "copy", src],
                   check=True)
    out = tmp_path / "out.mp4"
    r = livecam("anonymize", src, "-o", out, "--jobs", jobs, "--chunk", "1", *PAINT)
    assert r.returncode == 0, r.stderr
    frames, ts, _ = read_video(out)
    _, ts_in, _ = read_video(src)
    assert len(frames) == 80 and np.allclose(ts, ts_in, atol=1e-3)
    assert _covered_share(frames, reference, list(range(40)) * 2) == 1.0


def test_a_damaged_video_is_anonymized_where_it_decodes_and_says_what_was_lost(short, reference, tmp_path):
    """Five packets with a broken NAL length: ffmpeg decodes 35 of 40 frames; livecam refused the whole file.
    Now the frames that decode are anonymized and written, and one line says how many were lost and where."""
    import av

    with av.open(str(short)) as c:
        where = [(p.pos, float(p.pts * p.time_base)) for p in c.demux(c.streams.video[0])
                 if p.pos is not None and p.pts is not None and p.time_base is not None]
    data = bytearray(short.read_bytes())
    lost = sorted(where, key=lambda x: x[1])[20:25]
    for pos, _ in lost:
        data[pos:pos + 4] = b"\xff\xff\xff\xff"
    src = tmp_path / "damaged.mp4"
    src.write_bytes(bytes(data))
    out = tmp_path / "out.mp4"
    r = livecam("anonymize", src, "-o", out, *PAINT)
    assert r.returncode == 0, r.stderr
    frames, ts, _ = read_video(out)
    _, ts_in, _ = read_video(short)
    assert 30 <= len(frames) <= 35
    warn = [ln for ln in r.stderr.splitlines() if "could not be decoded" in ln]
    assert len(warn) == 1 and f"damaged: {40 - len(frames)} frame(s) could not be decoded" in warn[0], r.stderr
    import re

    a, b = (float(x) for x in re.search(r"at ([\d.]+)-([\d.]+) s", warn[0]).groups())  # type: ignore[union-attr]
    assert a - 0.5 <= float(lost[0][1]) and float(lost[-1][1]) <= b + 0.5  # where (a decoder's threads blur it)
    order = [int(np.argmin(np.abs(np.asarray(ts_in) - t))) for t in ts]  # which input frame each one is
    assert _covered_share(frames, reference, order) == 1.0  # no frame leaves without its faces covered


# -- 6, 7: batches stopped from outside ----------------------------------------------------------------------
@pytest.fixture()
def folder(tmp_path, demo_frames) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    for k in range(3):
        make_video(demo_frames * 2, src / f"clip{k}.mp4", fps=12)
    return src


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_with_a_batch_killed_outright_and_the_rerun_completes(folder, tmp_path):
    """``kill -9`` of the batch's process (the OOM killer) left its workers running, ~760 MB each, and the rerun
    refused their outputs. Now they end within 5 s, and the same command run again completes the batch."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "livecam", "anonymize", str(folder), "-o", f"{out}/", "--jobs", "2", "--chunk", "0"]
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 180
    while not list(out.glob("in/.*livecam-tmp*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = [w for c in _children(proc.pid) for w in [c, *_children(c)]]
    assert list(out.glob("in/.*livecam-tmp*")) and len(workers) >= 2, "the workers never started writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(5)
    assert not [w for w in workers if _alive(w)], "workers outlived the batch killed with -9"
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    for k in range(3):
        frames, _, _ = read_video(out / "in" / f"clip{k}.mp4")
        assert len(frames) == 220
    assert not list(out.glob("in/.*livecam-tmp*")) and not list(out.glob("in/.*livecam-part*"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sends SIGTERM")
def test_files_finished_before_a_stop_are_in_the_audit_log(folder, tmp_path):
    """Stopped by SIGTERM after its first file, a batch wrote no audit line for it; the resumed run listed it
    only as skipped. Now it has its "done" line (faces, tracks) and the summary says the batch was stopped."""
    out, audit = tmp_path / "out", tmp_path / "audit.jsonl"
    cmd = [sys.executable, "-m", "livecam", "anonymize", str(folder), "-o", f"{out}/", "--jobs", "1",
           "--audit", str(audit)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (out / "in" / "clip0.mp4").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (out / "in" / "clip0.mp4").exists()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    lines = [json.loads(x) for x in audit.read_text().splitlines()]
    done = [x for x in lines if x.get("status") == "done"]
    assert [Path(x["input"]).name for x in done][:1] == ["clip0.mp4"]
    assert done[0]["faces_per_frame"] and done[0]["tracks"]
    assert lines[-1]["summary"] and lines[-1]["stopped"] is True
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in audit.read_text().splitlines()]
    assert sum(x.get("status") == "done" for x in lines) == 3  # each file has its done line, once
    assert os.path.getsize(out / "in" / "clip0.mp4") > 0
