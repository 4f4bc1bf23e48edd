"""Who stays visible live: ``--keep``, presenter mode with people enrolled, and "Keep me visible".

Owned by the pipeline thread, as the rest of its state: it hands the recognition process (``people``)
the faces a detection measured, takes its answers, and tells the frame loop which faces may stay
visible. Enrolling ("Keep me visible") collects views of the face in front of the camera and saves
them as ``livecam people add`` would.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

import numpy as np

from livecam.faces import Faces
from livecam.live.worker import DetResult
from livecam.people import (ENROL_EVERY_S, INSTALL_HINT, LIVE_CHECKS_PER_S, CheckRequest, KeepGate, KeepParams,
                            People, PeopleError, RecognitionWorker, check_name, dominant, load_people, save_people)
from livecam.scene import SceneTracker
from livecam.settings import Settings

log = logging.getLogger(__name__)

ENROL_LIVE_S = 4.0
""""Keep me visible" takes views of the face in front of the camera for this long ..."""
ENROL_START_S = 30.0
"""... counted from its first view, which may take this long to come (the recognition process starts with the
request: 1-2 s idle, more on a busy machine) ..."""
ENROL_LIVE_MIN = 4
"""... and needs at least this many (one every ``people.ENROL_EVERY_S``)."""


class KeepVisible:
    """The identity gate of the live path and "Keep me visible"; ``recognizer`` None: face recognition is not
    installed (nobody is kept, every face is covered)."""

    def __init__(self, people: People, recognizer: RecognitionWorker | None,
                 clock: Callable[[], float] = time.monotonic):
        self.people = people
        self._recognizer = recognizer
        self._clock = clock
        self._gate: KeepGate | None = None
        self._gate_since = -1e9  # checks of frames captured before this (a cut, a new list) are ignored
        self._error: str | None = None  # the recognition process's last failure, until it works again
        self._enrolling: tuple[str, float, list[np.ndarray]] | None = None  # name, until, views
        self._enrol_asked = -1e9
        self._enrol_asks = 0  # views asked of the recognition process while enrolling

    def start(self) -> None:
        """Its process now when people are enrolled, else with the first "Keep me visible"."""
        if self._recognizer is not None:
            self._recognizer.start(eager=bool(self.people.views))

    def stop(self) -> None:
        if self._recognizer is not None:
            self._recognizer.stop()

    @property
    def active(self) -> bool:
        """Some faces may be kept visible or views are being taken: detections are worth handing over."""
        return self._gate is not None or self._enrolling is not None

    def kept_names(self, settings: Settings) -> tuple[str, ...]:
        """Whose faces may stay visible: ``--keep``'s people, else everyone enrolled in presenter mode."""
        if self._recognizer is None:
            return ()
        return settings.keep or (self.people.names if settings.presenter else ())

    def covered(self, faces: Faces, now: float) -> Faces | None:
        """The faces to cover of ``faces`` (the kept people's left out), or None when nobody is kept."""
        if self._gate is None:
            return None
        return faces[~self._gate.visible(faces, now)]

    def follow(self, t: float, faces: Faces, new_scene: bool, settings: Settings) -> None:
        """Keep the identity gate in step with the newest frame (tracks ended or crossing: checked afresh)."""
        names = self.kept_names(settings)
        if not names or not settings.anonymize:
            self._gate = None
            return
        if self._gate is None or self._gate.names != names or new_scene:
            # a cut or another list: every face checked afresh
            self._gate = KeepGate(self.people, names, KeepParams(per_s=LIVE_CHECKS_PER_S))
            self._gate_since = t
        self._gate.see(faces)

    def ask(self, r: DetResult, scene: SceneTracker) -> None:
        """Identity checks (and "Keep me visible" views) on the frame a detection ran on, of the faces it
        found there: their boxes are measured, not predicted. (On predicted boxes, a head that moved was
        aligned badly: the kept person at a webcam measured 0.38-0.69 from their own views, 0.39-0.46 on
        the detector's boxes.)"""
        if r.frame is None or not self.active:
            return
        assert self._recognizer is not None
        det_t = scene.det_t  # set by the detection just applied (its time, or the tracker's if later)
        assert det_t is not None
        faces = scene.faces(r.seq, det_t, tentative=True)
        faces = faces[np.isin(faces.track_id, scene.detected_ids)]
        if self._enrolling is not None:
            tracked = faces[faces.track_id >= 0]
            i = dominant(tracked)
            if i is not None and r.t - self._enrol_asked >= ENROL_EVERY_S:
                self._enrol_asked = r.t
                self._enrol_asks += 1
                self._recognizer.ask(CheckRequest(r.t, r.frame, tracked[i], enrol=True))
        if self._gate is not None and r.t >= self._gate_since:
            due = self._gate.due(faces, r.t)
            if len(due):
                self._recognizer.ask(CheckRequest(r.t, r.frame, due))

    def take(self) -> None:
        """The recognition process's answers: identity checks for the gate, views for enrolling."""
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
                if self._error is None:
                    log.warning("face recognition failed: %s; every face is covered until it works again", r.error)
                self._error = r.error
                self._gate.reset()
                continue
            if self._error is not None:
                log.info("face recognition works again")
                self._error = None
            self._gate.checked(r.track_id, r.t, r.descriptor)

    def start_enrolment(self, name: str) -> None:
        """"Keep me visible" as ``name``: views are taken from the next detections (see ``end_enrolment``)."""
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

    def end_enrolment(self) -> str | None:
        """When enrolling's time is up (checked every turn of the frame loop, not on detections: a detector that
        failed or stalled must not leave it open), the views are saved (``livecam people``) and the name
        enrolled is returned, for the caller to keep; or the log says why not and None is returned."""
        if self._enrolling is None:
            return None
        name, until, views = self._enrolling
        if self._clock() < until:
            return None
        self._enrolling = None
        if not views and self._enrol_asks:
            log.warning("could not keep %s visible: face recognition answered none of %d views in %.0f s (it runs "
                        "only on CPU time nothing else wants, and this machine has none to spare); try again when "
                        "the machine is less busy", name, self._enrol_asks, ENROL_START_S)
            return None
        if len(views) < ENROL_LIVE_MIN:
            log.warning("could not keep %s visible: %d clear views of one face in %.0f s (need %d); try again "
                        "alone in front of the camera", name, len(views), ENROL_LIVE_S, ENROL_LIVE_MIN)
            return None
        try:
            people = load_people().adding(name, views)
            path = save_people(people)
        except (PeopleError, OSError) as e:
            log.warning("could not save %s's views: %s", name, e)
            return None
        self.people = people
        self._gate = None
        log.info("enrolled %s (%d views, %s); kept visible", name, len(people.views[name]), path)
        return name
