"""The anonymizing engine shared by every mode: detector + tracker + effect.

``Anonymizer`` is fed frames in time order. File mode detects on every frame; the live
pipeline detects asynchronously and calls ``track`` / ``render`` separately.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from livecam import effects
from livecam.detectors import Detector
from livecam.faces import Faces
from livecam.tracker import FaceTracker, TrackerParams

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineParams:
    effect: effects.EffectParams = field(default_factory=effects.EffectParams)
    tracker: TrackerParams = field(default_factory=TrackerParams)


class Anonymizer:
    """Detect, track and obscure faces in BGR ``uint8 (H, W, 3)`` frames given in time order."""

    def __init__(self, detector: Detector, params: EngineParams | None = None):
        self.detector = detector
        self.params = params or EngineParams()
        self.tracker = FaceTracker(self.params.tracker)

    def reset(self) -> None:
        self.tracker.reset()

    def __call__(self, frame_bgr: np.ndarray, t: float = 0.0) -> tuple[np.ndarray, Faces]:
        """Detect on ``frame_bgr`` captured at ``t`` seconds; returns ``(anonymized copy, faces covered)``.

        If the detector raises, the error propagates: callers must not emit the frame.
        """
        faces = self.tracker.update(self.detector(frame_bgr), t)
        return effects.apply(frame_bgr, faces, self.params.effect), faces

    def photo(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Faces]:
        """A single still: detection only, no tracking history."""
        faces = self.detector(frame_bgr)
        return effects.apply(frame_bgr, faces, self.params.effect), faces
