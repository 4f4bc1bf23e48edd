"""Archives (`livecam anonymize` batches): --jobs, a killed worker, resume, the audit log, the boxes round trip.
Real clips (the YouTube Faces dev clips as videos, with audio), outputs checked in their pixels."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from livecam.media import Span, read_image, split, temporary_path

from tests.conftest import DATA, box_coverage, is_magenta, needs_data
from tests.helpers import audio_packets, livecam, make_dev_clips, make_long_dev_video, make_video, read_video, ytf_tracks


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """The four dev clips as H.264 + AAC videos in ``in/`` (132-217 frames each)."""
    root = tmp_path_factory.mktemp("batch")
    make_dev_clips(root / "in")
    return root


def _same_pixels(a: Path, b: Path) -> bool:
    fa, ta, _ = read_video(a)
    fb, tb, _ = read_video(b)
    return len(fa) == len(fb) and ta == tb and all(np.array_equal(x, y) for x, y in zip(fa, fb))


def _labelled_covered(out_dir: Path) -> list[float]:
    """Per clip: the share of labelled face-frames at least 70% painted (``--effect solid --color magenta``)."""
    shares = []
    for name, rows in sorted(ytf_tracks().items()):
        frames, _, _ = read_video(out_dir / f"{name}.mp4")
        shares.append(float(np.mean([box_coverage(is_magenta(frames[i]), r["box"]) >= 0.7
                                     for i, r in enumerate(rows)])))
    return shares


@needs_data
def test_jobs_2_writes_what_jobs_1_writes_with_an_audit_line_per_input(clips, tmp_path):
    audit = tmp_path / "audit.jsonl"
    paint = ("--effect", "solid", "--color", "magenta")
    r1 = livecam("anonymize", clips / "in", "-o", tmp_path / "one/", "--jobs", "1", *paint)
    r2 = livecam("anonymize", clips / "in", "-o", tmp_path / "two/", "--jobs", "2", "--audit", audit, *paint)
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    for name in ytf_tracks():
        a, b = tmp_path / "one" / "in" / f"{name}.mp4", tmp_path / "two" / "in" / f"{name}.mp4"
        assert _same_pixels(a, b), name
        assert audio_packets(b) == audio_packets(clips / "in" / f"{name}.mp4")
    assert min(_labelled_covered(tmp_path / "two" / "in")) >= 0.95
    lines = [json.loads(x) for x in audit.read_text().splitlines()]
    files, summary = lines[:-1], lines[-1]
    assert len(files) == 4 and summary["summary"] and summary["done"] == 4 and summary["failed"] == []
    rows = ytf_tracks()
    for rec in files:
        name = Path(rec["input"]).stem
        assert rec["status"] == "done" and rec["frames"] == len(rows[name]) == len(rec["faces_per_frame"])
        assert rec["model_sha256"] == "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
        assert rec["settings"]["threshold"] == 0.2 and rec["livecam"]
        assert rec["output_bytes"] == os.path.getsize(rec["output"]) and rec["seconds"] > 0
        assert min(rec["faces_per_frame"]) >= 1 and rec["tracks"][0]["first_frame"] == 0
    assert summary["frames"] == sum(len(v) for v in rows.values())


def test_split_puts_every_frame_in_exactly_one_part():
    spans = split(21.12, 4.0, warm=3.0, tail=1.2)
    assert len(spans) == 5 and spans[0].warm == 0 and spans[-1].tail == 0 and spans[-1].end == float("inf")
    for t in np.arange(0, 30, 0.04):  # past the declared duration too: the last part takes what is left
        assert sum(s.writes(float(t)) for s in spans) == 1
        assert all(s.sees(float(t)) for s in spans if s.writes(float(t)))
    assert split(7.9, 4.0, 3.0, 1.2) == [Span(0.0, float("inf"))]
    assert split(7.9, 0, 3.0, 1.2) == [Span(0.0, float("inf"))]


@needs_data
def test_a_long_video_split_into_parts_is_joined_into_what_one_piece_writes(tmp_path):
    """--jobs 2 --chunk 4 splits a 21 s video (with sound) into five parts done in parallel: the joined file has
    every frame with its timestamp, the sound packet for packet, and covers every labelled face that the
    file made in one piece covers; the boxes are the one piece's away from the joins; no part is left behind."""
    src = tmp_path / "long.mp4"
    name, order = make_long_dev_video(src)
    rows = ytf_tracks()[name]
    paint = ("--effect", "solid", "--color", "magenta")
    r1 = livecam("anonymize", src, "-o", tmp_path / "one.mp4", "--jobs", "1", "--export-boxes", tmp_path / "b1.json",
                 *paint)
    r2 = livecam("anonymize", src, "-o", tmp_path / "out" / "parts.mp4", "--jobs", "2", "--chunk", "4",
                 "--export-boxes", tmp_path / "b2.json", "--audit", tmp_path / "audit.jsonl", *paint)
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    assert "into parts of 4 s or more: 5 parts" in r2.stderr
    one, t1, _ = read_video(tmp_path / "one.mp4")
    parts, t2, _ = read_video(tmp_path / "out" / "parts.mp4")
    _, t_in, _ = read_video(src)
    assert len(parts) == len(one) == len(order) and t2 == t1 == t_in
    assert audio_packets(tmp_path / "out" / "parts.mp4") == audio_packets(src)
    covered = [[box_coverage(is_magenta(f[k]), rows[i]["box"]) >= 0.7 for k, i in enumerate(order)]
               for f in (one, parts)]
    assert np.mean(covered[1]) >= 0.95
    assert not [k for k in range(len(order)) if covered[0][k] and not covered[1][k]]
    b1, b2 = (json.loads((tmp_path / b).read_text())["files"][0]["frames"] for b in ("b1.json", "b2.json"))
    # (to a hundredth of a pixel and 1e-4 in score: a worker's single torch thread sums in another order than two
    # threads do, and the tracker carries the last bits on: up to 1.1e-4 px apart on this machine's torch 2.14)
    same = [len(f1) == len(f2) and np.allclose([x[:4] for x in f1], [y[:4] for y in f2], rtol=0, atol=1e-2)
            and np.allclose([x[4] for x in f1], [y[4] for y in f2], rtol=0, atol=1e-4)
            for f1, f2 in zip(sorted_boxes(b1), sorted_boxes(b2))]
    assert np.mean(same) >= 0.9, f"boxes differ in {len(same) - sum(same)} of {len(same)} frames"
    rec = json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[0])
    assert rec["parts"] == 5 and rec["frames"] == len(order) == len(rec["faces_per_frame"])
    assert len({t["id"] for t in rec["tracks"]}) == len(rec["tracks"])
    assert all(0 <= t["first_frame"] <= t["last_frame"] < len(order) for t in rec["tracks"])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".livecam-done.json", "parts.mp4"]


