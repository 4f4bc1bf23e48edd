"""The anonymizing engine shared by every mode: detector + tracker + effect.

``Anonymizer`` is fed frames in time order. File mode detects on every frame; tracking in
camera-stabilised coordinates, scene by scene, is ``livecam.scene.SceneTracker`` (shared with the
live pipeline and ``livecam eval --live-hz``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from livecam import effects
from livecam.detectors import Detector, as_detector
from livecam.faces import Faces
from livecam.scene import SceneTracker
from livecam.tracker import TrackerParams

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineParams:
    effect: effects.EffectParams = field(default_factory=effects.EffectParams)
    tracker: TrackerParams = field(default_factory=TrackerParams)
    full_every_s: float = 0.5
    """Run the detector's thorough pass (small and large faces) at least this often; 0 = never."""
    threshold: float = 0.0
    """Score a detection needs to count as a face in a photo, or to start a track in a video (the
    detector itself runs lower, at ``continue_threshold``, so tracked faces are followed below it)."""


# A face already tracked is followed down to this share of the detector threshold.
CONTINUE_RATIO = 0.5


def continue_threshold(threshold: float) -> float:
    return max(0.01, threshold * CONTINUE_RATIO)


def tracker_params(threshold: float) -> TrackerParams:
    return TrackerParams(start_score=threshold)


def detect(detector: Detector, frame_bgr: np.ndarray, full: bool) -> Faces:
    """The detector's thorough pass where asked for and available, else its fast pass."""
    return detector.detect_full(frame_bgr) if full else detector(frame_bgr)


class Anonymizer:
    """Detect, track and obscure faces in BGR ``uint8 (H, W, 3)`` frames given in time order."""

    def __init__(self, detector: Detector, params: EngineParams | None = None):
        self.detector = as_detector(detector)
        self.params = params or EngineParams()
        self.scene = SceneTracker(self.params.tracker)
        self._seq = 0
        self._last_full: float | None = None

    def reset(self) -> None:
        """Forget everything seen: the next frame is the first of a new video."""
        self.scene = SceneTracker(self.params.tracker)
        self._last_full = None

    def _full_due(self, t: float) -> bool:
        every = self.params.full_every_s
        if every <= 0:
            return False
        if self._last_full is None or t - self._last_full >= every - 1e-6:
            self._last_full = t
            return True
        return False

    def __call__(self, frame_bgr: np.ndarray, t: float = 0.0) -> tuple[np.ndarray, Faces]:
        """Detect on ``frame_bgr`` captured at ``t`` seconds; returns ``(anonymized copy, faces covered)``.

        If the detector raises, the error propagates: callers must not emit the frame.
        """
        self._seq += 1
        if self.scene.see(self._seq, frame_bgr):  # a cut: look for small faces at once
            self._last_full = None
        self.scene.detected(self._seq, detect(self.detector, frame_bgr, self._full_due(t)), t)
        faces = self.scene.faces(self._seq, t)
        return effects.apply(frame_bgr, faces, self.params.effect), faces

    def detect_photo(self, frame_bgr: np.ndarray) -> Faces:
        """The faces of a single still: the thorough detection pass, no tracking history."""
        faces = detect(self.detector, frame_bgr, self.params.full_every_s > 0)
        return faces[faces.score > self.params.threshold]

    def photo(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Faces]:
        """A single still, anonymized: ``(anonymized copy, faces covered)``."""
        faces = self.detect_photo(frame_bgr)
        return effects.apply(frame_bgr, faces, self.params.effect), faces


def load_settings_detector(settings) -> Detector:
    """The detector ``settings`` (a ``livecam.settings.Settings``) ask for, running at the threshold
    that continues tracks (``continue_threshold``); file mode and the live path load it alike."""
    from livecam.detectors import load_detector

    return load_detector(settings.model, device=settings.device, detect_size=settings.detect_size,
                         threshold=continue_threshold(settings.threshold))


def make_anonymizer(settings) -> Anonymizer:
    """The file-mode engine for ``settings`` (a ``livecam.settings.Settings``)."""
    detector = load_settings_detector(settings)
    return Anonymizer(detector, EngineParams(effect=settings.effect_params(), full_every_s=settings.small_faces_s,
                                             threshold=settings.threshold, tracker=tracker_params(settings.threshold)))
