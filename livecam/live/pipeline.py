"""The pipeline thread: owns settings, tracker, presenter choice, who is kept visible and the fail-closed decision."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import replace
from typing import Callable

import cv2
import numpy as np

from livecam import effects
from livecam.policy import DetectionPolicy, hindsight_params
from livecam.errors import LivecamError
from livecam.faces import Faces
from livecam.live.commands import STOP, Command, FrameReport, Mode, Status, reason_kind
from livecam.live.grabber import Captured, Grabber, capture_backlog
from livecam.hindsight import Hindsight, Held
from livecam.live.gate import Evidence, blind_limit_ms, distrust
from livecam.live.worker import DetectionWorker
from livecam.live.keep import KeepVisible
from livecam.live.statelog import StateLog
from livecam.people import People, RecognitionWorker
from livecam.scene import SceneTracker
from livecam.settings import RESTART_KEYS, Settings
from livecam.text.live import LiveText
from livecam.outputs import Sink, states
from livecam.outputs.preview import PreviewSink

log = logging.getLogger(__name__)

RECOVER_S = 0.3
"""After a stall or detector error, detection must be healthy this long before anonymizing again."""
FLAPPING_KINDS = ("face detection stalled", "face detector failed", "text detection stalled", "text detector failed")
GAP_NEW_SCENE_S = 0.3
"""A frame this long after the previous one taken (the pipeline thread or the camera starved for a
moment, the frames between dropped) starts a new scene: faces may have moved further than a tracked box
grows. Seen beside two busy processes: after gaps of 0.6 s, faces walking close to the camera were
covered 54-68% by their boxes from before the gap."""
class LivePipeline:
    """Owns the live pipeline state in its own thread. See the module docstring."""

    def __init__(self, grabber: Grabber, worker: DetectionWorker, sink: Sink, settings: Settings,
                 out_size: tuple[int, int], fps: float, camera_name: str = "",
                 on_frame: Callable[[FrameReport], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, people: People | None = None,
                 recognizer: RecognitionWorker | None = None, text: LiveText | None = None):
        self._grabber = grabber
        self._text = text or LiveText(None)  # --cover plates/text: checked in a thread of its own
        self._worker = worker
        self._sink = sink
        self._settings = settings
        self._out_w, self._out_h = out_size
        self._fps = fps
        self._clock = clock
        self._on_frame = on_frame
        self._commands: queue.Queue[Command] = queue.Queue()
        self._listeners: list[Callable[[Status, Settings], None]] = []
        self._scene = SceneTracker(DetectionPolicy.from_settings(settings).tracker_params())
        # frames waiting to leave (``settings.delay_s``): (capture, frame on the output grid)
        self._window: Hindsight[tuple[Captured, np.ndarray]] = Hindsight(hindsight_params(settings))
        self._applied: deque[tuple[int, int, float]] = deque(maxlen=128)  # (scene, frame seq, t) per detection
        self._healthy_since: float | None = None  # detection healthy again since (capture time), after a stall
        self._log = StateLog(clock)
        from livecam.presenter import PresenterChooser

        self._presenter = PresenterChooser()
        # --keep (and presenter mode with people enrolled): identity checks in a process of their own
        self._keep = KeepVisible(people or People(), recognizer, clock)
        self._in_shape: tuple[int, ...] | None = None
        self._last_cap_t: float | None = None  # capture time of the frame taken before
        self._last_error: str | None = None
        self._det_times: deque[float] = deque(maxlen=64)
        self._det_ms: deque[float] = deque(maxlen=32)
        self._status = Status(camera=camera_name, people=self._keep.people.names)
        self._preview: PreviewSink | None = None
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
        self._grabber.backlog = capture_backlog(self._settings, self._fps)
        self._grabber.start()
        self._worker.start()
        self._keep.start()
        self._text.start()
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
            self._keep.stop()
            self._text.stop()
            self._grabber.stop()
            try:
                self._sink.close()
            except Exception as e:
                log.warning("closing the output failed: %s", e)
            if self._preview is not None:
                self._preview.close()
            self._done.set()

    def _loop(self) -> None:
        last_frame: np.ndarray | None = None
        last_capture = self._clock()
        last_sent = 0.0
        interval = 1.0 / self._fps
        while True:
            if not self._drain_commands():
                self._finish()
                return
            oldest = self._window.oldest
            wait = interval if oldest is None else min(interval, max(0.0, oldest.t + self._settings.delay_s -
                                                                         self._clock()))
            cap = self._grabber.take(timeout=wait)
            self._take_results()
            if (enrolled := self._keep.end_enrolment()) is not None:
                self._keep_enrolled(enrolled)
            if cap is not None:
                last_capture = cap.t
                frame = self._follow(cap)
                new_scene = self._scene.epoch == cap.seq
                self._worker.offer(cap if frame is cap.frame else replace(cap, frame=frame), urgent=new_scene)
                self._text.offer(cap.seq, cap.t, frame, urgent=new_scene)
                faces = self._scene.faces(cap.seq, cap.t, tentative=True)
                self._window.add(cap.seq, cap.t, (cap, frame), self._scene.view(cap.seq)[0], self._scene.epoch, faces)
                self._keep.follow(cap.t, faces, new_scene, self._settings)
                last_frame = frame
            sent = self._send_due()
            self._log.say(self._status)  # a change the log held back: say where things stand now
            if (outputs := states(self._sink)) != self._status.outputs:  # --push connected or not
                self._status = replace(self._status, outputs=outputs)
                self._notify()
            if sent:
                last_sent = sent
                continue
            now = self._clock()
            silent = now - last_capture
            if cap is None and not len(self._window) and silent > self._settings.stale_ms / 1000 \
                    and now - last_sent >= interval * 0.9:
                # No new frame: keep the virtual camera alive with an obscured frame once the
                # camera has been silent for longer than the stale limit.
                lost = self._grabber.lost_reason or f"no camera frame for {silent:.1f} s"
                base = last_frame if last_frame is not None else np.zeros((self._out_h, self._out_w, 3), np.uint8)
                self._set_status(Mode.FAILING_CLOSED, f"camera lost: {lost}; reconnecting")
                self._sink.send(effects.obscure_all(base, "livecam: camera lost - reconnecting"))
                last_sent = self._clock()
                if self._on_frame is not None:
                    self._on_frame(FrameReport(0, -1, now, last_sent, True, Faces.empty(), self._status.reason))

    def _finish(self) -> None:
        """Stopping: the frames still waiting leave too (a recording keeps its last ``delay`` seconds), once
        the newest of them has been detected, so that a face that came in during the last moments is
        covered back to its first frame like any other. Waits at most the stale limit (wall clock); a
        frame left without a detection it can trust leaves obscured, as always."""
        newest = list(self._window)[-1] if len(self._window) else None
        if newest is not None and self._settings.delay_s > 0:
            cap, frame = newest.payload
            self._worker.offer(cap if frame is cap.frame else replace(cap, frame=frame), urgent=True)
            deadline = time.monotonic() + self._settings.stale_ms / 1000
            while time.monotonic() < deadline and self._worker.load_error is None:
                self._take_results()
                if self._detected_since(newest.seq):
                    break
                time.sleep(0.005)
        self._send_due(everything=True)

    def _send_due(self, everything: bool = False) -> float:
        """Send every waiting frame whose delay is up (``everything``: all of them, when stopping), oldest
        first; returns when the last one was sent (0.0 when none was due)."""
        sent = 0.0
        while len(self._window) and (everything or self._window.leaves(self._clock(), self._settings.delay_s)):
            held, faces = self._window.pop()
            cap, frame = held.payload
            out, faces, reason = self._render(frame, held, faces)
            self._sink.send(out)
            self._show_preview(out)
            sent = self._clock()
            self._status = replace(self._status, frames_out=self._status.frames_out + 1)
            report = FrameReport(cap.seq, cap.index, cap.t, sent, reason is not None, faces, reason)
            self._log.sent(report, self._status)
            if self._on_frame is not None:
                self._on_frame(report)
        return sent

    def _follow(self, cap: Captured) -> np.ndarray:
        """The frame on the output's pixel grid (detection and painting share it), with the camera's
        motion since the last frame measured. A cut, a camera that came back at another size, or a frame
        more than ``GAP_NEW_SCENE_S`` after the one before starts a new scene: nothing detected before
        it is trusted."""
        frame = cap.frame
        resized = frame.shape[0] != self._out_h or frame.shape[1] != self._out_w
        if resized:
            frame = cv2.resize(frame, (self._out_w, self._out_h), interpolation=cv2.INTER_AREA)
        new_size = self._in_shape is not None and cap.frame.shape != self._in_shape
        if new_size:
            log.info("the camera now sends %dx%d: shown at %dx%d, as a new scene", cap.frame.shape[1],
                     cap.frame.shape[0], self._out_w, self._out_h)
        self._in_shape = cap.frame.shape
        gap = self._last_cap_t is not None and cap.t - self._last_cap_t > GAP_NEW_SCENE_S
        self._last_cap_t = cap.t
        self._scene.see(cap.seq, frame, new_scene=new_size or gap)
        return frame

    def _show_preview(self, out: np.ndarray) -> None:
        """The preview window asked for from the tray (``settings.preview``), owned by this thread."""
        if self._settings.preview:
            if self._preview is None:
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
            if cmd.enrol is not None:
                self._keep.start_enrolment(cmd.enrol)
                continue
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
                self._scene.set_params(DetectionPolicy.from_settings(new).tracker_params())
                self._worker.set_threshold(new.threshold)
            self._window.params = hindsight_params(new)
            self._text.set_cover(new.cover)
            self._grabber.backlog = capture_backlog(new, self._fps)
            self._settings = new
            changed = True
            log.info("%s", cmd.name)
        if changed:
            self._notify()
        return True

    def _keep_enrolled(self, name: str) -> None:
        """"Keep me visible" enrolled ``name``: kept from now on (last in ``--keep``'s list)."""
        self._settings = self._settings.replace(keep=[*[k for k in self._settings.keep if k != name], name])
        self._status = replace(self._status, people=self._keep.people.names)
        self._notify()

    def _take_results(self) -> None:
        self._keep.take()
        self._text.take(self._scene)
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
            if not self._scene.detected(r.seq, r.faces, r.t):
                continue  # it ran on the picture before a cut
            self._applied.append((self._scene.epoch, r.seq, r.t))
            for held in self._window:  # frames waiting to leave: their boxes predicted again with it
                if held.seq >= r.seq and held.epoch == self._scene.epoch:
                    self._window.set_boxes(held, self._scene.faces(held.seq, held.t, tentative=True),
                                           self._scene.detected_ids if held.seq == r.seq else None)
            self._window.confirm(self._scene.confirmed_ids)
            self._keep.ask(r, self._scene)
        if len(self._det_times) >= 2:
            span = self._det_times[-1] - self._det_times[0]
            hz = (len(self._det_times) - 1) / span if span > 0 else 0.0
            self._status = replace(self._status, detect_hz=hz, detector_ms=float(np.median(self._det_ms)),
                                   detect_size=self._worker.detect_size, text_hz=self._text.hz)

    def _detected_since(self, seq: int) -> bool:
        """A detection of frame ``seq`` or of a later frame (of any scene) has been applied."""
        return any(s >= seq for _, s, _ in self._applied)

    def _distrust(self, held: Held) -> str | None:
        """Why the face boxes for the waiting frame ``held`` cannot be trusted, or None: judged by the
        detection of its own scene nearest to it in time (with a delay, that may be a later one)."""
        same = [(abs(t - held.t), seq, t) for epoch, seq, t in self._applied if epoch == held.epoch]
        det_t: float | None = None
        before_only = False
        if same:
            _, seq, det_t = min(same)
            det_view, in_scene = self._scene.remembered(seq), True
            before_only = not self._detected_since(held.seq)  # a stall, not a cut since
        else:
            det_t = self._applied[-1][2] if self._applied else None
            det_view, in_scene = None, False
        ev = Evidence(load_error=self._worker.load_error, detector_error=self._last_error,
                      model_ready=self._worker.ready, last_ok_t=det_t, det_view=det_view, det_in_scene=in_scene,
                      before_only=before_only)
        s = self._settings
        return distrust(ev, held.t, self._scene.view(held.seq), self._scene.scale, s.stale_ms,
                        blind_limit_ms(s.stale_ms, s.delay_s))

    def _render(self, frame: np.ndarray, held: Held, faces: Faces) -> tuple[np.ndarray, Faces, str | None]:
        s = self._settings
        if s.privacy_screen:
            self._set_status(Mode.PRIVACY, None)
            return effects.obscure_all(frame, "privacy screen"), Faces.empty(), "privacy screen"
        distrust = self._distrust(held) or self._text.distrust(held.t, held.epoch)
        if not s.anonymize:
            self._set_status(Mode.PAUSED, None)
            return frame, Faces.empty(), None
        if distrust:
            self._healthy_since = None
            self._set_status(Mode.FAILING_CLOSED, distrust)
            return effects.obscure_all(frame, "livecam: " + reason_kind(distrust)), Faces.empty(), distrust
        if self._recovering(held.t):
            reason = self._status.reason or "recovering"
            return effects.obscure_all(frame, "livecam: " + reason_kind(reason)), Faces.empty(), reason
        self._set_status(Mode.ANONYMIZING, None)
        if (covered := self._keep.covered(faces, self._clock())) is not None:
            faces = covered
        elif s.presenter:
            faces = self._presenter.others(faces, frame.shape[1], frame.shape[0])
        else:
            self._presenter.reset()
        out = effects.apply(frame, faces, s.effect_params())
        return self._text.cover(out, held.t, held.offset, held.epoch, s.effect_params()), faces, None

    def _set_status(self, mode: Mode, reason: str | None) -> None:
        """Publish a mode change. Reasons differing only after their ':' (e.g. an age in ms) are one state."""
        if mode is self._status.mode and reason_kind(reason) == self._status.kind:
            return
        self._status = replace(self._status, mode=mode, reason=reason)
        self._log.changed(self._status)
        self._notify()

    def _recovering(self, t: float) -> bool:
        """After a stall or a detector error, detection must be healthy for ``RECOVER_S`` before frames
        are anonymized again (and not wholly obscured): a fail-safe that flaps lets faces through
        between flaps. ``t``: the frame's capture time."""
        if self._status.mode is not Mode.FAILING_CLOSED or self._status.kind not in FLAPPING_KINDS:
            self._healthy_since = None
            return False
        if self._healthy_since is None:
            self._healthy_since = t
        return t - self._healthy_since < RECOVER_S

    def _notify(self) -> None:
        for fn in self._listeners:
            try:
                fn(self._status, self._settings)
            except Exception:  # a broken listener must not stop the video
                log.exception("status listener failed")
