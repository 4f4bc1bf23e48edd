"""The detection thread: the only caller of the detector, always on the newest frame offered."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from livecam.detectors import Detector
from livecam.policy import DetectionPolicy
from livecam.faces import Faces
from livecam.mailbox import Mailbox
from livecam.procs import lower_thread_priority
from livecam.settings import Settings
from livecam.live.grabber import Captured

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetResult:
    seq: int
    t: float                 # capture time of the frame it ran on
    faces: Faces | None      # None when the detector raised
    error: str | None
    ms: float
    frame: np.ndarray | None = None  # the frame it ran on (identity checks describe the faces it found there)


# Detector widths tried by the automatic choice, largest first; the width follows the load while
# livecam runs, down to the last. Not below 320 px: there the network's time is mostly its fixed cost,
# not pixels. Measured on street frames at 1280x720 (1 thread; beside two busy processes): 320 px 16.2
# (32.9) ms, 256 px 14.1 (27.3) ms, 192 px 13.1 (25.5) ms, while the faces found at the threshold fell
# from 46 of 59 to 37 and 22 (every face under 40 px lost): 256 and 192 px, used before for a busy
# machine, saved a fifth of a detection and left faces bare for up to 9 frames.
AUTO_SIZES = (1024, 896, 768, 640, 512, 416, 320)


@dataclass(frozen=True)
class Level:
    """How much one detection does: the fast pass's width, and a small-face tile with every
    ``tile_every``-th detection (0: none)."""

    width: int
    tile_every: int


def load_levels(start_width: int, widths: tuple[int, ...], tiles: bool) -> tuple[Level, ...]:
    """Levels from the start-up choice down, cheapest last: the small-face tile (the dearest part of a
    detection: ~3x the fast pass here) goes first, every 2nd, 4th, then off, then the width steps down."""
    levels = [Level(start_width, 1)] if tiles else []
    if tiles:
        levels += [Level(start_width, 2), Level(start_width, 4)]
    levels += [Level(w, 0) for w in widths if w <= start_width]
    return tuple(levels)


@dataclass
class LoadGovernor:
    """Steps detection down when detections take too long for the stale limit (the machine got
    busy: an encoder, a game), and back up when there is room again: one level at a time, at most
    one step per ``cooldown_s``, up to the start-up choice. Above it only by the start-up's own rule,
    timed again (``probe_width``, ``probed``): the start-up choice is timed under whatever load runs
    then, and a width chosen beside a busy start stayed low for good. Pure bookkeeping: the worker
    applies the level. ``slow_ms`` / ``room_ms``: the mean of the last ``window`` detections above
    / below which it steps down / up (the mean: a detection with the small-face tile costs ~3x one without);
    one detection longer than ``stall_ms`` steps down at once."""

    levels: tuple[Level, ...]   # the start-up choice first, cheapest last
    slow_ms: float
    room_ms: float
    index: int = 0
    cooldown_s: float = 2.0
    retry_s: float = 30.0
    """A level left for being too slow is not tried again for this long (no see-saw in the log)."""
    window: int = 5
    stall_ms: float = float("inf")
    """A detection this long is a stall by itself: one step down at once, without waiting for the window's mean
    or the cooldown. Beside two busy processes at start-up, detections with the small-face tile took 0.8-1.0 s;
    waiting for five of them and the cooldown kept the picture obscured for most of the first 9 s."""
    widths: tuple[int, ...] = ()
    """Every width the automatic choice may use, largest first (``probe_width`` looks above the top level)."""
    tiles: bool = False  # the levels have small-face tiles (``load_levels``)
    _ms: list[float] = field(default_factory=list)
    _last_change: float = -1e9
    timed_at: float = -1e9
    """When the widths were last timed: the start-up choice, then each ``probe_width``."""
    _blocked_until: dict[int, float] = field(default_factory=dict)

    @classmethod
    def for_stale_limit(cls, levels: tuple[Level, ...], stale_ms: float, widths: tuple[int, ...] = (),
                        tiles: bool = False, timed_at: float = -1e9) -> LoadGovernor:
        """Detections should take at most a quarter of the stale limit (100 ms of 400): the gap between
        two results is the rate's interval plus one detection, and a busy scheduler adds to both."""
        return cls(levels, slow_ms=0.25 * stale_ms, room_ms=0.15 * stale_ms, widths=widths, tiles=tiles,
                   timed_at=timed_at, stall_ms=stale_ms)

    def probe_width(self, now: float) -> int | None:
        """The next width above the top level, to time one fast pass at now, or None: only at the top
        level, after ``retry_s`` there inside the band with room (mean below ``room_ms``), at most once per
        ``retry_s`` since the widths were last timed."""
        wider = [w for w in self.widths if w > self.levels[0].width]
        if (not wider or self.index != 0 or len(self._ms) < self.window or now - self._last_change < self.retry_s
                or now - self.timed_at < self.retry_s or float(np.mean(self._ms)) >= self.room_ms):
            return None
        self.timed_at = now
        return wider[-1]

    def probed(self, width: int, ms: float, fit_ms: float, now: float) -> Level | None:
        """A fast pass at ``width`` took ``ms``: within ``fit_ms`` (the start-up choice's budget) it is the
        new top level, and the level now; else None (tried again after ``retry_s``)."""
        if ms > fit_ms:
            return None
        self.levels = load_levels(width, self.widths, self.tiles)
        self.index, self._ms, self._last_change, self._blocked_until = 0, [], now, {}
        return self.level

    @property
    def level(self) -> Level:
        return self.levels[self.index]

    def record(self, ms: float, now: float) -> Level | None:
        """A detection took ``ms``; returns the new level when it should change, else None."""
        self._ms = (self._ms + [ms])[-self.window:]
        stall = ms > self.stall_ms
        if not stall and (len(self._ms) < self.window or now - self._last_change < self.cooldown_s):
            return None
        mean = float(np.mean(self._ms))  # the mean: with a tile every k-th detection, the median misses it
        if (stall or mean > self.slow_ms) and self.index < len(self.levels) - 1:
            self._blocked_until[self.index] = now + self.retry_s
            self.index += 1
        elif mean < self.room_ms and self.index > 0 and now >= self._blocked_until.get(self.index - 1, -1e9):
            self.index -= 1
        else:
            return None
        self._ms = []
        self._last_change = now
        return self.level


