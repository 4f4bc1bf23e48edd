"""Live: identity checks in a process of their own, fed the newest request by a thread."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from livecam.faces import Faces
from livecam.mailbox import Mailbox
from livecam.people.describe import Describer, check_installed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckRequest:
    t: float
    frame: np.ndarray  # BGR, the pipeline's frame (not written to)
    faces: Faces       # tracked faces to describe
    enrol: bool = False  # views for "Keep me visible", not identity checks


@dataclass(frozen=True)
class CheckResult:
    t: float
    track_id: int
    descriptor: np.ndarray | None  # None: recognition failed (``error``)
    error: str | None = None
    enrol: bool = False


class RecognitionWorker:
    """Describes faces in a process of its own, on the newest request (an older one not started is
    dropped: its faces are asked for again later); results are collected with ``results()``.

    A process, not a thread: dlib holds Python's GIL while it computes (~70 ms a face), which starved
    the pipeline thread to 6 fps in ``livecam bench --keep`` when it ran in a thread. A thread here only
    hands crops to the process and waits (without the GIL). ``make_describer`` is called in the process
    (it must be picklable: a module-level class or function); the process starts with the pipeline and
    runs at the lowest priority there is (Linux ``SCHED_IDLE``: only on CPU time nothing else wants; elsewhere
    nice 10): a late check only keeps a face covered longer. Beside the street clip with two people kept,
    p95 latency over ``livecam bench`` alone, in rounds of runs on one day: nice 10 +1.1 to +9.1 ms, nice 19
    +3.5 to +6.0, ``SCHED_IDLE`` -0.8 to +4.5 (8 runs); the kept person first visible at a webcam beside an
    x264 encode 1.36 / 1.36 s against 1.00 / 1.32 s at nice 10, on an idle machine 0.96-1.00 s with either
    (README, "Keep people visible"). If it fails or dies, every pending check is an error (the pipeline
    covers every face) and it is started again for the next request."""

    def __init__(self, make_describer: Callable[[], Any] = Describer):
        check_installed(make_describer)
        self._make = make_describer
        self._inbox: Mailbox[CheckRequest] = Mailbox()
        self._lock = threading.Lock()
        self._out: list[CheckResult] = []
        self._proc: Any = None  # the process and its pipe: the thread's, once it runs
        self._conn: Any = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="livecam-recognition", daemon=True)

    def start(self, eager: bool = True) -> RecognitionWorker:
        """Start the thread that feeds the process; ``eager``: the process too, now (its model loaded in
        ~1-2 s before the first frame rather than in the middle of a stream), else with the first request."""
        if eager:
            self._open_process()
        self._thread.start()
        return self

    def stop(self) -> None:
        """The thread ends (it closes the process); one still waiting on the process after 5 s is freed by
        killing the process. The pipe is never closed under the thread (it died of that, beside two busy
        processes, when a stop came while the process was still loading)."""
        self._stopping.set()
        self._inbox.close()
        if self._thread.ident is None:  # never started: the process (if any) is the caller's
            self._close_process()
            return
        self._thread.join(timeout=5)
        proc = self._proc
        if self._thread.is_alive() and proc is not None:
            proc.kill()
            self._thread.join(timeout=5)

    def ask(self, request: CheckRequest) -> None:
        self._inbox.put(request)

    def results(self) -> list[CheckResult]:
        with self._lock:
            out, self._out = self._out, []
        return out

    def _open_process(self) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # no fork of a process with torch's threads running
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_describe_forever, args=(child, self._make),
                                 name="livecam-recognition", daemon=True)
        self._proc.start()
        child.close()
        deadline = time.monotonic() + READY_S
        try:  # "ready" (or the error making the describer: then each check reports it); later if it is slower
            while time.monotonic() < deadline and not self._stopping.is_set():
                if self._conn.poll(0.1):
                    self._conn.recv()
                    break
        except (EOFError, OSError):
            pass

    def _close_process(self) -> None:
        if self._conn is not None:
            try:
                self._conn.send(None)
            except OSError:
                pass
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            self._proc.join(timeout=2)
            if self._proc.is_alive():
                self._proc.kill()
            self._proc = None

    def _run(self) -> None:
        try:
            self._serve()
        finally:
            self._close_process()

    def _serve(self) -> None:
        while not self._stopping.is_set() and (req := self._inbox.take()) is not None:
            crops = [_crop_around(req.frame, req.faces.xyxy[i]) for i in range(len(req.faces))]
            try:
                if self._proc is None:
                    self._open_process()
                start = time.perf_counter()
                self._conn.send(crops)
                answers = self._conn.recv()
                while answers == "ready":  # it was still loading when ``_open_process`` stopped waiting
                    answers = self._conn.recv()
                log.debug("identity checks of %d faces: %.0f ms", len(crops), 1000 * (time.perf_counter() - start))
            except (OSError, EOFError) as e:  # the process died: start it again for the next request
                self._close_process()
                answers = [(None, f"the recognition process stopped ({type(e).__name__})")] * len(crops)
            for i, (d, error) in enumerate(answers):
                res = CheckResult(req.t, int(req.faces.track_id[i]), d, error, enrol=req.enrol)
                with self._lock:
                    self._out.append(res)


READY_S = 30.0


def _crop_around(frame: np.ndarray, box: np.ndarray, grow: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The face with ``grow`` of its size around it (the landmarks need some context), and its box in the crop."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    H, W = frame.shape[:2]
    cx1, cy1 = int(max(0, x1 - grow * w)), int(max(0, y1 - grow * h))
    cx2, cy2 = int(min(W, x2 + grow * w + 1)), int(min(H, y2 + grow * h + 1))
    return np.ascontiguousarray(frame[cy1:cy2, cx1:cx2]), np.array([x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1], np.float32)


def _describe_forever(conn: Any, make_describer: Callable[[], Any]) -> None:
    """The recognition process: lists of ``(crop, box)`` in, lists of ``(descriptor | None, error | None)`` out."""
    _lowest_priority()
    describer: Any = None
    error: str | None = None
    try:
        describer = make_describer()
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
    conn.send("ready")
    while True:
        try:
            crops = conn.recv()
        except (EOFError, OSError):
            return
        if crops is None:
            return
        out: list[tuple[np.ndarray | None, str | None]] = []
        for crop, box in crops:
            if describer is None:
                out.append((None, error))
                continue
            try:
                out.append((describer.describe(crop, box), None))
            except Exception as e:  # reported to the pipeline: it covers every face until checks work again
                out.append((None, f"{type(e).__name__}: {e}"))
        conn.send(out)


def _lowest_priority() -> None:
    """This process runs only on CPU time nothing else wants (``RecognitionWorker``)."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return
    except (AttributeError, OSError):  # not Linux
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 10)
    except (AttributeError, OSError):
        pass
