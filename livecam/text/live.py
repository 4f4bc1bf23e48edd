"""The live path's text check: the finder in a thread of its own, on the newest frame, at ``TEXT_HZ``.

Face detection keeps priority: this thread runs at a lower priority than the face detection thread (nice
``TEXT_NICENESS`` against its 5) on one CPU thread, so on a busy machine plates are checked less often, not
faces. What it finds covers the frames ``LIVE_HOLD_S`` round it (``TextTimeline``, stabilised coordinates;
with ``--delay`` also the frames before it). Fail closed, as for faces: until the first check, after a
failure, or when the newest check is older than the hold, frames leave wholly obscured and the status says why.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

import numpy as np

from livecam import effects
from livecam.mailbox import Mailbox
from livecam.procs import lower_thread_priority
from livecam.scene import SceneTracker
from livecam.text import Cover, TextFinder, Texts, covers_text, plates_only
from livecam.text.finder import load_text_finder
from livecam.text.timeline import TextParams, TextTimeline

log = logging.getLogger(__name__)

TEXT_HZ = 2.0
"""Checks a second, live (#39: 2-5 Hz). A parked car's plate stays put in stabilised coordinates between checks."""
LIVE_HOLD_S = 1.25
"""A check covers the frames this long either side: two and a half intervals, so one late check (the finder
takes ~200 ms at 720p and may wait for the CPU) leaves nothing bare."""
TEXT_NICENESS = 10
SLOW_SHARE = 0.8  # said in the log and the status when the checks run below this share of TEXT_HZ


@dataclass(frozen=True)
class TextResult:
    seq: int
    t: float
    texts: Texts | None  # None: the finder failed (``error``)
    error: str | None
    ms: float


class TextWorker:
    """Runs the finder ``make_finder`` builds (in this thread: a model loaded while livecam runs does not hold up
    the video) on the newest frame offered, at most ``hz`` times a second; a finder that fails to load is one
    failed result."""

    def __init__(self, make_finder: Callable[[], TextFinder], hz: float = TEXT_HZ,
                 clock: Callable[[], float] = time.monotonic):
        self._make = make_finder
        self.hz = hz
        self._clock = clock
        self._frames: Mailbox[tuple[int, float, np.ndarray, bool]] = Mailbox()
        self._lock = threading.Lock()
        self._results: list[TextResult] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="livecam-text", daemon=True)

    def start(self) -> TextWorker:
        self._thread.start()
        return self

    def offer(self, seq: int, t: float, frame: np.ndarray, urgent: bool = False) -> None:
        """``urgent``: the frame starts a new scene (obscured until checked): it skips the rate limit."""
        self._frames.update(lambda old: (seq, t, frame, urgent or (old is not None and old[3])))

    def results(self) -> list[TextResult]:
        with self._lock:
            out, self._results = self._results, []
        return out

    def stop(self, join_s: float = 5.0) -> None:
        self._stop.set()
        self._frames.close()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(join_s)

    def _run(self) -> None:
        lower_thread_priority(TEXT_NICENESS)
        try:
            finder = self._make()
        except Exception as e:  # the pipeline fails closed and says why
            with self._lock:
                self._results.append(TextResult(0, self._clock(), None, str(e) or type(e).__name__, 0.0))
            return
        last = -1e9
        while not self._stop.is_set():
            offered = self._frames.take()
            if offered is None or self._stop.is_set():
                break
            wait = last + 1.0 / self.hz - self._clock()
            while wait > 0 and not offered[3]:  # wait out the rate, taking newer frames meanwhile
                newer = self._frames.take(wait)
                if self._stop.is_set():
                    return
                offered = newer or offered
                wait = last + 1.0 / self.hz - self._clock()
            seq, t, frame, _ = offered
            last = self._clock()
            t0 = time.perf_counter()
            try:
                texts, error = finder(frame), None
            except Exception as e:  # reported to the pipeline, which fails closed
                texts, error = None, f"{type(e).__name__}: {e}"
            with self._lock:
                self._results.append(TextResult(seq, t, texts, error, (time.perf_counter() - t0) * 1000))