def test_parts_keep_every_timestamp_of_a_matroska_video_with_a_gap(tmp_path):
    """Matroska keeps no dts for B-frames and counts milliseconds: a video that pauses for half a second,
    split into parts and joined into .mkv, has every frame at its own time and the sound packet for packet
    (joined from parts in Matroska, 6 frames without a dts were lost; parts are MP4 now)."""
    src = tmp_path / "gap.mkv"
    frames = []
    for i in range(250):
        img = np.zeros((240, 320, 3), np.uint8)
        img[:, :, 1] = (np.arange(320)[None, :] + 3 * i) % 256
        frames.append(img)
    make_video(frames, src, audio_seconds=10, times_ms=[i * 40 + (500 if i >= 100 else 0) for i in range(250)])
    r1 = livecam("anonymize", src, "-o", tmp_path / "one.mkv", "--jobs", "1")
    r2 = livecam("anonymize", src, "-o", tmp_path / "parts.mkv", "--jobs", "2", "--chunk", "2")
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    assert "5 parts joined" in r2.stderr
    _, t_in, _ = read_video(src)
    _, t1, _ = read_video(tmp_path / "one.mkv")
    _, t2, _ = read_video(tmp_path / "parts.mkv")
    assert len(t_in) == 250 and t2 == t1 == t_in
    assert audio_packets(tmp_path / "parts.mkv") == audio_packets(src)


def sorted_boxes(frames: list) -> list:
    """Per frame, its boxes in a fixed order (track ids are numbered per part)."""
    return [sorted(f, key=lambda b: [round(v, 3) for v in b[:4]]) for f in frames]


