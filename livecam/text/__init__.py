"""What identifies people besides their faces: licence plates and other text (``--cover``).

The seam is ``TextFinder``: text regions in a BGR frame, as a ``Texts`` record (a kind of their own, never
mixed into ``Faces``). The model is PaddleOCR's PP-OCR text detector with its recogniser for the plate rule
(``livecam.text.ppocr``, ``livecam.text.plates``); ``livecam.text.finder.load_text_finder`` builds it for a
``Cover``; ``livecam.text.timeline`` says when it runs and which frames each finding covers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterable, Protocol, Sequence

import numpy as np

__all__ = ["Cover", "TextFinder", "Texts", "parse_cover"]


class Cover(enum.Enum):
    """What livecam covers (``--cover``, any of them)."""

    FACES = "faces"
    PLATES = "plates"  # text regions that read as a licence plate (livecam.text.plates)
    TEXT = "text"      # every text region the detector finds (plates included)


COVER_EXPECTED = "any of faces, plates, text joined by commas, e.g. faces,plates"


def parse_cover(value: str | Iterable[str]) -> tuple[Cover, ...]:
    """``"faces,plates"`` (or its parts) -> ``(Cover.FACES, Cover.PLATES)``, in the enum's order; ``ValueError``
    naming the unknown part and what is expected."""
    parts = [p.strip().lower() for p in (value.split(",") if isinstance(value, str) else value)]
    known = {c.value: c for c in Cover}
    bad = [p for p in parts if p not in known]
    if bad or not parts:
        raise ValueError(f"unknown cover {bad[0] if bad else value!r}: expected {COVER_EXPECTED}")
    return tuple(c for c in Cover if c.value in parts)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class Texts:
    """Text regions in one frame, as parallel arrays.

    Attributes:
        xyxy: ``(N, 4) float32`` axis-aligned boxes ``[x1, y1, x2, y2]`` round each detected text line, in frame
            pixels (the detector's own box, before any cover padding).
        score: ``(N,) float32`` the detector's mean text probability inside the region, ``[0, 1]``.
        plate: ``(N,) bool`` the region read as a licence plate (``livecam.text.plates.is_plate``).

    >>> t = Texts(np.array([[0, 0, 40, 10]]), np.array([0.8]), np.array([True]))
    >>> len(t), t[t.plate].xyxy.shape
    (1, (1, 4))
    """

    xyxy: np.ndarray
    score: np.ndarray
    plate: np.ndarray

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, np.float32).reshape(-1, 4) if np.size(self.xyxy) == 0 \
            else np.asarray(self.xyxy, np.float32)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must have shape (N, 4), got {xyxy.shape}")
        n = xyxy.shape[0]
        score = np.asarray(self.score, np.float32).reshape(-1)
        plate = np.asarray(self.plate, bool).reshape(-1)
        if score.shape != (n,) or plate.shape != (n,):
            raise ValueError(f"score and plate must have shape ({n},), got {score.shape} and {plate.shape}")
        if not np.all(np.isfinite(xyxy)):
            raise ValueError("xyxy contains NaN or infinite coordinates")
        object.__setattr__(self, "xyxy", _readonly(xyxy))
        object.__setattr__(self, "score", _readonly(score))
        object.__setattr__(self, "plate", _readonly(plate))

    @classmethod
    def empty(cls) -> Texts:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, bool))

    @classmethod
    def concat(cls, parts: Sequence[Texts]) -> Texts:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(np.concatenate([p.xyxy for p in parts]), np.concatenate([p.score for p in parts]),
                   np.concatenate([p.plate for p in parts]))

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: np.ndarray | slice) -> Texts:
        return Texts(self.xyxy[index], self.score[index], self.plate[index])

    @property
    def height(self) -> np.ndarray:
        return self.xyxy[:, 3] - self.xyxy[:, 1]

    def moved(self, dx: float, dy: float) -> Texts:
        """Boxes shifted by ``(dx, dy)`` pixels."""
        return Texts(self.xyxy + np.array([dx, dy, dx, dy], np.float32), self.score, self.plate)

    def covered_boxes(self, pad: float, plate_pad: float | None = None) -> np.ndarray:
        """``(N, 4) float32``: each box pushed out by ``pad`` times its height on every side (what a cover hides:
        a detected text line's box is tight round the letters); plates by ``plate_pad`` above and below."""
        h = self.height[:, None]
        dy = h * np.where(self.plate, pad if plate_pad is None else plate_pad, pad)[:, None]
        return (self.xyxy + np.hstack([-h * pad, -dy, h * pad, dy])).astype(np.float32)


class TextFinder(Protocol):
    """Every text region in a BGR ``uint8 (H, W, 3)`` frame, boxes in that frame's pixels, with ``plate`` set on
    those read as plates when the finder reads them (``Cover.PLATES``; which are covered: ``to_cover``)."""

    def __call__(self, frame_bgr: np.ndarray) -> Texts:
        ...


def covers_text(cover: Sequence[Cover]) -> bool:
    """Whether ``cover`` asks for a text finder at all (plates or every text region)."""
    return Cover.PLATES in cover or Cover.TEXT in cover


def plates_only(cover: Sequence[Cover]) -> bool:
    """Whether ``cover`` asks for plates and not every text region."""
    return Cover.PLATES in cover and Cover.TEXT not in cover


def to_cover(texts: Texts, only_plates: bool) -> Texts:
    """The regions of one finding that are covered (a single photo; videos: ``timeline.TextTimeline``):
    ``only_plates`` is ``plates_only(cover)``."""
    return texts[texts.plate] if only_plates else texts
