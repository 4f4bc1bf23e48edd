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
from livecam.engine import DetectionPolicy, hindsight_params
from livecam.errors import LivecamError
from livecam.faces import Faces
from livecam.live.commands import STOP, Command, FrameReport, Mode, Status, reason_kind
from livecam.hindsight import Hindsight, Held
from livecam.live.gate import Evidence, blind_limit_ms, distrust
from livecam.live.worker import DetectionWorker, DetResult
from livecam.people import (ENROL_EVERY_S, INSTALL_HINT, LIVE_CHECKS_PER_S, CheckRequest, KeepGate, KeepParams,
                            People, PeopleError,
                            RecognitionWorker, check_name, dominant, load_people, save_people)
from livecam.scene import SceneTracker
from livecam.settings import RESTART_KEYS, Settings
from livecam.sinks import PreviewSink, Sink, states
from livecam.sources import Captured, Grabber

log = logging.getLogger(__name__)

RECOVER_S = 0.3
"""After a stall or detector error, detection must be healthy this long before anonymizing again."""
FLAPPING_KINDS = ("face detection stalled", "face detector failed")
LOG_GAP_S = 2.0
"""The log says at most one state change per this many seconds (the rest are counted)."""
SUMMARY_S = 60.0
ENROL_LIVE_S = 4.0
""""Keep me visible" takes views of the face in front of the camera for this long ..."""
ENROL_START_S = 30.0
"""... counted from its first view, which may take this long to come (the recognition process starts with the
request: 1-2 s idle, more on a busy machine) ..."""
ENROL_LIVE_MIN = 4
"""... and needs at least this many (one every ``people.ENROL_EVERY_S``)."""


GAP_NEW_SCENE_S = 0.3
"""A frame this long after the previous one taken (the pipeline thread or the camera starved for a
moment, the frames between dropped) starts a new scene: faces may have moved further than a tracked box
grows. Seen beside two busy processes: after gaps of 0.6 s, faces walking close to the camera were
covered 54-68% by their boxes from before the gap."""
MAX_BACKLOG = 3
"""Captured frames that may wait for the pipeline thread with a delay: enough for the moments it is late
(beside an x264 encode), not for a machine that cannot keep up at all: there, the frames it cannot take
are dropped as without a delay, and detection keeps its share of the CPU (measured: with up to half the
delay's frames waiting, beside two busy processes, the output rose from 18 to 25-30 fps but detection
starved and faces were bare for 3-7 frames)."""


def capture_backlog(settings: Settings, fps: float) -> int:
    """How many captured frames may wait for the pipeline: only the newest without a delay (latest frame
    wins); with one, a few (``MAX_BACKLOG``, at most half the delay's frames), since every frame waits
    in the window until its own time anyway and a frame dropped here is a frame missing from the output
    (``livecam.mailbox``)."""
    return max(1, min(MAX_BACKLOG, int(settings.delay_s * fps / 2)))


