"""The live path: camera -> newest frame -> anonymize -> virtual camera, failing closed.

Threads and who owns what:

* the **capture thread** (``sources.Grabber``) keeps only the newest camera frame;
* the **detection thread** (``DetectionWorker``) is the only one that calls the detector; it
  always takes the newest frame offered and hands back results;
* the **pipeline thread** (``LivePipeline``) owns all pipeline state: settings, tracker,
  presenter choice, fail-closed decision. It never waits for the detector: every frame is
  sent as soon as it arrives, covered with the tracker's boxes predicted to its capture time;
* anyone else (tray, hotkeys, CLI) talks to it only through ``send(Command)`` and reads the
  immutable ``status`` / ``settings`` snapshots it publishes.

Fail closed: the whole frame is obscured (with a notice) whenever the face boxes cannot be
trusted: before the first detection, after the detector raised, when the newest detection
is older than ``settings.stale_ms`` (a hung or too-slow detector), when the model failed
to load, and while the camera is lost. It recovers by itself when detections flow again.
"""

from __future__ import annotations

import enum
import logging
import queue
import sys
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, replace
from typing import Callable

import cv2
import numpy as np

from livecam import effects, engine
from livecam.detectors import Detector
from livecam.errors import LivecamError
from livecam.faces import Faces
from livecam.motion import SCENE_CHANGE, CameraMotion, change_since, thumbnail
from livecam.settings import Settings
from livecam.sources import Captured, FrameSource, Grabber
from livecam.tracker import FaceTracker

log = logging.getLogger(__name__)


class Mode(enum.Enum):
    STARTING = "starting"
    ANONYMIZING = "anonymizing"
    PAUSED = "paused"              # raw camera: only by an explicit choice
    PRIVACY = "privacy screen"     # whole frame covered by choice
    FAILING_CLOSED = "failing closed"


@dataclass(frozen=True)
class Status:
    mode: Mode = Mode.STARTING
    reason: str | None = None
    detect_hz: float = 0.0
    detector_ms: float = 0.0
    detect_size: int | None = None
    frames_out: int = 0
    camera: str = ""


@dataclass(frozen=True)
class FrameReport:
    """What the pipeline did with one captured frame (for benchmarks and tests)."""

    seq: int            # 0 for a frame sent while the camera is lost (not from the camera)
    index: int          # the source's frame index (replay) or seq; -1 while the camera is lost
    capture_t: float
    sent_t: float
    obscured_all: bool
    faces: Faces
    reason: str | None


@dataclass(frozen=True)
class Command:
    """A change for the pipeline thread to apply to its own settings: ``apply(settings) -> settings``."""

    name: str
    apply: Callable[[Settings], Settings]


STOP = Command("stop", lambda s: s)


# Settings a running pipeline cannot change (they pick devices, models or sizes when it starts);
# a command changing one is refused with a warning. Everything else applies from the next frame.
RESTART_KEYS = ("device", "detect_size", "model", "small_faces_s", "camera", "size", "fps", "vcam_device",
                "detect_hz", "hotkeys")


def toggle(field_name: str) -> Command:
    return Command(f"toggle {field_name}", lambda s: s.replace(**{field_name: not getattr(s, field_name)}))


def set_values(**values) -> Command:
    return Command("set " + ", ".join(values), lambda s: s.replace(**values))


def cycle_effect() -> Command:
    order = list(effects.Effect)
    return Command("cycle effect", lambda s: s.replace(effect=order[(order.index(s.effect) + 1) % len(order)]))


@dataclass(frozen=True)
class DetResult:
    seq: int
    t: float                 # capture time of the frame it ran on
    faces: Faces | None      # None when the detector raised
    error: str | None
    ms: float


# Detector widths tried by the automatic choice, largest first.
AUTO_SIZES = (1024, 896, 768, 640, 512, 416, 320)


