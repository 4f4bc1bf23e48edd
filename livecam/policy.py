"""What one detection runs and how its results are trusted, in files and live alike (below both: the
file engine and the live path import it, not each other).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livecam.detectors import Detector, load_detector, passes
from livecam.faces import Faces
from livecam.hindsight import HindsightParams
from livecam.settings import Settings
from livecam.tracker import TrackerParams

# A face already tracked is followed down to this share of the detector threshold.
CONTINUE_RATIO = 0.5

# A track none of whose detections reached the threshold is confirmed after this many detections
# (in consistent positions: each matched to the last by IoU). Chosen on the pan test and clips:
# see the README's "Look-ahead" table.
CONFIRM_HITS = 3


@dataclass(frozen=True)
class DetectionPolicy:
    """What one detection runs, in files and live alike: the user's threshold split in three, and the pass.

    ``threshold`` (the user's) starts a track and counts a face in a photo; the detector runs lower,
    at ``detector_threshold``, so a face already tracked is followed below it; a track none of whose
    detections reached it is confirmed after ``confirm_hits`` consistent ones. ``width``: the fast
    pass's input width (``None``: the frame's own, capped); the live path changes it with the load.
    """

    threshold: float
    small_faces_s: float
    """Files: the thorough pass at least this often; live: one small-face tile with detections; 0 = never."""
    width: int | None = None
    confirm_hits: int = CONFIRM_HITS

    @classmethod
    def from_settings(cls, settings: Settings) -> DetectionPolicy:
        return cls(settings.threshold, settings.small_faces_s, settings.detect_size)

    @property
    def detector_threshold(self) -> float:
        return max(0.01, self.threshold * CONTINUE_RATIO)

    def tracker_params(self) -> TrackerParams:
        return TrackerParams(start_score=self.threshold, confirm_hits=self.confirm_hits)

    def video(self, detector: Detector, frame_bgr: np.ndarray, thorough: bool) -> Faces:
        """A video frame: the thorough pass when it is due (``thorough``) and small faces are on, else the fast pass."""
        if thorough and self.small_faces_s > 0:
            return passes.thorough(detector, frame_bgr, self.width, self.detector_threshold)
        return passes.fast(detector, frame_bgr, self.width, self.detector_threshold)

    def live(self, detector: Detector, frame_bgr: np.ndarray, tile: int | None) -> Faces:
        """A live detection: the fast pass, plus small-face tile ``tile`` (round robin) when given and
        small faces are on."""
        if tile is not None and self.small_faces_s > 0:
            return passes.with_tile(detector, frame_bgr, self.width, self.detector_threshold, tile)
        return passes.fast(detector, frame_bgr, self.width, self.detector_threshold)

    def photo(self, detector: Detector, frame_bgr: np.ndarray) -> Faces:
        """A still: the thorough pass (unless small faces are off), faces at the user's threshold."""
        faces = self.video(detector, frame_bgr, thorough=True)
        return faces[faces.score > self.threshold]



def hindsight_params(settings: Settings) -> HindsightParams:
    """The look-ahead window's rules for ``settings``: file mode and the live path alike."""
    return HindsightParams(bridge=settings.bridge_gaps)


def load_settings_detector(settings: Settings, live: bool = False) -> Detector:
    """The detector ``settings`` ask for; file mode and the live path load it alike."""
    return load_detector(settings.model, device=settings.device, input_size=settings.detect_size, live=live)