class DetectionWorker:
    """Runs the detector in its own thread on the newest frame offered; never blocks the caller."""

    def __init__(self, make_detector: Callable[[], Detector], settings: Settings, budget_ms: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self._make = make_detector
        self._detect_hz = settings.detect_hz
        self._min_interval = 1.0 / settings.detect_hz if settings.detect_hz else 0.0
        self.policy = DetectionPolicy.from_settings(settings)
        """What each detection runs; its width follows the load, its threshold the user (``set_threshold``).
        Read by other threads, replaced (never changed) by the detection thread."""
        self._budget_ms = budget_ms
        self._clock = clock
        # the newest frame not started yet, and whether a new scene starts with it (or with a frame
        # it replaced): then it is detected at once, fast pass only
        self._frames: Mailbox[tuple[Captured, bool]] = Mailbox()
        self._lock = threading.Lock()  # guards _results
        self._threshold: Mailbox[float] = Mailbox()  # a new user threshold to apply before the next detection
        self._results: list[DetResult] = []
        self._stop = threading.Event()
        self.load_error: str | None = None
        self.ready = False
        self.detector: Detector | None = None
        self.governor: LoadGovernor | None = None  # automatic width only: follows the load
        self._stale_ms = settings.stale_ms
        self._tile_every = 1
        self._fit_ms = 0.0  # the start-up choice's budget for one fast pass (``_choose_size``)
        self._thread = threading.Thread(target=self._run, name="livecam-detect", daemon=True)

    def start(self) -> DetectionWorker:
        self._thread.start()
        return self

    def offer(self, cap: Captured, urgent: bool = False) -> None:
        """``urgent``: the frame starts a new scene (the picture is obscured until it is detected), so
        it skips the rate limit and the small-face tile."""
        self._frames.update(lambda old: (cap, urgent or (old is not None and old[1])))  # newest wins

    def results(self) -> list[DetResult]:
        with self._lock:
            out, self._results = self._results, []
        return out

    @property
    def detect_size(self) -> int | None:
        """The fast pass's width now (``None``: automatic, or not chosen yet)."""
        return self.policy.width

    def set_threshold(self, threshold: float) -> None:
        """The user's threshold from the next detection on (applied in the detection thread)."""
        self._threshold.put(threshold)

    def stop(self, join_s: float = 5.0) -> None:
        """Stop after the current detection; waits up to ``join_s`` (a hung detector is left behind)."""
        self._stop.set()
        self._frames.close()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(join_s)

    def prepare(self, sample: np.ndarray) -> None:
        """Load the model and choose the detector width now, in the caller's thread (before ``start``);
        the caller's thread gets the detection thread's CPU thread count, so the timing matches."""
        _use_live_cpu_threads()
        self.detector = det = self._make()
        self._choose_size(det, sample)
        self.ready = True

    def _run(self) -> None:
        if DETECT_NICENESS:
            lower_thread_priority(DETECT_NICENESS)
        _use_live_cpu_threads()
        try:
            det = self.detector if self.detector is not None else self._make()
            self.detector = det
        except Exception as e:  # the pipeline fails closed and says why
            self.load_error = str(e) or type(e).__name__
            log.error("face model failed to load: %s", self.load_error)
            return
        if self._detect_hz is None:
            self._min_interval = 1.0 / _default_hz(det)
        last_start = -1e9
        tile = 0
        n = 0
        while not self._stop.is_set():
            offered = self._frames.take()
            if offered is None or self._stop.is_set():
                break
            cap, urgent = offered
            if not self.ready:
                self._choose_size(det, cap.frame)
                self.ready = True
            wait = last_start + self._min_interval - self._clock()
            while wait > 0 and not urgent:  # wait out the rate limit, unless a new scene arrives meanwhile
                newer = self._frames.take(wait)
                if self._stop.is_set():
                    return
                if newer is not None:  # a newer frame came while we waited: it is the one to detect
                    cap, urgent = newer
                wait = last_start + self._min_interval - self._clock()
            last_start = self._clock()
            if (threshold := self._threshold.take(0)) is not None:
                self.policy = replace(self.policy, threshold=threshold)
            probe = self.governor.probe_width(last_start) if self.governor is not None and not urgent else None
            t0 = time.perf_counter()
            try:
                n += 1
                with_tile = not urgent and probe is None and self._tile_every and n % self._tile_every == 0
                policy = self.policy if probe is None else replace(self.policy, width=probe)  # a fast pass, timed
                faces = policy.live(det, cap.frame, tile if with_tile else None)  # a tile: round robin
                tile += bool(with_tile)
                error = None
            except Exception as e:  # reported to the pipeline, which fails closed
                faces, error = None, f"{type(e).__name__}: {e}"
            ms = (time.perf_counter() - t0) * 1000
            with self._lock:
                self._results.append(DetResult(cap.seq, cap.t, faces, error, ms, cap.frame))
            if error is None and probe is not None:
                self._probed(probe, ms)
            elif error is None:
                self._follow_load(ms, urgent)

    def _probed(self, width: int, ms: float) -> None:
        """A fast pass at a width above the top level took ``ms``: the start-up rule decides whether
        detection moves up to it."""
        assert self.governor is not None
        level = self.governor.probed(width, ms, self._fit_ms, self._clock())
        if level is None:
            log.debug("detector at width %d: %.1f ms (over %.0f ms): staying at %d px", width, ms, self._fit_ms,
                      self.policy.width or 0)
            return
        self._use(level)
        log.info("the machine has room again: a detection at %d px takes %.0f ms; now %d px, %s", width, ms,
                 level.width, _tiles_text(level))

    def _follow_load(self, ms: float, urgent: bool) -> None:
        """Step detection down (or back up) when detections no longer fit the stale limit: the
        machine's load changed since start-up."""
        if self.governor is None or urgent:  # an urgent detection skips the tile: not comparable
            return
        before = self.governor.index
        level = self.governor.record(ms, self._clock())
        if level is None:
            return
        self._use(level)
        if self.governor.index > before:  # a step down: say why, in the user's words
            log.info("machine busy: detections take %.0f ms; now %d px, %s", ms, level.width, _tiles_text(level))
        else:
            log.info("detections take %.0f ms again: back to %d px, %s", ms, level.width, _tiles_text(level))

    def _use(self, level: Level) -> None:
        """Detect at ``level`` from the next detection on."""
        self.policy = replace(self.policy, width=level.width)
        self._tile_every = level.tile_every

    def _choose_size(self, det: Detector, frame: np.ndarray) -> None:
        """Pick the detector width from measured times, unless the user set one."""
        if det.input_size:  # a model with one fixed input size (YOLO exports): nothing to choose
            self.policy = replace(self.policy, width=det.input_size)
            return
        if self.policy.width:  # the user's
            return
        width = frame.shape[1]
        allowed = sorted({min(width, s) for s in AUTO_SIZES}, reverse=True)  # the widths to time, widest first
        budget = self._budget_ms if self._budget_ms is not None else _default_budget_ms(det)
        if self.policy.small_faces_s > 0:
            budget *= 0.6  # each detection also runs one small-face tile
        chosen = allowed[-1]
        for size in allowed:
            if self._stop.is_set():
                break
            det.detect(frame, size, self.policy.detector_threshold)  # warm-up at this size
            t0 = time.perf_counter()
            for _ in range(2):
                det.detect(frame, size, self.policy.detector_threshold)
            ms = (time.perf_counter() - t0) * 500
            log.debug("detector at width %d: %.1f ms", size, ms)
            if ms <= budget:
                chosen = size
                break
        self.policy = replace(self.policy, width=chosen)
        tiles = self.policy.small_faces_s > 0
        self._fit_ms = budget
        self.governor = LoadGovernor.for_stale_limit(load_levels(chosen, tuple(allowed), tiles), self._stale_ms,
                                                     widths=tuple(allowed), tiles=tiles, timed_at=self._clock())
        log.info("detector width %d px (chosen for <= %.0f ms per detection)", chosen, budget)


def _tiles_text(level: Level) -> str:
    return {0: "no small-face tile", 1: "a small-face tile each"}.get(level.tile_every,
                                                                    f"a small-face tile every {level.tile_every}")


def _use_live_cpu_threads() -> None:
    """PyTorch CPU threads for the calling thread: all cores but one, which stays for capture and
    output. OpenMP thread counts are per calling thread, so each thread that loads, times or runs
    the detector sets its own, before the model is loaded."""
    from livecam.detectors import live_cpu_threads, set_cpu_threads

    set_cpu_threads(live_cpu_threads())


DETECT_NICENESS = 5
"""Niceness of the detection thread: it yields the CPU to capture and output, so that frames reach the
virtual camera on time. Measured both ways (`livecam bench --load`, this 2-core machine): at nice 0
detection kept up better beside other work (beside x264 0.6-2.8% of frames obscured against 6.8-13.5%
at nice 5), but the output dropped to 23-27 fps, and with a 1080p camera the pipeline thread, starved,
skipped enough frames that the scene gate saw cuts and flapped in and out of failing closed. Under load
the ``LoadGovernor`` makes detection cheaper instead, and ``--delay`` absorbs the stalls."""


def _default_hz(det: Detector) -> float:
    """Automatic detection rate cap: every frame on a GPU; 12 Hz on a CPU, which keeps the tracker
    fed (>= 10 Hz, the live goal) without holding a laptop core at 100% for detections the
    tracker does not need."""
    return 1000.0 if det.on_gpu else CPU_DETECT_HZ


CPU_DETECT_HZ = 12.0


def _default_budget_ms(det: Detector) -> float:
    # CPU: leave room for a 10+ Hz detection rate beside the 30 fps output on the other core.
    return 15.0 if det.on_gpu else 45.0
