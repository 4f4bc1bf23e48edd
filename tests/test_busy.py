"""A busy machine: detection steps down with the load and back up (numpy only, no video); the benchmark's
loads end with it."""

from __future__ import annotations

import pytest

import livecam
from livecam.harness.bench import reference_faces
from livecam.live.worker import AUTO_SIZES, Level, LoadGovernor, load_levels
from livecam.settings import Settings
from livecam.inputs.replay import ReplaySource
from livecam.tracker import iou_matrix
from tests.conftest import DATA, needs_data

LEVELS = load_levels(640, AUTO_SIZES, tiles=True)


def _feed(gov: LoadGovernor, ms: float, n: int, t0: float, dt: float = 0.1) -> tuple[list[Level], float]:
    changes = []
    t = t0
    for _ in range(n):
        t += dt
        level = gov.record(ms, t)
        if level is not None:
            changes.append(level)
    return changes, t


def test_levels_drop_the_small_face_tile_first_then_the_width():
    assert LEVELS[:5] == (Level(640, 1), Level(640, 2), Level(640, 4), Level(640, 0), Level(512, 0))
    assert LEVELS[-1] == Level(320, 0)
    assert load_levels(640, AUTO_SIZES, tiles=False)[0] == Level(640, 0)


@needs_data
def test_the_cheapest_level_still_finds_most_faces(detector):
    """A busy machine gets the cheapest level: it must still find the faces a full-size detection finds
    (>= 20 px tall, score >= 0.5) at the threshold, in most frames. Below 320 px it did not (192 px: 22 of
    59 on every 12th frame of this clip, every face under 40 px lost) and saved a fifth of a detection."""
    frames = ReplaySource.from_video(DATA / "clips" / "street-1080p.mp4", size=(1280, 720)).frames
    threshold = Settings().threshold
    found = total = 0
    for frame in [frames[i] for i in range(0, len(frames), 24)]:
        got = detector.detect(frame, LEVELS[-1].width, threshold)
        got = got[got.score >= threshold]
        for box in reference_faces(detector, frame):
            total += 1
            found += bool(len(got)) and iou_matrix(box[None].astype(float), got.xyxy.astype(float)).max() > 0.3
    assert total >= 20
    assert found >= 0.7 * total, f"{found} of {total} faces found at {LEVELS[-1].width} px"


def test_steps_down_under_load_one_step_per_cooldown_then_back_up_when_idle():
    gov = LoadGovernor.for_stale_limit(LEVELS, stale_ms=400)
    down, t = _feed(gov, 150.0, 60, 0.0)  # 6 s of 150 ms detections (an encoder started)
    assert down == list(LEVELS[1:4]), "one step every 2 s, never two at once"
    soon, t = _feed(gov, 30.0, 100, t)  # the load is gone, but the levels left were too slow 10 s ago
    assert soon == [], "a level left for being too slow is not tried again at once (no see-saw)"
    up, t = _feed(gov, 30.0, 400, t)  # 40 s later
    assert up == [LEVELS[2], LEVELS[1], LEVELS[0]], "back up to the start-up choice, and no further"
    steady, _ = _feed(gov, 80.0, 100, t)  # inside the band: it stays
    assert steady == []


@pytest.mark.parametrize("ms, expected", [(99.0, None), (61.0, None), (101.0, 2), (59.0, 0)])
def test_a_level_changes_only_outside_the_band(ms, expected):
    gov = LoadGovernor.for_stale_limit(LEVELS, stale_ms=400)
    gov.index, gov.cooldown_s = 1, 0.0
    changes, _ = _feed(gov, ms, 5, 0.0)
    assert (LEVELS.index(changes[0]) if changes else None) == expected


def test_the_mean_counts_the_tile_that_every_other_detection_runs():
    gov = LoadGovernor.for_stale_limit(LEVELS, stale_ms=400)
    gov.index, gov.cooldown_s = 1, 0.0
    t = 0.0
    changes = []
    for ms in (15.0, 200.0) * 5:  # a tile every 2nd detection: mean 107 ms
        t += 0.1
        if (level := gov.record(ms, t)) is not None:
            changes.append(level)
    assert changes and changes[0] == LEVELS[2]


