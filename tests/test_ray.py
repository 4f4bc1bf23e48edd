"""`livecam anonymize --ray`: a real two-node Ray cluster (a head and a worker node, each started by
`ray start`, one CPU each), on this machine. Ray's servers listen on every interface, so the cluster, and
the batch that uses it, run in network and process namespaces of their own (`unshare`, as root,
``tests.helpers.on_ray_cluster``): the only network there is loopback, and every Ray process ends with them."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest


from tests.conftest import box_coverage, is_magenta, needs_data
from tests.helpers import (audio_packets, livecam, make_dev_clips, make_long_dev_video, on_loopback_only,
                           on_ray_cluster, ray_cluster_why_not, read_video, ytf_tracks)

WHY_NOT = ray_cluster_why_not()
needs_cluster = pytest.mark.skipif(WHY_NOT is not None, reason=f"the Ray cluster tests: {WHY_NOT}")


@needs_data
@needs_cluster
def test_a_two_node_cluster_writes_what_one_process_writes(tmp_path):
    src = tmp_path / "in"
    make_dev_clips(src)
    name0, order = make_long_dev_video(src / "long.mp4")
    rows0 = ytf_tracks()[name0]
    paint = ("--effect", "solid", "--color", "magenta", "--chunk", "5")  # the long video in 4 parts, no clip split
    r1 = livecam("anonymize", src, "-o", tmp_path / "one/", "--jobs", "1", *paint)
    r2 = livecam("anonymize", src / "long.mp4", "-o", tmp_path / "two.mp4", "--jobs", "2", *paint)
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    log = tmp_path / "ray.log"
    proc = on_ray_cluster([src, "-o", f"{tmp_path / 'ray'}/", "--audit", tmp_path / "audit.jsonl", *paint], log)
    assert proc.wait(timeout=600) == 0, log.read_text()
    err = log.read_text()
    assert "Ray: 2 workers (1 CPU each) on 2 node(s)" in err, err
    for name, rows in ytf_tracks().items():  # whole files: the same pixels as one process, the sound as it was
        a, ta, _ = read_video(tmp_path / "one" / "in" / f"{name}.mp4")
        b, tb, _ = read_video(tmp_path / "ray" / "in" / f"{name}.mp4")
        assert ta == tb and len(a) == len(b) == len(rows) and all(np.array_equal(x, y) for x, y in zip(a, b)), name
        assert audio_packets(tmp_path / "ray" / "in" / f"{name}.mp4") == audio_packets(src / f"{name}.mp4")
    # the long video, in four parts on two nodes: the pixels of --jobs 2's parts on one machine; every labelled
    # face that one piece covers; every frame with its timestamp; the sound packet for packet
    one, t1, _ = read_video(tmp_path / "one" / "in" / "long.mp4")
    two, _, _ = read_video(tmp_path / "two.mp4")
    parts, t3, _ = read_video(tmp_path / "ray" / "in" / "long.mp4")
    assert t3 == t1 and len(parts) == len(order) and all(np.array_equal(x, y) for x, y in zip(two, parts))
    assert audio_packets(tmp_path / "ray" / "in" / "long.mp4") == audio_packets(src / "long.mp4")
    missed = [k for k, i in enumerate(order) if box_coverage(is_magenta(one[k]), rows0[i]["box"]) >= 0.7
              and box_coverage(is_magenta(parts[k]), rows0[i]["box"]) < 0.7]
    assert missed == []
    lines = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert lines[-1]["done"] == 5 and lines[-1]["failed"] == []
    assert [x["parts"] for x in lines[:-1]] == [1, 1, 1, 1, 4]
    assert sorted(p.name for p in (tmp_path / "ray" / "in").iterdir()) == sorted(
        [".livecam-done.json", "long.mp4", *(f"{n}.mp4" for n in ytf_tracks())])


@needs_data
@needs_cluster
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds Ray's worker processes in /proc (Linux)")
def test_a_ray_worker_killed_mid_file_is_retried_and_the_batch_completes(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    _, order = make_long_dev_video(src / "long.mp4")
    out = tmp_path / "out"
    log = tmp_path / "ray.log"
    proc = on_ray_cluster([src, "-o", f"{out}/", "--chunk", "4", "--audit", tmp_path / "audit.jsonl"], log)
    try:
        victim = None
        deadline = time.monotonic() + 300
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            writing = list((out / "in").glob(".*livecam-tmp*")) if (out / "in").is_dir() else []
            actors = _actors()
            if writing and actors:
                victim = actors[0]
        assert victim is not None, "no Ray worker ever started writing: " + log.read_text()
        os.kill(victim, signal.SIGKILL)
        assert proc.wait(timeout=600) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    frames, ts, _ = read_video(out / "in" / "long.mp4")
    _, ts_in, _ = read_video(src / "long.mp4")
    assert len(frames) == len(order) and ts == ts_in
    assert audio_packets(out / "in" / "long.mp4") == audio_packets(src / "long.mp4")
    rec = json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[0])
    assert rec["status"] == "done" and rec["parts"] == 5
    assert sorted(p.name for p in (out / "in").iterdir()) == [".livecam-done.json", "long.mp4"]


def _actors() -> list[int]:
    """The processes of livecam's Ray actors (the cluster's namespace shares this machine's process list)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if b"ray::_Anonymizer" in (d / "cmdline").read_bytes():
                    pids.append(int(d.name))
            except OSError:
                continue
    return pids


@needs_cluster
def test_ray_local_starts_its_own_cluster_whatever_cluster_was_last_known(tmp_path):
    """``--ray local`` hung (over 60 s, no output) trying to join a cluster that was gone: after the cluster
    tests, Ray's plain ``init()`` took the last cluster this machine had from /tmp/ray (here: RAY_ADDRESS
    pointing at a dead address). It now always starts a private one. Its servers listen on every interface,
    so it runs where loopback is the only network, as the cluster tests do."""
    import shlex
    import sys

    import cv2

    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "a.jpg"), np.full((64, 64, 3), 128, np.uint8))
    cmd = shlex.join([sys.executable, "-m", "livecam", "anonymize", str(tmp_path / "in"), "-o", f"{tmp_path / 'out'}/",
                      "--ray", "local"])
    log = tmp_path / "err.log"
    proc = on_loopback_only(cmd, log, env={"RAY_ADDRESS": "127.0.0.1:1"})
    try:
        assert proc.wait(timeout=300) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert (tmp_path / "out" / "in" / "a.jpg").is_file()
