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
from livecam.hindsight import Hindsight, HindsightParams
from livecam.scene import SceneTracker
from livecam.settings import Settings
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
    lookahead_s: float = 0.0
    """Videos: frames wait this long before they are written, so that a face is covered from the
    first frame it is in (``livecam.hindsight``); 0 = every frame is written as it is detected."""
    hindsight: HindsightParams = field(default_factory=HindsightParams)


# A face already tracked is followed down to this share of the detector threshold.
CONTINUE_RATIO = 0.5


def continue_threshold(threshold: float) -> float:
    return max(0.01, threshold * CONTINUE_RATIO)


# A track none of whose detections reached the threshold is confirmed after this many detections
# (in consistent positions: each matched to the last by IoU). Chosen on the pan test and clips:
# see the README's "Look-ahead" table.
CONFIRM_HITS = 3


def tracker_params(threshold: float, confirm_hits: int = CONFIRM_HITS) -> TrackerParams:
    return TrackerParams(start_score=threshold, confirm_hits=confirm_hits)


def detect(detector: Detector, frame_bgr: np.ndarray, full: bool) -> Faces:
    """The detector's thorough pass where asked for and available, else its fast pass."""
    return detector.detect_full(frame_bgr) if full else detector(frame_bgr)


class Anonymizer:
    """Detect, track and obscure faces in BGR ``uint8 (H, W, 3)`` frames given in time order.

    Videos: ``push(frame, t)`` returns the frames that leave the look-ahead window (none while it
    fills), ``flush()`` the rest at the end; each comes out once, in order, as
    ``(anonymized copy, faces covered)``. ``lookahead_s`` of frames are held in memory
    (1080p: 6.2 MB a frame)."""

    def __init__(self, detector: Detector, params: EngineParams | None = None):
        self.detector = as_detector(detector)
        self.params = params or EngineParams()
        self.reset()

    def reset(self) -> None:
        """Forget everything seen: the next frame is the first of a new video."""
        self.scene = SceneTracker(self.params.tracker)
        self.window: Hindsight[np.ndarray] = Hindsight(self.params.hindsight)
        self._seq = 0
        self._last_full: float | None = None

    def _full_due(self, t: float) -> bool:
        every = self.params.full_every_s
        if every <= 0:
            return False
        if self._last_full is None or t - self._last_full >= every - 1e-6:
            self._last_full = t
            return True
        return False

    def push(self, frame_bgr: np.ndarray, t: float = 0.0) -> list[tuple[np.ndarray, Faces]]:
        """Detect on ``frame_bgr`` captured at ``t`` seconds (times increasing); returns the frames
        that leave the window now, oldest first, as ``(anonymized copy, faces covered)``.

        If the detector raises, the error propagates: callers must not emit any frame.
        """
        self._seq += 1
        seq = self._seq
        if self.scene.see(seq, frame_bgr):  # a cut: look for small faces at once
            self._last_full = None
        self.scene.detected(seq, detect(self.detector, frame_bgr, self._full_due(t)), t)
        self.window.add(seq, t, frame_bgr, self.scene.view(seq)[0], self.scene.epoch,
                        self.scene.faces(seq, t, tentative=True))
        self.window.confirm(self.scene.confirmed_ids)
        out = []
        while (oldest := self.window.oldest) is not None and t - oldest.t >= self.params.lookahead_s - 1e-6:
            out.append(self._leave())
        return out

    def flush(self) -> list[tuple[np.ndarray, Faces]]:
        """The frames still waiting (the end of a video), oldest first."""
        return [self._leave() for _ in range(len(self.window))]

    def _leave(self) -> tuple[np.ndarray, Faces]:
        held, faces = self.window.pop()
        return effects.apply(held.payload, faces, self.params.effect), faces

    def __call__(self, frame_bgr: np.ndarray, t: float = 0.0) -> tuple[np.ndarray, Faces]:
        """One frame in, the same frame out, anonymized (no look-ahead: ``lookahead_s`` must be 0)."""
        if self.params.lookahead_s:
            raise ValueError("Anonymizer with a look-ahead window: use push() and flush()")
        (out,) = self.push(frame_bgr, t)
        return out

    def detect_photo(self, frame_bgr: np.ndarray) -> Faces:
        """The faces of a single still: the thorough detection pass, no tracking history."""
        faces = detect(self.detector, frame_bgr, self.params.full_every_s > 0)
        return faces[faces.score > self.params.threshold]

    def photo(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Faces]:
        """A single still, anonymized: ``(anonymized copy, faces covered)``."""
        faces = self.detect_photo(frame_bgr)
        return effects.apply(frame_bgr, faces, self.params.effect), faces


def load_settings_detector(settings: Settings) -> Detector:
    """The detector ``settings`` (a ``livecam.settings.Settings``) ask for, running at the threshold
    that continues tracks (``continue_threshold``); file mode and the live path load it alike."""
    from livecam.detectors import load_detector

    return load_detector(settings.model, device=settings.device, detect_size=settings.detect_size,
                         threshold=continue_threshold(settings.threshold))


def make_anonymizer(settings: Settings) -> Anonymizer:
    """The file-mode engine for ``settings`` (a ``livecam.settings.Settings``)."""
    detector = load_settings_detector(settings)
    return Anonymizer(detector, EngineParams(effect=settings.effect_params(), full_every_s=settings.small_faces_s,
                                             threshold=settings.threshold, tracker=tracker_params(settings.threshold),
                                             lookahead_s=settings.lookahead_s))
