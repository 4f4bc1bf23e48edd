"""The reveal rule: a face stays visible only when its track matched a kept person in several checks over time."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from livecam.faces import Faces
from livecam.tracker import iou_matrix
from livecam.people.describe import Describer
from livecam.people.store import People, PeopleError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeepParams:
    """The reveal rule's numbers; chosen on ``livecam eval --people`` (README "Keep people visible")."""

    every_s: float = 1 / 6     # a face not (yet) revealed is checked this often ...
    failed_every_s: float = 2.0  # ... one whose checks keep failing (a stranger): 1/3 s, 2/3 s, 4/3 s, then 2 s
    revealed_every_s: float = 0.5  # a revealed face is checked again this often
    min_height: float = 32.0   # smaller faces (pixels) are never checked, never revealed: too small to tell apart
    per_s: float | None = None  # at most this many checks a second, faces about to be revealed first (None: all
    # that are due; live: ``LIVE_CHECKS_PER_S``)
    checks: int = 4            # consecutive matches of one person needed to reveal ...
    span_s: float = 0.5        # ... spanning at least this long
    match: float = 0.6         # each of them this close to the person's nearest enrolled view
    mean: float = 0.53         # and on average this close
    stale_s: float = 1.5       # a face whose last check is older than this is covered again (a stall)
    photo_match: float = 0.45  # a still (one view only) is revealed at this distance or closer


@dataclass
class _Track:
    checks: list[tuple[float, str | None, float]] = field(default_factory=list)  # (t, person or None, distance)
    asked: float = -1e9
    fails: int = 0  # failed checks in a row


class KeepGate:
    """Which tracked faces may stay visible: pure bookkeeping, owned by one thread (the pipeline's, or a
    file-mode loop). ``see`` every frame, ``due`` for the checks to run, ``checked`` with each result,
    ``visible`` when painting. A face is visible only when its track's last ``checks`` checks all matched
    the same kept person (each within ``match``, their mean within ``mean``) over at least ``span_s``, and
    the newest is not older than ``stale_s``. It is covered at once when a check fails, when its track
    ends (lost, occluded past the tracker's patience), when it overlaps another face of its size (two
    tracks crossing may swap identities: checked afresh), on ``reset`` (a cut, a recognition error)."""

    def __init__(self, people: People, names: Sequence[str], params: KeepParams | None = None):
        self.people = people
        self.names = tuple(names)
        self.params = params or KeepParams()
        self._tracks: dict[int, _Track] = {}
        self._tokens, self._tokens_t = self.params.per_s or 0.0, 0.0

    def reset(self) -> None:
        self._tracks.clear()

    def see(self, faces: Faces) -> None:
        """The tracked faces of the newest frame: ended tracks are forgotten, crossing ones start over."""
        ids = set(int(i) for i in faces.track_id if i >= 0)
        for tid in list(self._tracks):
            if tid not in ids:
                del self._tracks[tid]
        for i in np.flatnonzero(self._crossing(faces)):
            tid = int(faces.track_id[i])
            if tid in self._tracks and self._tracks[tid].checks:
                log.debug("track %d overlaps another face: identity checked afresh", tid)
                self._tracks[tid].checks.clear()

    def due(self, faces: Faces, t: float) -> Faces:
        """The tracked faces to check now (marked as asked at ``t``): at most ``per_s`` a second, those
        matching a kept person so far first (about to be revealed, or revealed), then faces never checked
        (largest first), then strangers."""
        p = self.params
        if p.per_s is not None:
            self._tokens = min(p.per_s, self._tokens + max(0.0, t - self._tokens_t) * p.per_s)
        self._tokens_t = t
        wanted: list[tuple[int, float, int]] = []
        for i, tid in enumerate(faces.track_id):
            if tid < 0 or faces.height[i] < p.min_height:
                continue
            tr = self._tracks.setdefault(int(tid), _Track())
            every = p.revealed_every_s if self._revealed(tr, t) else p.every_s
            if tr.fails > 1:  # one failed check may be a bad view of a kept person: the next comes as soon
                every = min(p.failed_every_s, p.every_s * 2 ** (tr.fails - 1))
            if t - tr.asked >= every - 1e-6:
                rank = 0 if tr.checks and tr.checks[-1][1] is not None else 2 if tr.fails else 1
                wanted.append((rank, -float(faces.height[i]), i))
        picked = [i for _, _, i in sorted(wanted)[:None if p.per_s is None else int(self._tokens)]]
        self._tokens -= len(picked)
        for i in picked:
            self._tracks[int(faces.track_id[i])].asked = t
        keep = np.zeros(len(faces), bool)
        keep[picked] = True
        return faces[keep]

    def checked(self, track_id: int, t: float, descriptor: np.ndarray) -> None:
        """The descriptor of track ``track_id``'s face in the frame captured at ``t``."""
        tr = self._tracks.get(int(track_id))
        if tr is None:
            return  # ended meanwhile
        name, d = self.people.nearest(descriptor, self.names)
        if d > self.params.match:
            tr.checks.clear()  # no match: covered at once, and the count starts again
            tr.checks.append((t, None, d))
            tr.fails += 1
            return
        tr.fails = 0
        if tr.checks and tr.checks[-1][1] != name:
            tr.checks.clear()
        tr.checks.append((t, name, d))
        del tr.checks[:-self.params.checks]

    def visible(self, faces: Faces, t: float) -> np.ndarray:
        """``(N,) bool``: the faces to leave uncovered in a frame painted at ``t``."""
        out = np.zeros(len(faces), bool)
        crossing = self._crossing(faces)
        for i, tid in enumerate(faces.track_id):
            tr = self._tracks.get(int(tid))
            out[i] = (tid >= 0 and tr is not None and not crossing[i] and faces.height[i] >= self.params.min_height
                      and self._revealed(tr, t))
        return out

    def _revealed(self, tr: _Track, t: float) -> bool:
        p = self.params
        c = tr.checks
        if len(c) < p.checks or c[-1][1] is None or any(name != c[-1][1] for _, name, _ in c[-p.checks:]):
            return False
        last = c[-p.checks:]
        return (last[-1][0] - last[0][0] >= p.span_s - 1e-6 and float(np.mean([d for _, _, d in last])) <= p.mean
                and t - last[-1][0] <= p.stale_s)

    @staticmethod
    def _crossing(faces: Faces) -> np.ndarray:
        """``(N,) bool``: tracked faces overlapping another tracked face of a similar size (``CROSS_IOU``,
        ``CROSS_SIZE``): where a tracker can swap two identities. (A much larger box around a face, a
        false alarm of the thorough pass, cannot take the face's track over.)"""
        tracked = faces.track_id >= 0
        if tracked.sum() < 2:
            return np.zeros(len(faces), bool)
        iou = iou_matrix(faces.xyxy, faces.xyxy)
        h = np.maximum(faces.height, 1e-6)
        similar = np.maximum(h[:, None], h[None]) <= CROSS_SIZE * np.minimum(h[:, None], h[None])
        near = (iou >= CROSS_IOU) & similar & tracked[:, None] & tracked[None]
        np.fill_diagonal(near, False)
        return np.asarray(near.any(axis=1))