class LiveText:
    """The pipeline thread's side: hands frames to the ``TextWorker``, files its findings in a ``TextTimeline``
    (by the scene and camera offset of the frame they ran on), covers each frame that leaves, and says when a
    frame cannot be trusted. Used only from the pipeline thread. Without a worker (``--cover faces``) it does
    nothing: no text is covered, no frame is distrusted for it."""

    def __init__(self, worker: TextWorker | None, hold_s: float = LIVE_HOLD_S,
                 make_finder: Callable[[tuple[Cover, ...]], TextFinder | None] = load_text_finder,
                 cover: tuple[Cover, ...] = (Cover.FACES,)):
        self._hold_s = hold_s
        self._make = make_finder
        self.covering = cover
        self._started = False
        self._restart(worker)

    def _restart(self, worker: TextWorker | None) -> None:
        self.worker = worker
        every = 1.0 / worker.hz if worker is not None else 1.0
        self.timeline = TextTimeline(None, TextParams(every_s=every, hold_s=max(self._hold_s, every),
                                                      plates_only=plates_only(self.covering)))
        self.error: str | None = None
        self._times: deque[float] = deque(maxlen=16)
        self._slow_said = False

    def start(self) -> None:
        self._started = True
        if self.worker is not None:
            self.worker.start()

    def set_cover(self, cover: tuple[Cover, ...]) -> None:
        """``--cover`` changed while livecam runs (tray, web page): the old check stops (its last result is
        dropped), the new one loads its model in its own thread; until its first check frames are obscured."""
        if cover == self.covering:
            return
        log.info("covering %s", ", ".join(c.value for c in cover))
        self.covering = cover
        if self.worker is not None:
            self.worker.stop(join_s=0)
        self._restart(TextWorker(lambda: self._finder(cover)) if covers_text(cover) else None)
        if self._started and self.worker is not None:
            self.worker.start()

    def _finder(self, cover: tuple[Cover, ...]) -> TextFinder:
        finder = self._make(cover)
        assert finder is not None
        return finder

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()

    def offer(self, seq: int, t: float, frame: np.ndarray, urgent: bool = False) -> None:
        if self.worker is not None:
            self.worker.offer(seq, t, frame, urgent)

    def take(self, scene: SceneTracker) -> None:
        """File the finished checks; those that ran on a frame before the current scene are dropped."""
        for r in self.worker.results() if self.worker is not None else []:
            self._times.append(r.t)
            if r.texts is None:
                if self.error is None:
                    log.warning("text detection failed: %s; failing closed until it works again", r.error)
                self.error = r.error
                continue
            if self.error is not None:
                log.info("text detection works again")
            self.error = None
            view = scene.remembered(r.seq)
            if r.seq >= scene.epoch and view is not None:
                self.timeline.add(r.t, scene.epoch, r.texts, view[0])
        self._say_rate()

    @property
    def hz(self) -> float:
        """Checks a second lately (0 before two)."""
        span = self._times[-1] - self._times[0] if len(self._times) >= 2 else 0.0
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def _say_rate(self) -> None:
        if self.worker is None or len(self._times) < self._times.maxlen:  # type: ignore[operator]
            return
        slow = self.hz < SLOW_SHARE * self.worker.hz
        if slow and not self._slow_said:
            log.warning("plates and text are checked %.1f times a second, less often than asked (%.1f): the CPU is "
                        "busy and face detection comes first", self.hz, self.worker.hz)
        elif not slow and self._slow_said:
            log.info("plates and text are checked %.1f times a second again", self.hz)
        self._slow_said = slow

    def distrust(self, t: float, epoch: int) -> str | None:
        """Why the frame taken at ``t`` in scene ``epoch`` cannot leave with its text covered, or None: no check
        of its scene within the hold of it (the first moments of a scene, or the text thread starved)."""
        if self.worker is None:
            return None
        if self.error is not None:
            return f"text detector failed: {self.error}"
        if self.timeline.newest is None:
            return "text detection starting"
        gap = self.timeline.gap(t, epoch)
        if gap is None or gap > self.timeline.params.hold_s:
            return "text detection stalled: no check of this scene " + \
                ("yet" if gap is None else f"within {1000 * gap:.0f} ms")
        return None

    def cover(self, out: np.ndarray, t: float, offset: tuple[float, float], epoch: int,
              params: effects.EffectParams) -> np.ndarray:
        if self.worker is None:
            return out
        return effects.apply_texts(out, self.timeline.at(t, offset, epoch), params)