def test_a_detection_longer_than_the_stale_limit_steps_down_at_once():
    """Beside two busy processes at start-up, detections with the small-face tile took 0.8-1.0 s: waiting for
    a window of them and the cooldown kept the picture obscured for most of the first 9 s."""
    gov = LoadGovernor.for_stale_limit(LEVELS, stale_ms=400)
    assert gov.record(950.0, 0.5) == LEVELS[1], "the first detection that long steps down"
    assert gov.record(40.0, 0.6) is None
    assert gov.record(820.0, 0.9) == LEVELS[2], "and the next one again, without the cooldown"
    assert _feed(gov, 350.0, 4, 1.0)[0] == [], "under the stale limit: the window's mean and the cooldown decide"


def test_never_below_the_cheapest_level():
    gov = LoadGovernor.for_stale_limit(LEVELS, stale_ms=400)
    gov.index, gov.cooldown_s = len(LEVELS) - 1, 0.0
    assert _feed(gov, 900.0, 20, 0.0)[0] == []


def test_the_state_log_says_each_state_once_and_counts_changes_not_frames(caplog):
    """The log: failing closed is said at once, any other change at most every LOG_GAP_S after the last
    line, with the number of changes in between (a frame loop that merely re-checks is no change)."""
    import logging

    from livecam.live import Mode
    from livecam.live.pipeline import LivePipeline
    from livecam.live.statelog import LOG_GAP_S
    from livecam.settings import Settings

    now = [0.0]
    pipe = LivePipeline(None, None, None, Settings(), (64, 48), 25.0, clock=lambda: now[0])  # type: ignore[arg-type]

    def loop_until(t: float) -> None:  # the pipeline's frame loop re-checks the log every frame
        while now[0] < t:
            now[0] += 0.04
            pipe._log.say(pipe.status)

    caplog.set_level(logging.INFO, logger="livecam.live")
    pipe._set_status(Mode.FAILING_CLOSED, "starting: first detection")
    now[0] = 0.5
    pipe._set_status(Mode.ANONYMIZING, None)
    loop_until(LOG_GAP_S + 0.5)
    for i in range(6):  # flapping: stalled, fine, stalled, ...
        now[0] += 0.1
        pipe._set_status(Mode.FAILING_CLOSED, f"face detection stalled: newest result is {400 + i} ms old") \
            if i % 2 == 0 else pipe._set_status(Mode.ANONYMIZING, None)
    loop_until(3 * LOG_GAP_S)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["failing closed (whole frame obscured): starting: first detection",
                     "anonymizing again",
                     "failing closed (whole frame obscured): face detection stalled: newest result is 400 ms old",
                     "anonymizing again (4 brief changes since the last line)"], lines


def test_bench_output_fps_is_the_outputs_own_rate_not_the_delay_counted_as_drops():
    """With --delay 0.5 the first frame leaves 0.5 s after the start and the last 0.5 s are held when the
    run stops: 30 fps out for 10 s of a 11 s run is 30 fps, not 27.3 (frames out / run time)."""
    import numpy as np

    from livecam.harness.bench import BenchResult
    from livecam.faces import Faces
    from livecam.live.commands import FrameReport

    reports = [FrameReport(i + 1, i, i / 30, 0.5 + i / 30, False, Faces.empty(), None) for i in range(301)]
    res = BenchResult(11.0, 330, len(reports), np.zeros(1), 0.0, 10.0, 50.0, 416, reports)
    assert res.fps_out == pytest.approx(30.0)
    assert "| output fps | 30.0 |" in res.table()
    res = BenchResult(11.0, 330, 0, np.zeros(1), 1.0, 0.0, 0.0, None, [])
    assert res.fps_out == 0.0


def test_bench_memory_growth_is_the_second_halfs_slope():
    import numpy as np

    from livecam.harness.bench import BenchResult

    def growth(samples):
        return BenchResult(60.0, 1, 1, np.zeros(1), 0.0, 1.0, 1.0, 320, [], rss_samples=samples).memory_growth()

    warm_then_flat = [(t, 1000.0 + min(t, 20.0) * 3) for t in range(5, 65, 5)]  # grows while warming up, then flat
    assert growth(warm_then_flat) == pytest.approx(0.0, abs=1e-6)
    leaking = [(t, 1000.0 + t * 0.5) for t in range(5, 65, 5)]  # 0.5 MB/s
    assert growth(leaking) == pytest.approx(30.0)
    assert growth([(5.0, 1000.0), (10.0, 1001.0)]) is None  # too short to tell


