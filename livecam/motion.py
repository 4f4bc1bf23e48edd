"""The camera's own motion between frames, and a scene-change measure that allows for it.

A pan moves every pixel of the picture by about the same amount; a cut changes the picture.
Both are measured on small grey thumbnails (160 px wide, ~0.5 ms a frame): the shift between
two frames by phase correlation, and the change as the mean grey-level difference of their
overlap once that shift is undone. Trackers work in *stabilised* coordinates (frame pixels
minus the camera's accumulated offset), so a face that stands still stays still while the
camera pans, and held boxes need not grow to follow the camera.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

THUMB_W = 160

View = tuple[tuple[float, float], np.ndarray]
"""A frame as motion sees it: ``(camera offset in frame pixels, grey thumbnail float32)``."""

# Scene-change gate (grey levels, 0..255): mean absolute difference between motion-compensated
# thumbnails. Measured on the shared clips before compensation at 1-3 frames of detection lag:
# ordinary motion below 20 (street p99 19, stage p99 29 with its camera cuts), a jump cut of a
# YouTube Faces clip 43. Compensation only lowers the pans' values; cuts stay high.
SCENE_CHANGE = 28.0

# Phase correlation's peak response below this means no reliable shift (a cut, a flat picture).
MIN_RESPONSE = 0.2

# A cut also leaves little for any one shift to explain: between frames of one scene the response
# stays >= 0.46 (street clip, frames up to 12 apart: a busy machine skips frames, and a static
# street then differs by up to 35 grey levels); a loop back to the clip's start gives 0.30, cuts
# between panned photos < 0.1, a YouTube Faces jump cut 0.11. A big change with a high response
# is not a cut: the scene gate (against the detected frame) still obscures it until the next detection.
CUT_RESPONSE = 0.4

# Less than this share of two thumbnails overlapping after the shift: too little to compare.
MIN_OVERLAP = 0.4


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """Grey ``float32 (h, 160)`` thumbnail of a BGR frame."""
    h, w = frame.shape[:2]
    small = cv2.resize(frame, (THUMB_W, max(1, round(h * THUMB_W / w))), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)


@lru_cache(maxsize=8)
def _window(shape: tuple[int, int]) -> np.ndarray:
    return cv2.createHanningWindow((shape[1], shape[0]), cv2.CV_32F)


def phase(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Phase correlation of two same-size thumbnails: ``(dx, dy, response)``; the response (0..1)
    says how much of the picture one shift explains."""
    # copies: OpenCV applies the window to its inputs in place
    (dx, dy), response = cv2.phaseCorrelate(a.copy(), b.copy(), _window(a.shape))
    return float(dx), float(dy), float(response)


def _measure(a: np.ndarray, b: np.ndarray) -> tuple[tuple[float, float] | None, float]:
    """``(shift or None, response)``: the shift from ``a`` to ``b`` where phase correlation gives a
    clear answer of less than half the picture."""
    if a.shape != b.shape or min(a.shape) < 8:
        return None, 0.0
    dx, dy, response = phase(a, b)
    if response < MIN_RESPONSE or abs(dx) > a.shape[1] / 2 or abs(dy) > a.shape[0] / 2:
        return None, response
    return (dx, dy), response


def shift(a: np.ndarray, b: np.ndarray) -> tuple[float, float] | None:
    """How far the picture moved from thumbnail ``a`` to ``b`` (thumbnail pixels), or None when
    phase correlation finds no clear answer."""
    return _measure(a, b)[0]


def change(a: np.ndarray, b: np.ndarray, dx: float = 0.0, dy: float = 0.0) -> float:
    """Mean absolute grey difference between ``b`` and ``a`` moved by ``(dx, dy)`` thumbnail pixels,
    over the part they share; ``inf`` when the sizes differ or too little overlaps (a new scene
    as far as anything drawn from ``a`` is concerned)."""
    if a.shape != b.shape:
        return float("inf")
    h, w = a.shape
    ix, iy = int(round(dx)), int(round(dy))
    if (w - abs(ix)) * (h - abs(iy)) < MIN_OVERLAP * w * h:
        return float("inf")
    a_part = a[max(0, -iy):h - max(0, iy), max(0, -ix):w - max(0, ix)]
    b_part = b[max(0, iy):h - max(0, -iy), max(0, ix):w - max(0, -ix)]
    return float(np.abs(a_part - b_part).mean())


@dataclass
class CameraMotion:
    """Follows the camera frame by frame: ``offset`` is the picture's accumulated shift (frame pixels)
    since the first frame, so stabilised = frame coordinates - offset. ``step`` returns whether
    the new frame is a cut (a picture that no shift explains)."""

    offset: tuple[float, float] = (0.0, 0.0)
    thumb: np.ndarray | None = None
    scale: float = 1.0

    @property
    def view(self) -> View:
        """The newest frame as ``(offset, thumbnail)``."""
        if self.thumb is None:
            raise ValueError("CameraMotion.view: no frame seen yet")
        return self.offset, self.thumb

    def step(self, frame: np.ndarray) -> bool:
        thumb = thumbnail(frame)
        prev, self.thumb = self.thumb, thumb
        self.scale = frame.shape[1] / thumb.shape[1]
        if prev is None:
            return False
        if prev.shape != thumb.shape:
            return True
        still = change(prev, thumb)
        moved_by, response = _measure(prev, thumb)
        dx, dy = moved_by or (0.0, 0.0)
        moved = change(prev, thumb, dx, dy) if moved_by else still
        # A pan leaves two frames nearly equal once its shift is undone (panned WIDER photos: p99 2.7
        # grey levels); a shift is only believed when it leaves at most half of the difference, and
        # at most half the scene-change level.
        if moved > 0.5 * min(still, SCENE_CHANGE):
            # the shift explains too little: people moving, not the camera, or a cut that a shift
            # happens to make look a bit less different (seen at a clip's loop point)
            dx = dy = 0.0
            moved = still
        if moved > SCENE_CHANGE and response < CUT_RESPONSE:
            return True
        self.offset = (self.offset[0] + dx * self.scale, self.offset[1] + dy * self.scale)
        return False


def change_since(then: View, now: View, scale: float) -> float:
    """``change`` between two frames given as ``(camera offset, thumbnail)``, with the camera's motion
    between them (frame pixels; ``scale`` frame pixels per thumbnail pixel) taken out first."""
    (ox0, oy0), a = then
    (ox1, oy1), b = now
    return change(a, b, (ox1 - ox0) / scale, (oy1 - oy0) / scale)