@needs_data
def test_resume_redoes_only_what_is_missing_and_never_overwrites_a_users_file(clips, tmp_path):
    out = tmp_path / "out/"
    assert livecam("anonymize", clips / "in", "-o", out, "--jobs", "1").returncode == 0
    done = sorted((tmp_path / "out" / "in").glob("*.mp4"))
    before = {p.name: p.stat().st_mtime_ns for p in done}
    done[1].unlink()
    r = livecam("anonymize", clips / "in", "-o", out, "--jobs", "2")
    assert r.returncode == 0, r.stderr
    assert "3 of 4 outputs are complete from an earlier run" in r.stderr
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out" / "in").glob("*.mp4")}
    assert set(after) == set(before)
    assert [n for n in after if after[n] != before[n]] == [done[1].name]
    # other settings: the outputs are not theirs; an output the user made is never replaced
    r = livecam("anonymize", clips / "in", "-o", out, "--effect", "pixelate")
    assert r.returncode != 0 and "already exists" in r.stderr and "--overwrite" in r.stderr
    (tmp_path / "out" / "in" / done[0].name).write_bytes(b"the user's own file")
    r = livecam("anonymize", clips / "in", "-o", out)
    assert r.returncode != 0 and "already exists" in r.stderr
    assert (tmp_path / "out" / "in" / done[0].name).read_bytes() == b"the user's own file"


@needs_data
def test_a_bad_file_in_a_batch_is_named_and_the_rest_completes(clips, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("Agbani_Darego0", "Aishwarya_Rai0"):
        (src / f"{name}.mp4").write_bytes((clips / "in" / f"{name}.mp4").read_bytes())
    (src / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not a video")
    audit = tmp_path / "audit.jsonl"
    r = livecam("anonymize", src, "-o", tmp_path / "out/", "--jobs", "2", "--audit", audit)
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("livecam: error: ") and "broken.mp4" in last and "(2 of 3 files were done and kept)" in last
    assert "Traceback" not in r.stderr
    assert sorted(p.name for p in (tmp_path / "out" / "in").iterdir()) == [
        ".livecam-done.json", "Agbani_Darego0.mp4", "Aishwarya_Rai0.mp4"]
    lines = [json.loads(x) for x in audit.read_text().splitlines()]
    bad = [x for x in lines[:-1] if x["status"] == "failed"]
    assert len(bad) == 1 and bad[0]["input"].endswith("broken.mp4") and "broken.mp4" in bad[0]["reason"]
    assert lines[-1]["failed"] == [bad[0]["input"]]


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d.name))
    return out