def test_a_width_chosen_beside_a_busy_start_is_timed_again_and_raised_when_the_machine_has_room():
    """The start-up choice is timed under whatever runs then: chosen beside a busy start (320 px), the
    width stayed there for good. Now, after 30 s at the top level with room, one fast pass at the next
    width up is timed; within the start-up budget it becomes the top level (and back down as before)."""
    gov = LoadGovernor.for_stale_limit(load_levels(320, AUTO_SIZES, tiles=True), stale_ms=400, widths=AUTO_SIZES,
                                       tiles=True, timed_at=0.0)  # the start-up choice timed at 0 s
    _, t = _feed(gov, 40.0, 100, 0.0)                 # 10 s: room, but not for long enough
    assert gov.probe_width(t) is None
    _, t = _feed(gov, 40.0, 250, t)                   # 35 s
    assert gov.probe_width(t) == 416
    assert gov.probe_width(t + 1) is None, "at most one probe per 30 s"
    assert gov.probed(416, 35.0, fit_ms=27.0, now=t) is None, "too slow for the start-up budget: stays"
    assert gov.level == Level(320, 1)
    _, t = _feed(gov, 40.0, 310, t)                   # 31 s later
    width = gov.probe_width(t)
    assert width == 416 and gov.probed(width, 20.0, fit_ms=27.0, now=t) == Level(416, 1)
    assert gov.levels == load_levels(416, AUTO_SIZES, tiles=True), "every level below it is still there"
    down, t = _feed(gov, 150.0, 30, t)                # busy again: down as before, one step per 2 s
    assert down == [Level(416, 2)]
    assert gov.probe_width(t + 100) is None, "only from the top level"


def test_no_probe_while_detection_is_slow_or_at_the_widest():
    gov = LoadGovernor.for_stale_limit(load_levels(320, AUTO_SIZES, tiles=False), stale_ms=400, widths=AUTO_SIZES,
                                       timed_at=0.0)
    _, t = _feed(gov, 80.0, 400, 0.0)                 # inside the band, no room
    assert gov.probe_width(t) is None
    top = LoadGovernor.for_stale_limit(load_levels(1024, AUTO_SIZES, tiles=False), stale_ms=400, widths=AUTO_SIZES,
                                       timed_at=0.0)
    _, t = _feed(top, 20.0, 400, 0.0)
    assert top.probe_width(t) is None


def test_a_benchmark_killed_outright_leaves_no_load_running(tmp_path):
    """``livecam bench --load`` started a load that outlived a benchmark killed by SIGKILL (an x264 encode
    burning a core until someone found it); the load now ends with the process that started it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    bench = subprocess.Popen([sys.executable, "-c", "import time\nfrom livecam.harness.loadgen import Load\n"
                              "load = Load('cpu:1')\nprint(load._procs[0].pid, flush=True)\ntime.sleep(600)"],
                             stdout=subprocess.PIPE, text=True)
    assert bench.stdout is not None
    child = int(bench.stdout.readline())
    try:
        os.kill(bench.pid, signal.SIGKILL)
        bench.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _running(child):
            time.sleep(0.1)
        assert not _running(child), "the load is still running after the benchmark was killed"
    finally:
        if _running(child):
            os.kill(child, signal.SIGKILL)


def _running(pid: int) -> bool:
    """Process ``pid`` exists and is not a zombie (where there is no /proc: exists)."""
    import os

    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        if os.path.isdir("/proc"):
            return False
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.mark.parametrize("env, seen", [({}, livecam.OMP_SPIN_COUNT), ({"GOMP_SPINCOUNT": "300000"}, "300000"),
                                       ({"OMP_WAIT_POLICY": "PASSIVE"}, None)])
def test_torch_threads_wait_briefly_unless_the_user_set_openmp_waiting(env, seen):
    """Beside two busy processes `anonymize --jobs 1` ran 2-3x slower with OpenMP's default spin (torch's two
    threads burning their time slices at each barrier). What libgomp reads when torch loads (the C environment)
    in a livecam process: livecam's short spin, or the user's own setting untouched."""
    import os
    import subprocess
    import sys

    code = ("import livecam, torch, ctypes\nlibc = ctypes.CDLL(None)\nlibc.getenv.restype = ctypes.c_char_p\n"
            "v = libc.getenv(b'GOMP_SPINCOUNT')\nprint(v.decode() if v else None)")
    clean = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    r = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(seen)
