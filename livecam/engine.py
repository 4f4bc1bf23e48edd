"""The anonymizing engine shared by every mode: detector + tracker + effect.

``Anonymizer`` is fed frames in time order. File mode detects on every frame; tracking in
camera-stabilised coordinates, scene by scene, is ``livecam.scene.SceneTracker`` (shared with the
live pipeline and ``livecam eval --live-hz``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from livecam import effects
from livecam.detectors import Detector
from livecam.faces import Faces
from livecam.hindsight import Hindsight, HindsightParams
from livecam.policy import DetectionPolicy, hindsight_params, load_settings_detector
from livecam.people import InlineKeep, keep_in_photo
from livecam.scene import SceneTracker
from livecam.settings import Settings
from livecam.text.finder import load_text_finder
from livecam.text.ppocr import FILES_WIDTH
from livecam.text import plates_only, to_cover
from livecam.text.timeline import TextParams, TextTimeline

log = logging.getLogger(__name__)


class ThoroughClock:
    """Files: when the thorough pass is due: at once after a cut (and on the first frame), then on a grid of
    ``every_s`` of video time, so that the parts of a video split between workers run it on the same
    frames as one piece does, from their first grid point on."""

    def __init__(self, every_s: float):
        self.every_s = every_s
        self._next: float | None = None

    def cut(self) -> None:
        self._next = None

    def due(self, t: float) -> bool:
        if self.every_s <= 0:
            return False
        if self._next is None or t >= self._next - 1e-6:
            self._next = (math.floor(t / self.every_s + 1e-6) + 1) * self.every_s
            return True
        return False


@dataclass(frozen=True)
class EngineParams:
    effect: effects.EffectParams = field(default_factory=effects.EffectParams)
    policy: DetectionPolicy = field(default_factory=lambda: DetectionPolicy.from_settings(Settings()))
    lookahead_s: float = 0.0
    """Videos: frames wait this long before they are written, so that a face is covered from the
    first frame it is in (``livecam.hindsight``); 0 = every frame is written as it is detected."""
    hindsight: HindsightParams = field(default_factory=HindsightParams)


class Anonymizer:
    """Detect, track and obscure faces in BGR ``uint8 (H, W, 3)`` frames given in time order.

    Videos: ``push(frame, t)`` returns the frames that leave the look-ahead window (none while it
    fills), ``flush()`` the rest at the end; each comes out once, in order, as
    ``(anonymized copy, faces covered)``. ``lookahead_s`` of frames are held in memory
    (1080p: 6.2 MB a frame)."""

    def __init__(self, detector: Detector, params: EngineParams | None = None, keep: InlineKeep | None = None,
                 text: TextTimeline | None = None):
        self.detector = detector
        self.params = params or EngineParams()
        self.keep = keep
        """``--keep``/``--reveal``: faces whose track is recognised as a kept person are left visible."""
        self.text = text
        """``--cover plates|text``: the text found and the frames it covers (None: faces only)."""
        self.reset()

    def reset(self) -> None:
        """Forget everything seen: the next frame is the first of a new video."""
        self.scene = SceneTracker(self.params.policy.tracker_params())
        self.window: Hindsight[np.ndarray] = Hindsight(self.params.hindsight)
        self._seq = 0
        self._thorough = ThoroughClock(self.params.policy.small_faces_s)
        self._t = 0.0
        if self.keep is not None:
            self.keep.gate.reset()
        if self.text is not None:
            self.text.reset()

    def push(self, frame_bgr: np.ndarray, t: float = 0.0) -> list[tuple[np.ndarray, Faces]]:
        """Detect on ``frame_bgr`` captured at ``t`` seconds (times increasing); returns the frames
        that leave the window now, oldest first, as ``(anonymized copy, faces covered)``.

        If the detector raises, the error propagates: callers must not emit any frame.
        """
        self._seq += 1
        seq = self._seq
        self._t = t
        if self.scene.see(seq, frame_bgr):  # a cut: look for small faces at once; identities checked afresh
            self._thorough.cut()
            if self.keep is not None:
                self.keep.gate.reset()
            if self.text is not None:
                self.text.cut()
        if self.text is not None:
            self.text.see(frame_bgr, t, self.scene.view(seq)[0], self.scene.epoch)
        self.scene.detected(seq, self.params.policy.video(self.detector, frame_bgr, self._thorough.due(t)), t)
        if self.keep is not None:
            self.keep.frame(frame_bgr, self.scene.faces(seq, t), t)
        self.window.add(seq, t, frame_bgr, self.scene.view(seq)[0], self.scene.epoch,
                        self.scene.faces(seq, t, tentative=True), self.scene.detected_ids)
        self.window.confirm(self.scene.confirmed_ids)
        out = []
        while self.window.leaves(t, self.params.lookahead_s):
            out.append(self._leave())
        return out

    def flush(self) -> list[tuple[np.ndarray, Faces]]:
        """The frames still waiting (the end of a video), oldest first."""
        return [self._leave() for _ in range(len(self.window))]

    def _leave(self) -> tuple[np.ndarray, Faces]:
        held, faces = self.window.pop()
        if self.keep is not None:
            visible = self.keep.gate.visible(faces, self._t)
            self.keep.revealed, faces = faces[visible], faces[~visible]
        out = effects.apply(held.payload, faces, self.params.effect)
        if self.text is not None:
            out = effects.apply_texts(out, self.text.at(held.t, held.offset, held.epoch), self.params.effect)
        return out, faces

    def __call__(self, frame_bgr: np.ndarray, t: float = 0.0) -> tuple[np.ndarray, Faces]:
        """One frame in, the same frame out, anonymized (no look-ahead: ``lookahead_s`` must be 0)."""
        if self.params.lookahead_s:
            raise ValueError("Anonymizer with a look-ahead window: use push() and flush()")
        (out,) = self.push(frame_bgr, t)
        return out

    def detect_photo(self, frame_bgr: np.ndarray) -> Faces:
        """The faces of a single still: the thorough detection pass, no tracking history."""
        return self.params.policy.photo(self.detector, frame_bgr)

    def photo(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Faces]:
        """A single still, anonymized: ``(anonymized copy, faces covered)``."""
        faces = self.detect_photo(frame_bgr)
        if self.keep is not None:
            gate = self.keep.gate
            faces = faces[~keep_in_photo(gate.people, gate.names, self.keep.describer, frame_bgr, faces, gate.params)]
        out = effects.apply(frame_bgr, faces, self.params.effect)
        if self.text is not None and self.text.finder is not None:
            out = effects.apply_texts(out, to_cover(self.text.finder(frame_bgr), self.text.params.plates_only),
                                      self.params.effect)
        return out, faces


def make_keep(settings: Settings, option: str = "--keep") -> InlineKeep | None:
    """File mode's ``--keep`` (or ``--reveal``): the enrolled people checked inline; None without it."""
    if not settings.keep:
        return None
    from livecam.people import Describer, KeepGate, load_people, require

    people = load_people()
    require(people, settings.keep, option)
    return InlineKeep(KeepGate(people, settings.keep), Describer())


def make_anonymizer(settings: Settings, detector: Detector | None = None, keep: InlineKeep | None = None) -> Anonymizer:
    """The file-mode engine for ``settings`` (its model loaded unless ``detector`` is given; ``keep``:
    ``make_keep(settings)``, made once for a batch)."""
    finder = load_text_finder(settings.cover, FILES_WIDTH)
    return Anonymizer(detector or load_settings_detector(settings),
                      EngineParams(effect=settings.effect_params(), policy=DetectionPolicy.from_settings(settings),
                                   lookahead_s=settings.lookahead_s, hindsight=hindsight_params(settings)), keep,
                      None if finder is None else TextTimeline(finder, TextParams(plates_only=plates_only(settings.cover))))