@needs_data
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the worker processes in /proc (Linux)")
def test_a_killed_worker_is_retried_and_the_batch_completes(clips, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    long = []
    for name, rows in sorted(ytf_tracks().items())[:2]:
        frames = [read_image(DATA / "ytf-clips-dev" / r["frame"]) for r in rows]
        make_video((frames + frames[::-1]) * 2, src / f"{name}.mp4")
        long.append(name)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "livecam", "anonymize", str(src), "-o", f"{out}/", "--jobs", "2"],
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        victim = None
        while time.monotonic() < deadline and victim is None:
            time.sleep(0.2)
            tmps = [temporary_path(out / "in" / f"{n}.mp4").exists() for n in long]
            workers = [p for p in _children(proc.pid) if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
            if any(tmps) and len(workers) >= 2:
                victim = workers[0]
        assert victim is not None, "the workers never started writing"
        os.kill(victim, signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "a worker process died; retrying" in err
    for name in long:
        frames, _, _ = read_video(out / "in" / f"{name}.mp4")
        assert len(frames) == 4 * len(ytf_tracks()[name])
        assert not temporary_path(out / "in" / f"{name}.mp4").exists()


@needs_data
def test_boxes_round_trip_renders_exactly_the_boxes_given(clips, tmp_path):
    """--export-boxes, then --boxes: the same pixels; a box deleted by hand (a false alarm) leaves that face
    bare, a box added (a missed face) covers it."""
    name = "Albert_Brooks0"
    src = clips / "in" / f"{name}.mp4"
    boxes = tmp_path / "boxes.json"
    assert livecam("anonymize", src, "-o", tmp_path / "a.mp4", "--export-boxes", boxes).returncode == 0
    r = livecam("anonymize", src, "-o", tmp_path / "b.mp4", "--boxes", boxes)
    assert r.returncode == 0, r.stderr
    assert _same_pixels(tmp_path / "a.mp4", tmp_path / "b.mp4")
    r = livecam("anonymize", src, "-o", tmp_path / "b2.mp4", "--boxes", boxes, "--jobs", "2", "--chunk", "4")
    assert r.returncode == 0, r.stderr  # a render is one piece, however long (its boxes are per frame of the file)
    assert _same_pixels(tmp_path / "a.mp4", tmp_path / "b2.mp4")
    data = json.loads(boxes.read_text())
    frames = data["files"][0]["frames"]
    assert len(frames) == len(ytf_tracks()[name])
    frames[10] = []                                   # "a false alarm": removed
    frames[20] = frames[20] + [[10, 10, 60, 60, 1.0, -1]]  # "a missed face": added
    boxes.write_text(json.dumps(data))
    r = livecam("anonymize", src, "-o", tmp_path / "c.mp4", "--boxes", boxes, "--effect", "solid")
    assert r.returncode == 0, r.stderr
    out, _, _ = read_video(tmp_path / "c.mp4")
    inp, _, _ = read_video(src)
    face = [int(v) for v in ytf_tracks()[name][10]["box"]]
    x1, y1, x2, y2 = face
    assert np.abs(out[10][y1:y2, x1:x2].astype(int) - inp[10][y1:y2, x1:x2]).mean() < 8  # bare, as edited
    assert out[20][25:45, 25:45].mean() < 20  # the added box is painted (solid black)
    boxes.write_text("{}")
    r = livecam("anonymize", src, "-o", tmp_path / "d.mp4", "--boxes", boxes)
    assert r.returncode != 0 and "--boxes" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "d.mp4").exists()


@needs_data
@pytest.mark.parametrize("chunk", ["0", "3"], ids=["whole files", "in parts"])
def test_sigterm_stops_every_worker_and_leaves_nothing_half_written(clips, tmp_path, chunk):
    src = tmp_path / "in"
    src.mkdir()
    for name, rows in sorted(ytf_tracks().items())[:2]:
        frames = [read_image(DATA / "ytf-clips-dev" / r["frame"]) for r in rows]
        make_video((frames + frames[::-1]) * 3, src / f"{name}.mp4")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "livecam", "anonymize", str(src), "-o", f"{out}/", "--jobs", "2",
                             "--chunk", chunk], stderr=subprocess.PIPE, text=True)

    def writing() -> list[Path]:
        return list((out / "in").glob(".*livecam-tmp*")) if (out / "in").is_dir() else []

    deadline = time.monotonic() + 120
    while not writing() and time.monotonic() < deadline:
        time.sleep(0.1)
    if chunk != "0":  # and a finished part waits to be joined
        while not (list((out / "in").glob(".*livecam-part*[0-9].mp4")) and writing()) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert writing(), "the workers never started writing"
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    assert [p.name for p in (out / "in").iterdir() if p.suffix == ".mp4" or "livecam-tmp" in p.name] == []
    time.sleep(1)
    assert not [w for w in workers if Path(f"/proc/{w}").exists()
                and "Z" not in Path(f"/proc/{w}/stat").read_text().rsplit(")", 1)[1].split()[0]]


@needs_data
def test_a_stopped_pool_leaves_no_thread_running_into_the_interpreters_exit(clips, tmp_path, monkeypatch):
    """Python 3.11's process pool, shut down without waiting, forgets its manager thread, which then closes its
    wake-up pipe while the exit hook writes to it ('OSError: Bad file descriptor' after "stopped by SIGTERM",
    once in a clean-clone run). The stop (Ctrl+C here, on the pool's third progress check) waits for it."""
    import threading
    from concurrent.futures import process

    from livecam import batch
    from livecam.anonymize import plan
    from livecam.batch import local
    from livecam.settings import Settings

    calls = []

    def stop(progress, bar):
        calls.append(1)
        if len(calls) == 3:  # the workers are running their files
            raise KeyboardInterrupt

    monkeypatch.setattr(local, "_drain", stop)
    jobs = plan([clips / "in"], f"{tmp_path}/out/")
    with pytest.raises(KeyboardInterrupt):
        batch.run(jobs, Settings(), batch.BatchOptions(jobs=2, progress=False, chunk_s=0))
    assert not [t for t in threading.enumerate() if isinstance(t, process._ExecutorManagerThread) and t.is_alive()]
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()], "nothing half-written stays"