LIVE_CHECKS_PER_S = 4.0
"""Live: at most this many identity checks a second (~0.3 of a core at ~70 ms each): on a street full of
strangers, unlimited checks took a whole core of a 2-core machine."""
CROSS_IOU = 0.1   # below the tracker's own matching IoU (``TrackerParams.iou_match``, 0.15): before a swap can happen
CROSS_SIZE = 2.0


def keep_in_photo(people: People, names: Sequence[str], describer: Describer, frame_bgr: np.ndarray, faces: Faces,
                  params: KeepParams | None = None) -> np.ndarray:
    """``(N,) bool``: the faces of a still to leave visible (one view: the stricter ``photo_match``; faces
    overlapping another face are covered)."""
    params = params or KeepParams()
    out = np.zeros(len(faces), bool)
    crossing = KeepGate._crossing(Faces(faces.xyxy, faces.score, np.zeros(len(faces), np.int64)))
    for i in range(len(faces)):
        if not crossing[i]:
            _, d = people.nearest(describer.describe(frame_bgr, faces.xyxy[i]), names)
            out[i] = d <= params.photo_match
    return out


class InlineKeep:
    """File mode: the gate, with each due check run at once on the frame being detected."""

    def __init__(self, gate: KeepGate, describer: Describer):
        self.gate = gate
        self.describer = describer
        self.revealed = Faces.empty()
        """The faces left visible in the frame that left the engine last (``livecam eval --people``)."""

    def frame(self, frame_bgr: np.ndarray, faces: Faces, t: float) -> None:
        self.gate.see(faces)
        due = self.gate.due(faces, t)
        for i in range(len(due)):
            self.gate.checked(int(due.track_id[i]), t, self.describer.describe(frame_bgr, due.xyxy[i]))


def require(people: People, names: Sequence[str], option: str = "--keep") -> None:
    """Every one of ``names`` is enrolled, or an error naming who is not and how to enrol them."""
    missing = [n for n in names if n not in people.views]
    if missing:
        known = ", ".join(people.names) or "nobody yet"
        raise PeopleError(f"{option} {','.join(missing)}: not enrolled (enrolled: {known}); enrol with: "
                          f"livecam people add {missing[0]} PHOTO_OR_VIDEO...")