class LivePipeline:
    """Owns the live pipeline state in its own thread. See the module docstring."""

    def __init__(self, grabber: Grabber, worker: DetectionWorker, sink: Sink, settings: Settings,
                 out_size: tuple[int, int], fps: float, camera_name: str = "",
                 on_frame: Callable[[FrameReport], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, people: People | None = None,
                 recognizer: RecognitionWorker | None = None):
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
        self._scene = SceneTracker(DetectionPolicy.from_settings(settings).tracker_params())
        # frames waiting to leave (``settings.delay_s``): (capture, frame on the output grid)
        self._window: Hindsight[tuple[Captured, np.ndarray]] = Hindsight(hindsight_params(settings))
        self._applied: deque[tuple[int, int, float]] = deque(maxlen=128)  # (scene, frame seq, t) per detection
        self._healthy_since: float | None = None  # detection healthy again since (capture time), after a stall
        self._last_state_log = -1e9
        self._changes = 0  # state changes since the log's last line
        self._logged: tuple[Mode, str] = (Mode.STARTING, "")  # the state the log said last
        self._minute_t = clock()
        self._minute = [0, 0]  # frames out, wholly obscured: since the last summary line
        from livecam.presenter import PresenterChooser

        self._presenter = PresenterChooser()
        # --keep (and presenter mode with people enrolled): identity checks in a process of their own
        self._people = people or People()
        self._recognizer = recognizer
        self._gate: KeepGate | None = None
        self._gate_since = -1e9  # checks of frames captured before this (a cut, a new list) are ignored
        self._recognition_error: str | None = None
        self._enrolling: tuple[str, float, list[np.ndarray]] | None = None  # "Keep me visible": name, until, views
        self._enrol_asked = -1e9
        self._enrol_asks = 0  # views asked of the recognition process while enrolling
        self._in_shape: tuple[int, ...] | None = None
        self._last_cap_t: float | None = None  # capture time of the frame taken before
        self._last_error: str | None = None
        self._det_times: deque[float] = deque(maxlen=64)
        self._det_ms: deque[float] = deque(maxlen=32)
        self._status = Status(camera=camera_name, people=self._people.names)
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
        if self._recognizer is not None:  # its process now when people are enrolled, else on "Keep me visible"
            self._recognizer.start(eager=bool(self._people.views))
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
            if self._recognizer is not None:
                self._recognizer.stop()
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
            if self._enrolling is not None:
                self._end_enrolment()
            if cap is not None:
                last_capture = cap.t
                frame = self._follow(cap)
                new_scene = self._scene.epoch == cap.seq
                self._worker.offer(cap if frame is cap.frame else replace(cap, frame=frame), urgent=new_scene)
                faces = self._scene.faces(cap.seq, cap.t, tentative=True)
                self._window.add(cap.seq, cap.t, (cap, frame), self._scene.view(cap.seq)[0], self._scene.epoch, faces)
                self._follow_identities(cap.t, faces, new_scene)
                last_frame = frame
            sent = self._send_due()
            self._log_state()  # a change the log held back: say where things stand now
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
            self._summarise(report)
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
                self._start_enrolment(cmd.enrol)
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
            self._grabber.backlog = capture_backlog(new, self._fps)
            self._settings = new
            changed = True
            log.info("%s", cmd.name)
        if changed:
            self._notify()
        return True

    def _kept_names(self) -> tuple[str, ...]:
        """Whose faces may stay visible: ``--keep``'s people, else everyone enrolled in presenter mode."""
        if self._recognizer is None:
            return ()
        s = self._settings
        return s.keep or (self._people.names if s.presenter else ())

    def _start_enrolment(self, name: str) -> None:
        if self._recognizer is None:
            log.warning("cannot keep %s visible: face recognition is not installed (%s)", name, INSTALL_HINT)
            return
        try:
            name = check_name(name)
        except PeopleError as e:
            log.warning("cannot keep %s visible: %s", name, e)
            return
        log.info("keep %s visible: look at the camera for %.0f s (alone in view)", name, ENROL_LIVE_S)
        self._enrolling = (name, self._clock() + ENROL_START_S, [])  # until the first view: then ENROL_LIVE_S
        self._enrol_asks = 0

    def _enrol_step(self, t: float, frame: np.ndarray, faces: Faces) -> None:
        """While enrolling, on each detection: a view of the face that dominates the picture every
        ``ENROL_EVERY_S``."""
        assert self._enrolling is not None and self._recognizer is not None
        tracked = faces[faces.track_id >= 0]
        i = dominant(tracked)
        if i is not None and t - self._enrol_asked >= ENROL_EVERY_S:
            self._enrol_asked = t
            self._enrol_asks += 1
            self._recognizer.ask(CheckRequest(t, frame, tracked[i], enrol=True))

    def _end_enrolment(self) -> None:
        """When enrolling's time is up (checked every turn of the loop, not on detections: a detector that
        failed or stalled must not leave it open), the views are saved (``livecam people``) and the person
        kept, or the log says why not."""
        assert self._enrolling is not None
        name, until, views = self._enrolling
        if self._clock() < until:
            return
        self._enrolling = None
        if not views and self._enrol_asks:
            log.warning("could not keep %s visible: face recognition answered none of %d views in %.0f s (it runs "
                        "only on CPU time nothing else wants, and this machine has none to spare); try again when "
                        "the machine is less busy", name, self._enrol_asks, ENROL_START_S)
            return
        if len(views) < ENROL_LIVE_MIN:
            log.warning("could not keep %s visible: %d clear views of one face in %.0f s (need %d); try again "
                        "alone in front of the camera", name, len(views), ENROL_LIVE_S, ENROL_LIVE_MIN)
            return
        try:
            people = load_people().adding(name, views)
            path = save_people(people)
        except (PeopleError, OSError) as e:
            log.warning("could not save %s's views: %s", name, e)
            return
        self._people = people
        self._gate = None
        self._settings = self._settings.replace(keep=[*[k for k in self._settings.keep if k != name], name])
        self._status = replace(self._status, people=people.names)
        log.info("enrolled %s (%d views, %s); kept visible", name, len(people.views[name]), path)
        self._notify()

    def _follow_identities(self, t: float, faces: Faces, new_scene: bool) -> None:
        """Keep the identity gate in step with the newest frame (tracks ended or crossing: checked afresh)."""
        names = self._kept_names()
        if not names or not self._settings.anonymize:
            self._gate = None
            return
        if self._gate is None or self._gate.names != names or new_scene:
            # a cut or another list: every face checked afresh
            self._gate = KeepGate(self._people, names, KeepParams(per_s=LIVE_CHECKS_PER_S))
            self._gate_since = t
        self._gate.see(faces)

    def _ask_identities(self, r: DetResult) -> None:
        """Identity checks (and "Keep me visible" views) on the frame a detection ran on, of the faces it
        found there: their boxes are measured, not predicted. (On predicted boxes, a head that moved was
        aligned badly: the kept person at a webcam measured 0.38-0.69 from their own views, 0.39-0.46 on
        the detector's boxes.)"""
        if r.frame is None or (self._gate is None and self._enrolling is None):
            return
        det_t = self._scene.det_t  # set by the detection just applied (its time, or the tracker's if later)
        assert det_t is not None
        faces = self._scene.faces(r.seq, det_t, tentative=True)
        faces = faces[np.isin(faces.track_id, self._scene.detected_ids)]
        if self._enrolling is not None:
            self._enrol_step(r.t, r.frame, faces)
        if self._gate is not None and r.t >= self._gate_since:
            assert self._recognizer is not None
            due = self._gate.due(faces, r.t)
            if len(due):
                self._recognizer.ask(CheckRequest(r.t, r.frame, due))

    def _take_identities(self) -> None:
        if self._recognizer is None:
            return
        for r in self._recognizer.results():
            if r.enrol:
                if self._enrolling is not None and r.descriptor is not None:
                    name, _, views = self._enrolling
                    if not views:  # the views' time starts with the first (the recognition process may be starting)
                        self._enrolling = (name, self._clock() + ENROL_LIVE_S, views)
                    views.append(r.descriptor)
                continue
            if self._gate is None or r.t < self._gate_since:
                continue
            if r.descriptor is None:
                if self._recognition_error is None:
                    log.warning("face recognition failed: %s; every face is covered until it works again", r.error)
                self._recognition_error = r.error
                self._gate.reset()
                continue
            if self._recognition_error is not None:
                log.info("face recognition works again")
                self._recognition_error = None
            self._gate.checked(r.track_id, r.t, r.descriptor)

    def _take_results(self) -> None:
        self._take_identities()
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
            self._ask_identities(r)
        if len(self._det_times) >= 2:
            span = self._det_times[-1] - self._det_times[0]
            hz = (len(self._det_times) - 1) / span if span > 0 else 0.0
            self._status = replace(self._status, detect_hz=hz, detector_ms=float(np.median(self._det_ms)),
                                   detect_size=self._worker.detect_size)

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
        distrust = self._distrust(held)
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
        if self._gate is not None:
            faces = faces[~self._gate.visible(faces, self._clock())]
        elif s.presenter:
            faces = self._presenter.others(faces, frame.shape[1], frame.shape[0])
        else:
            self._presenter.reset()
        return effects.apply(frame, faces, s.effect_params()), faces, None

    def _set_status(self, mode: Mode, reason: str | None) -> None:
        """Publish a mode change. Reasons differing only after their ':' (e.g. an age in ms) are one state."""
        if mode is self._status.mode and reason_kind(reason) == self._status.kind:
            return
        self._status = replace(self._status, mode=mode, reason=reason)
        self._changes += 1
        log.debug("state: %s (%s)", mode.value, reason)
        self._log_state()
        self._notify()

    def _log_state(self) -> None:
        """Say the current state in the log when it differs from the last one said, at most once per
        ``LOG_GAP_S`` (failing closed after another state: at once): changes in between are counted and
        said with the next line (a machine too busy to keep up would otherwise fill the log); called on
        every change and every loop, so the log's last word is always the current state."""
        st = self._status
        said = (st.mode, st.kind)
        if said == self._logged:
            return
        now = self._clock()
        news = st.mode is Mode.FAILING_CLOSED and self._logged[0] is not Mode.FAILING_CLOSED
        if now - self._last_state_log < LOG_GAP_S and not news:  # failing closed is said at once
            return
        brief = self._changes - 1  # the changes before this one, each undone within LOG_GAP_S
        more = f" ({brief} brief changes since the last line)" if brief > 0 else ""
        if st.mode is Mode.FAILING_CLOSED:
            log.warning("failing closed (whole frame obscured): %s%s", st.reason, more)
        elif self._logged[0] is Mode.FAILING_CLOSED:
            log.info("%s again%s", st.mode.value, more)
        self._logged, self._last_state_log, self._changes = said, now, 0

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

    def _summarise(self, out: FrameReport) -> None:
        """One line a minute: what the viewers got and what detection could do."""
        self._minute[0] += 1
        self._minute[1] += out.obscured_all
        now = self._clock()
        if now - self._minute_t >= SUMMARY_S:
            frames, obscured = self._minute
            st = self._status
            log.info("last minute: %d frames out, %.1f%% wholly obscured; detection %.1f Hz at %s px, %.0f ms each",
                     frames, 100.0 * obscured / max(1, frames), st.detect_hz, st.detect_size or "?", st.detector_ms)
            self._minute_t, self._minute = now, [0, 0]

    def _notify(self) -> None:
        for fn in self._listeners:
            try:
                fn(self._status, self._settings)
            except Exception:  # a broken listener must not stop the video
                log.exception("status listener failed")