class DetectionWorker:
    """Runs the detector in its own thread on the newest frame offered; never blocks the caller."""

    def __init__(self, make_detector: Callable[[], Detector], settings: Settings, budget_ms: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self._make = make_detector
        self._detect_hz = settings.detect_hz
        self._min_interval = 1.0 / settings.detect_hz if settings.detect_hz else 0.0
        self._full_every = settings.small_faces_s
        self._fixed_size = settings.detect_size
        self._budget_ms = budget_ms
        self._clock = clock
        self._cond = threading.Condition()
        self._pending: Captured | None = None
        self._urgent = False  # the pending frame starts a new scene: detect it now, fast pass only
        self._threshold: float | None = None  # a new detector threshold to apply before the next detection
        self._results: list[DetResult] = []
        self._stop = threading.Event()
        self.load_error: str | None = None
        self.ready = False
        self.detect_size: int | None = None
        self.detector: Detector | None = None
        self._thread = threading.Thread(target=self._run, name="livecam-detect", daemon=True)

    def start(self) -> DetectionWorker:
        self._thread.start()
        return self

    def offer(self, cap: Captured, urgent: bool = False) -> None:
        """``urgent``: the frame starts a new scene (the picture is obscured until it is detected), so
        it skips the rate limit and the small-face tile."""
        with self._cond:
            self._pending = cap  # replaces any older frame not started yet: newest wins
            self._urgent = self._urgent or urgent
            self._cond.notify()

    def results(self) -> list[DetResult]:
        with self._cond:
            out, self._results = self._results, []
        return out

    def set_threshold(self, threshold: float) -> None:
        """The detector's score threshold from its next detection on (applied in the detection thread)."""
        self._threshold = threshold

    def stop(self, join_s: float = 5.0) -> None:
        """Stop after the current detection; waits up to ``join_s`` (a hung detector is left behind)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(join_s)

    def prepare(self, sample: np.ndarray) -> None:
        """Load the model and choose the detector width now, in the caller's thread (before ``start``);
        the caller's thread gets the detection thread's CPU thread count, so the timing matches."""
        _use_live_cpu_threads()
        self.detector = self._make()
        self._choose_size(sample)
        self.ready = True

    def _take(self) -> Captured | None:
        with self._cond:
            self._cond.wait_for(lambda: self._pending is not None or self._stop.is_set())
            cap, self._pending = self._pending, None
        return cap

    def _run(self) -> None:
        _lower_priority()
        _use_live_cpu_threads()
        try:
            if self.detector is None:
                self.detector = self._make()
        except Exception as e:  # the pipeline fails closed and says why
            self.load_error = str(e) or type(e).__name__
            log.error("face model failed to load: %s", self.load_error)
            return
        last_start = -1e9
        tile = 0
        while not self._stop.is_set():
            cap = self._take()
            if cap is None:
                break
            if not self.ready:
                self._choose_size(cap.frame)
                self.ready = True
            if self._detect_hz is None:
                self._min_interval = 1.0 / _default_hz(self.detector)
            with self._cond:
                urgent, self._urgent = self._urgent, False
            wait = last_start + self._min_interval - self._clock()
            while wait > 0 and not urgent:
                with self._cond:  # wait out the rate limit, unless a new scene arrives meanwhile
                    self._cond.wait_for(lambda: self._urgent or self._stop.is_set(), wait)
                    if self._stop.is_set():
                        return
                    if self._pending is not None:  # a newer frame came while we waited
                        cap, self._pending = self._pending, None
                    urgent, self._urgent = self._urgent, False
                wait = last_start + self._min_interval - self._clock()
            last_start = self._clock()
            if self._threshold is not None and hasattr(self.detector, "threshold"):
                self.detector.threshold, self._threshold = self._threshold, None
            t0 = time.perf_counter()
            try:
                with_tile = getattr(self.detector, "detect_with_tile", None)
                if self._full_every > 0 and with_tile is not None and not urgent:
                    faces = with_tile(cap.frame, tile)  # fast pass + one small-face tile, round robin
                    tile += 1
                else:
                    faces = self.detector(cap.frame)
                error = None
            except Exception as e:  # reported to the pipeline, which fails closed
                faces, error = None, f"{type(e).__name__}: {e}"
            ms = (time.perf_counter() - t0) * 1000
            with self._cond:
                self._results.append(DetResult(cap.seq, cap.t, faces, error, ms))

    def _choose_size(self, frame: np.ndarray) -> None:
        """Pick the detector width from measured times, unless the user set one."""
        det = self.detector
        if getattr(det, "input_size", None):  # a model with one fixed input size (YOLO exports): nothing to choose
            self.detect_size = det.input_size
            return
        if not hasattr(det, "detect_size"):
            return
        if self._fixed_size:
            det.detect_size = self.detect_size = self._fixed_size
            return
        width = frame.shape[1]
        candidates = sorted({min(width, s) for s in AUTO_SIZES}, reverse=True)
        budget = self._budget_ms if self._budget_ms is not None else _default_budget_ms(det)
        if self._full_every > 0 and hasattr(det, "detect_with_tile"):
            budget *= 0.6  # each detection also runs one small-face tile
        chosen = candidates[-1]
        for size in candidates:
            if self._stop.is_set():
                break
            det.detect_size = size
            det(frame)  # warm-up at this size
            t0 = time.perf_counter()
            for _ in range(2):
                det(frame)
            ms = (time.perf_counter() - t0) * 500
            log.debug("detector at width %d: %.1f ms", size, ms)
            if ms <= budget:
                chosen = size
                break
        det.detect_size = self.detect_size = chosen
        log.info("detector width %d px (chosen for <= %.0f ms per detection)", chosen, budget)


def _use_live_cpu_threads() -> None:
    """PyTorch CPU threads for the calling thread: all cores but one, which stays for capture and
    output. OpenMP thread counts are per calling thread, so each thread that loads, times or runs
    the detector sets its own, before the model is loaded."""
    from livecam.detectors import live_cpu_threads, set_cpu_threads

    set_cpu_threads(live_cpu_threads())


def _lower_priority(niceness: int = 5) -> None:
    """Make the calling thread yield the CPU to capture and output (Linux: per-thread nice).

    On a 2-core machine the detection thread otherwise delays frames on their way to the
    virtual camera; detection is asynchronous, so running it a little later costs nothing."""
    import os

    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
        except OSError as e:  # not allowed here: keep going at normal priority
            log.debug("could not lower the detection thread's priority: %s", e)


def _on_gpu(det) -> bool:
    return getattr(getattr(det, "device", None), "type", "cpu") == "cuda"


def _default_hz(det) -> float:
    """Automatic detection rate cap: every frame on a GPU; 12 Hz on a CPU, which keeps the tracker
    fed (>= 10 Hz, the live goal) without holding a laptop core at 100% for detections the
    tracker does not need."""
    return 1000.0 if _on_gpu(det) else CPU_DETECT_HZ


CPU_DETECT_HZ = 12.0


def _default_budget_ms(det) -> float:
    # CPU: leave room for a 10+ Hz detection rate beside the 30 fps output on the other core.
    return 15.0 if _on_gpu(det) else 45.0


class LivePipeline:
    """Owns the live pipeline state in its own thread. See the module docstring."""

    def __init__(self, grabber: Grabber, worker: DetectionWorker, sink, settings: Settings,
                 out_size: tuple[int, int], fps: float, camera_name: str = "",
                 on_frame: Callable[[FrameReport], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self._grabber = grabber
        self._worker = worker
        self._sink = sink
        self._settings = settings
        self._out_w, self._out_h = out_size
        self._fps = fps
        self._clock = clock
        self._on_frame = on_frame
        self._commands: queue.Queue[Command] = queue.Queue()
        self._listeners: list[Callable[[Status, Settings], None]] = []
        self._tracker = FaceTracker(engine.tracker_params(settings.threshold))
        from livecam.presenter import PresenterChooser

        self._presenter = PresenterChooser()
        self._last_ok_t: float | None = None
        self._motion = CameraMotion()
        self._frames: OrderedDict[int, tuple[tuple[float, float], np.ndarray]] = OrderedDict()  # seq -> (offset, thumb)
        self._epoch = 0             # first frame of the current scene (after a cut or a change of camera size)
        self._det_seq: int | None = None  # the frame the newest detection in use ran on
        self._in_shape: tuple[int, ...] | None = None
        self._last_error: str | None = None
        self._det_times: deque[float] = deque(maxlen=64)
        self._det_ms: deque[float] = deque(maxlen=32)
        self._status = Status(camera=camera_name)
        self._preview = None
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="livecam-pipeline", daemon=True)

    # -- public, thread-safe --------------------------------------------------------------
    @property
    def status(self) -> Status:
        return self._status

    @property
    def settings(self) -> Settings:
        return self._settings

    def add_listener(self, fn: Callable[[Status, Settings], None]) -> None:
        """``fn(status, settings)`` is called from the pipeline thread after every change."""
        self._listeners.append(fn)

    def send(self, command: Command) -> None:
        self._commands.put(command)

    def prepare(self, sample: np.ndarray) -> None:
        """Load the detector and choose its size before ``start`` (otherwise done on the first frame)."""
        self._worker.prepare(sample)

    def start(self) -> LivePipeline:
        self._grabber.start()
        self._worker.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self.send(STOP)

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    # -- pipeline thread ------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as e:  # reported to whoever waits on us (the CLI)
            self.error = e
            log.debug("pipeline stopped by an error", exc_info=True)
        finally:
            self._worker.stop()
            self._grabber.stop()
            try:
                self._sink.close()
            except Exception as e:
                log.warning("closing the output failed: %s", e)
            if self._preview is not None:
                self._preview.close()
            self._done.set()

    def _loop(self) -> None:
        last_seq = 0
        last_frame: np.ndarray | None = None
        last_capture = self._clock()
        last_sent = 0.0
        interval = 1.0 / self._fps
        while True:
            if not self._drain_commands():
                return
            cap = self._grabber.latest(last_seq, timeout=interval)
            self._take_results()
            now = self._clock()
            if cap is None:
                # No new frame: keep the virtual camera alive with an obscured frame once the
                # camera has been silent for longer than the stale limit.
                silent = now - last_capture
                if silent > self._settings.stale_ms / 1000 and now - last_sent >= interval * 0.9:
                    reason = self._grabber.lost_reason or f"no camera frame for {silent:.1f} s"
                    base = last_frame if last_frame is not None else np.zeros((self._out_h, self._out_w, 3), np.uint8)
                    self._set_status(Mode.FAILING_CLOSED, f"camera lost: {reason}; reconnecting")
                    self._sink.send(effects.obscure_all(base, "livecam: camera lost - reconnecting"))
                    last_sent = self._clock()
                    if self._on_frame is not None:
                        self._on_frame(FrameReport(0, -1, now, last_sent, True, Faces.empty(), self._status.reason))
                continue
            last_seq, last_capture = cap.seq, cap.t
            frame = self._follow(cap)
            self._worker.offer(cap if frame is cap.frame else replace(cap, frame=frame), urgent=self._epoch == cap.seq)
            out, faces, reason = self._render(frame, cap.t, cap.seq)
            self._sink.send(out)
            self._show_preview(out)
            last_sent = self._clock()
            last_frame = frame
            self._status = replace(self._status, frames_out=self._status.frames_out + 1)
            if self._on_frame is not None:
                self._on_frame(FrameReport(cap.seq, cap.index, cap.t, last_sent, reason is not None, faces, reason))

    def _follow(self, cap: Captured) -> np.ndarray:
        """The frame on the output's pixel grid (detection and painting share it), with the camera's
        motion since the last frame measured. A cut, or a camera that came back at another size,
        starts a new scene: nothing detected before it is trusted."""
        frame = cap.frame
        resized = frame.shape[0] != self._out_h or frame.shape[1] != self._out_w
        if resized:
            frame = cv2.resize(frame, (self._out_w, self._out_h), interpolation=cv2.INTER_AREA)
        new_size = self._in_shape is not None and cap.frame.shape != self._in_shape
        if new_size:
            log.info("the camera now sends %dx%d: shown at %dx%d, as a new scene", cap.frame.shape[1],
                     cap.frame.shape[0], self._out_w, self._out_h)
        self._in_shape = cap.frame.shape
        thumb = thumbnail(frame)
        if self._motion.step(frame, thumb) or new_size:
            self._epoch = cap.seq
        self._frames[cap.seq] = (self._motion.offset, thumb)
        while len(self._frames) > 256:
            self._frames.popitem(last=False)
        return frame

    def _show_preview(self, out: np.ndarray) -> None:
        """The preview window asked for from the tray (``settings.preview``), owned by this thread."""
        if self._settings.preview:
            if self._preview is None:
                from livecam.sinks import PreviewSink

                self._preview = PreviewSink()
            try:
                self._preview.send(out)
            except LivecamError as e:
                log.warning("%s", e)
                self._settings = self._settings.replace(preview=False)
                self._notify()
        elif self._preview is not None:
            self._preview.close()
            self._preview = None

    def _drain_commands(self) -> bool:
        changed = False
        while True:
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                break
            if cmd is STOP:
                return False
            try:
                new = cmd.apply(self._settings)
            except LivecamError as e:
                log.warning("ignored %s: %s", cmd.name, e)
                continue
            fixed = [k for k in RESTART_KEYS if getattr(new, k) != getattr(self._settings, k)]
            if fixed:
                log.warning("ignored %s: %s only change when livecam starts", cmd.name, ", ".join(fixed))
                continue
            if new.threshold != self._settings.threshold:
                self._tracker.params = replace(self._tracker.params, start_score=new.threshold)
                self._worker.set_threshold(engine.continue_threshold(new.threshold))
            self._settings = new
            changed = True
            log.info("%s", cmd.name)
        if changed:
            self._notify()
        return True

    def _take_results(self) -> None:
        for r in self._worker.results():
            self._det_times.append(r.t)
            self._det_ms.append(r.ms)
            if r.faces is None:
                if self._last_error is None:
                    log.warning("face detector failed: %s; failing closed until it works again", r.error)
                self._last_error = r.error
                continue
            if self._last_error is not None:
                log.info("face detector works again")
            self._last_error = None
            if r.seq < self._epoch or r.seq not in self._frames:
                continue  # a detection of the picture before a cut: its boxes belong to another scene
            if self._det_seq is None or self._det_seq < self._epoch:
                self._tracker.reset()  # the first detection of a new scene
            ox, oy = self._frames[r.seq][0]
            t = r.t if self._tracker.time is None else max(r.t, self._tracker.time)
            self._tracker.update(r.faces.moved(-ox, -oy), t)  # tracked in camera-stabilised coordinates
            self._last_ok_t = t
            self._det_seq = r.seq
        if len(self._det_times) >= 2:
            span = self._det_times[-1] - self._det_times[0]
            hz = (len(self._det_times) - 1) / span if span > 0 else 0.0
            self._status = replace(self._status, detect_hz=hz, detector_ms=float(np.median(self._det_ms)),
                                   detect_size=self._worker.detect_size)

    def _distrust(self, t: float, seq: int) -> str | None:
        """Why the face boxes for frame ``seq`` (captured at ``t``) cannot be trusted, or None."""
        if self._worker.load_error:
            return f"face model failed to load: {self._worker.load_error}"
        if self._last_error:
            return f"face detector failed: {self._last_error}"
        if self._last_ok_t is None:
            return "starting: loading the face model" if not self._worker.ready else "starting: first detection"
        age = t - self._last_ok_t
        if age * 1000 > self._settings.stale_ms:
            return f"face detection stalled: newest result is {age * 1000:.0f} ms old"
        if self._det_seq is None or self._det_seq < self._epoch or self._det_seq not in self._frames:
            return "scene change: waiting for a detection of the new picture"
        change = change_since(self._frames[self._det_seq], self._frames[seq], self._motion.scale)
        if change > SCENE_CHANGE:
            return f"scene change: waiting for a detection (change {change:.0f})"
        return None

    def _render(self, frame: np.ndarray, t: float, seq: int) -> tuple[np.ndarray, Faces, str | None]:
        s = self._settings
        if s.privacy_screen:
            self._set_status(Mode.PRIVACY, None)
            return effects.obscure_all(frame, "privacy screen"), Faces.empty(), "privacy screen"
        distrust = self._distrust(t, seq)
        if not s.anonymize:
            self._set_status(Mode.PAUSED, None)
            return frame, Faces.empty(), None
        if distrust:
            self._set_status(Mode.FAILING_CLOSED, distrust)
            return effects.obscure_all(frame, "livecam: " + distrust.split(":")[0]), Faces.empty(), distrust
        self._set_status(Mode.ANONYMIZING, None)
        faces = self._tracker.predict(t).moved(*self._frames[seq][0])
        if s.presenter:
            faces = self._presenter.others(faces, frame.shape[1], frame.shape[0])
        else:
            self._presenter.reset()
        return effects.apply(frame, faces, s.effect_params()), faces, None

    def _set_status(self, mode: Mode, reason: str | None) -> None:
        """Publish a mode change. Reasons differing only after their ':' (e.g. an age in ms) are one state."""
        kind = (reason or "").split(":")[0]
        if mode is self._status.mode and kind == (self._status.reason or "").split(":")[0]:
            return
        if mode is Mode.FAILING_CLOSED:
            log.warning("failing closed (whole frame obscured): %s", reason)
        elif self._status.mode is Mode.FAILING_CLOSED and mode is not Mode.FAILING_CLOSED:
            log.info("%s again", mode.value)
        self._status = replace(self._status, mode=mode, reason=reason)
        self._notify()

    def _notify(self) -> None:
        for fn in self._listeners:
            try:
                fn(self._status, self._settings)
            except Exception:  # a broken listener must not stop the video
                log.exception("status listener failed")


def build_pipeline(settings: Settings, open_source: Callable[[], FrameSource], sink, *,
                   first_source: FrameSource | None = None, make_detector: Callable[[], Detector] | None = None,
                   on_frame: Callable[[FrameReport], None] | None = None, camera_name: str = "",
                   budget_ms: float | None = None) -> LivePipeline:
    """Wire capture, detection and output for ``settings``; call ``.start()`` on the result."""
    src = first_source or open_source()
    if make_detector is None:
        def make_detector() -> Detector:
            from livecam.detectors import load_detector

            return load_detector(settings.model, device=settings.device, detect_size=settings.detect_size,
                                 threshold=engine.continue_threshold(settings.threshold))
    fps = settings.fps or src.fps or 30.0
    grabber = Grabber(open_source, first=src)
    worker = DetectionWorker(make_detector, settings, budget_ms=budget_ms)
    return LivePipeline(grabber, worker, sink, settings, (src.width, src.height), fps, camera_name=camera_name,
                        on_frame=on_frame)


def open_sinks(settings: Settings, width: int, height: int, fps: float, *, vcam: bool = True, preview: bool = False,
               output=None, vcam_backend: str | None = None):
    from livecam.sinks import FanOut, FileSink, PreviewSink, VirtualCameraSink

    sinks = []
    try:
        if vcam:
            sinks.append(VirtualCameraSink(width, height, fps, device=settings.vcam_device, backend=vcam_backend))
        if output is not None:
            sinks.append(FileSink(output, width, height, fps))
        if preview:
            sinks.append(PreviewSink())
    except BaseException:
        FanOut(sinks).close()
        raise
    if not sinks:
        raise LivecamError("nothing to send the video to: drop --no-vcam, or add --preview or --output FILE")
    return FanOut(sinks)


def start_from_camera(settings: Settings, args) -> LivePipeline:
    """Open the camera and the outputs named by ``settings``/``args`` and start the pipeline."""
    from livecam.sources import CameraSource, open_camera

    cam = open_camera(None if settings.camera == "0" and getattr(args, "camera", None) is None else settings.camera,
                      settings.size, settings.fps)
    spec = cam.spec
    fps = settings.fps or cam.fps
    try:
        sink = open_sinks(settings, cam.width, cam.height, fps, vcam=not getattr(args, "no_vcam", False),
                          preview=getattr(args, "preview", False), output=getattr(args, "output", None))
    except BaseException:
        cam.close()
        raise
    pipeline = build_pipeline(settings, lambda: CameraSource(spec, settings.size, settings.fps), sink,
                              first_source=cam, camera_name=f"camera {spec} ({cam.width}x{cam.height} @ {fps:g} fps)")
    return pipeline.start()


def wait_until_stopped(pipeline: LivePipeline) -> None:
    """Block until the pipeline stops (SIGTERM / Ctrl+C stop it); re-raise its error as a LivecamError.

    The pipeline closes its outputs itself (a recording gets its index written); a second Ctrl+C
    while it does so is ignored, as leaving then would abort the process mid-encode and leave an
    unreadable file."""
    import signal

    stopping = []

    def stop(*_):
        log.info("stopping")
        stopping.append(True)
        pipeline.stop()
        signal.signal(signal.SIGINT, lambda *_: log.info("still stopping: closing the outputs"))

    old_term = signal.signal(signal.SIGTERM, stop)
    old_int = signal.signal(signal.SIGINT, stop)
    try:
        while not pipeline.wait(0.5):
            pass
    finally:
        signal.signal(signal.SIGTERM, old_term)
        # once stopping, a further Ctrl+C is ignored to the end (Python's own handler is gone while the
        # interpreter shuts down, and the default one would kill it with an unfinished exit)
        signal.signal(signal.SIGINT, signal.SIG_IGN if stopping else old_int)
    if pipeline.error is not None:
        if isinstance(pipeline.error, LivecamError):
            raise pipeline.error
        raise LivecamError(f"the live pipeline stopped: {type(pipeline.error).__name__}: {pipeline.error}")


def run_cli(settings: Settings, args) -> int:
    """``livecam run``: until Ctrl+C / SIGTERM; returns the exit code. The global hotkeys work here
    too, wherever a desktop session is there to deliver them."""
    pipeline = start_from_camera(settings, args)
    log.info("running: %s -> anonymized output. Select the 'livecam' camera in your app; Ctrl+C stops.",
             pipeline.status.camera)
    hotkeys = start_hotkeys(settings, pipeline.send)
    try:
        wait_until_stopped(pipeline)
    finally:
        if hotkeys is not None:
            hotkeys.stop()
    return 0


def start_hotkeys(settings: Settings, send: Callable[[Command], None]):
    """The global hotkeys of ``settings``, or None where there is no desktop session to register them with."""
    import os

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        log.info("no desktop session: global hotkeys are off")
        return None
    from livecam.tray.hotkeys import Hotkeys

    return Hotkeys(settings.hotkeys, send)
