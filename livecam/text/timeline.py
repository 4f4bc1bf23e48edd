"""When text is looked for, and which frames each finding covers.

The finder costs several face detections (~150-200 ms a 720p frame on one CPU core), so it runs on a grid of
``every_s`` of video time; what it finds covers the frames ``hold_s`` either side of the frame it ran on, in
camera-stabilised coordinates (a parked car's plate stays put while the camera pans), within one scene. Files
hold frames for the look-ahead, so a plate is covered from its first frame there; live, without a delay, only
from the first detection on.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from livecam.text import TextFinder, Texts


@dataclass(frozen=True)
class TextParams:
    every_s: float = 0.2
    """Run the finder at most this often (a grid of video time, so split parts of a file agree)."""
    hold_s: float = 0.25
    """A finding covers the frames this long before and after its own: a little over ``every_s``, so every frame
    between two runs is covered by both."""
    plates_only: bool = False
    """Cover only the regions read as plates (``--cover faces,plates``), not every text region."""
    sticky_s: float = 1.0
    """A region read as a plate stays one: a text region of another finding within this long that overlaps it (in
    stabilised coordinates) is covered as a plate too. A plate half out of the picture reads "NZJ" and fails the
    plate rule; a dirty or blurred frame misreads it."""

    def __post_init__(self) -> None:
        if self.every_s <= 0 or self.hold_s < self.every_s:
            raise ValueError(f"text timeline needs every_s > 0 and hold_s >= every_s, got {self.every_s}, "
                             f"{self.hold_s}")


@dataclass(frozen=True)
class _Finding:
    t: float
    epoch: int
    texts: Texts  # stabilised coordinates


class TextTimeline:
    """Findings in time order (``see`` each frame as it comes, ``at`` for each frame that leaves; both in time
    order). Keeps only what a frame still to leave can need."""

    def __init__(self, finder: TextFinder | None, params: TextParams | None = None):
        self.finder = finder
        self.params = params or TextParams()
        self._found: deque[_Finding] = deque()
        self._next: float | None = None
        self.newest: float | None = None
        """When the newest finding's frame was taken."""
        self.record: list[Texts] | None = None
        """Set to a list to have ``at``'s answers appended to it (the measurement harness)."""

    def reset(self) -> None:
        self._found.clear()
        self._next = None
        self.newest = None

    def cut(self) -> None:
        """A new scene: look at its first frame at once."""
        self._next = None

    def see(self, frame_bgr: np.ndarray, t: float, offset: tuple[float, float], epoch: int) -> bool:
        """Run the finder on this frame if it is due; ``offset``: the frame's camera offset (stabilised = frame -
        offset). Returns whether it ran. The finder's errors propagate (the caller fails closed)."""
        if self.finder is None or (self._next is not None and t < self._next - 1e-6):
            return False
        every = self.params.every_s
        self._next = (np.floor(t / every + 1e-6) + 1) * every
        self.add(t, epoch, self.finder(frame_bgr), offset)
        return True

    def add(self, t: float, epoch: int, texts: Texts, offset: tuple[float, float]) -> None:
        """A finding made elsewhere (the live path's text thread) on the frame at ``t`` (frame coordinates)."""
        self._found.append(_Finding(t, epoch, texts.moved(-offset[0], -offset[1])))
        self.newest = t

    def gap(self, t: float, epoch: int) -> float | None:
        """Seconds from ``t`` to the nearest finding of scene ``epoch`` still kept (None: none)."""
        gaps = [abs(f.t - t) for f in self._found if f.epoch == epoch]
        return min(gaps) if gaps else None

    def at(self, t: float, offset: tuple[float, float], epoch: int) -> Texts:
        """What covers the frame at ``t`` (frame coordinates): every finding of its scene within ``hold_s``."""
        hold, sticky = self.params.hold_s, self.params.sticky_s if self.params.plates_only else 0.0
        while self._found and self._found[0].t < t - max(hold, sticky) - 1e-6:
            self._found.popleft()
        same = [f for f in self._found if f.epoch == epoch]
        texts = Texts.concat([f.texts for f in same if abs(f.t - t) <= hold + 1e-6])
        if self.params.plates_only:
            plates = np.concatenate([f.texts.xyxy[f.texts.plate] for f in same if abs(f.t - t) <= sticky + 1e-6]
                                    + [np.zeros((0, 4), np.float32)])
            texts = texts[texts.plate | _overlapping(texts.xyxy, plates)]
            texts = Texts(texts.xyxy, texts.score, np.ones(len(texts), bool))
        texts = texts.moved(*offset)
        if self.record is not None:
            self.record.append(texts)
        return texts


def _overlapping(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """``(N,) bool``: boxes (``(N, 4)`` xyxy) that overlap any of ``others`` (``(M, 4)``)."""
    if not len(boxes) or not len(others):
        return np.zeros(len(boxes), bool)
    a, b = boxes[:, None], others[None]
    return ((np.minimum(a[..., 2], b[..., 2]) > np.maximum(a[..., 0], b[..., 0]))
            & (np.minimum(a[..., 3], b[..., 3]) > np.maximum(a[..., 1], b[..., 1]))).any(1)
