"""The one record type for faces in flight: detector -> tracker -> effects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


def _untracked() -> np.ndarray:
    return np.array(-1, np.int64)  # 0-d: every face gets -1


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class Faces:
    """Faces in one frame, as parallel arrays.

    Attributes:
        xyxy: ``(N, 4) float32`` boxes ``[x1, y1, x2, y2]`` in frame pixels.
        score: ``(N,) float32`` detector confidence in ``[0, 1]``.
        track_id: ``(N,) int64`` tracker id, ``-1`` for faces not (yet) tracked (the default; a 0-d
            array gives every face that id).

    Never ``None`` for "no faces": use ``Faces.empty()``.

    >>> f = Faces(np.array([[0, 0, 10, 10]]), np.array([0.9]))
    >>> len(f), f.track_id.tolist()
    (1, [-1])
    """

    xyxy: np.ndarray
    score: np.ndarray
    track_id: np.ndarray = field(default_factory=_untracked)

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4) if np.size(self.xyxy) == 0 \
            else np.asarray(self.xyxy, dtype=np.float32)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must have shape (N, 4), got {xyxy.shape}")
        n = xyxy.shape[0]
        score = np.asarray(self.score, dtype=np.float32).reshape(-1)
        if score.shape != (n,):
            raise ValueError(f"score must have shape ({n},), got {score.shape}")
        tid = np.asarray(self.track_id, np.int64)
        tid = np.full(n, tid, np.int64) if tid.ndim == 0 else tid.reshape(-1)
        if tid.shape != (n,):
            raise ValueError(f"track_id must have shape ({n},), got {tid.shape}")
        if not np.all(np.isfinite(xyxy)):
            raise ValueError("xyxy contains NaN or infinite coordinates")
        object.__setattr__(self, "xyxy", _readonly(xyxy))
        object.__setattr__(self, "score", _readonly(score))
        object.__setattr__(self, "track_id", _readonly(tid))

    @classmethod
    def empty(cls) -> Faces:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))

    @classmethod
    def concat(cls, parts: Sequence[Faces]) -> Faces:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(np.concatenate([p.xyxy for p in parts]), np.concatenate([p.score for p in parts]),
                   np.concatenate([p.track_id for p in parts]))

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: np.ndarray | slice | int) -> Faces:
        """Select faces by boolean mask, index array, slice or int (keeps 2-D shapes)."""
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1) if index != -1 else slice(-1, None)
        return Faces(self.xyxy[index], self.score[index], self.track_id[index])

    @property
    def width(self) -> np.ndarray:
        return self.xyxy[:, 2] - self.xyxy[:, 0]

    @property
    def height(self) -> np.ndarray:
        return self.xyxy[:, 3] - self.xyxy[:, 1]

    def scaled(self, sx: float, sy: float) -> Faces:
        """Boxes multiplied by ``(sx, sy)`` (e.g. detector input -> frame pixels)."""
        return Faces(self.xyxy * np.array([sx, sy, sx, sy], np.float32), self.score, self.track_id)

    def moved(self, dx: float, dy: float) -> Faces:
        """Boxes shifted by ``(dx, dy)`` pixels (e.g. into or out of camera-stabilised coordinates)."""
        if dx == 0 and dy == 0:
            return self
        return Faces(self.xyxy + np.array([dx, dy, dx, dy], np.float32), self.score, self.track_id)

    def expanded(self, margin: float) -> Faces:
        """Each side pushed out by ``margin`` times the box's width (x) or height (y)."""
        w, h = self.width[:, None], self.height[:, None]
        grow = np.hstack([-w, -h, w, h]) * margin
        return Faces(self.xyxy + grow, self.score, self.track_id)

    def clipped(self, width: int, height: int) -> Faces:
        """Boxes clipped to a ``width x height`` frame; boxes left empty are dropped."""
        xyxy = self.xyxy.copy()
        xyxy[:, 0::2] = xyxy[:, 0::2].clip(0, width)
        xyxy[:, 1::2] = xyxy[:, 1::2].clip(0, height)
        keep = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        return Faces(xyxy[keep], self.score[keep], self.track_id[keep])
