"""The look-ahead window: frames wait before they leave, so a face is covered from its first frame.

A detector finds a face some frames after it appears (it enters at the picture's edge, it scores
below the threshold until it turns or comes closer, the detector runs at a lower rate than the
camera). ``Hindsight`` holds the last frames in a buffer; each frame leaves covered by

* the boxes of every track alive in it that is **confirmed** by the time the frame leaves (a
  track that was tentative in this frame and confirmed later is covered here too), and
* with ``bridge``: where a track is not detected in this frame but is detected before and after it
  (the later detection already in the window), the box on the line between those two detections,
  grown for the acceleration a face can have in between (``bridge_accel``), instead of the box the
  tracker predicted from the past (which grows with every frame without a detection);
* for every confirmed track **born after** this frame in the same scene: its first box carried
  back in time, in camera-stabilised coordinates (so it follows the camera's motion), along the
  track's own early velocity, grown by ``grow_per_s`` face sizes per second (capped at
  ``max_grow``) for what that motion cannot explain. Carried back out of the picture, it covers
  nothing: it stops where the face entered;
* for a face that moved too far between two detections for the tracker to link them (a fast face, a
  slow detector on a busy machine: a new track per detection, each with no velocity of its own): the
  line from one track's last detection to the next track's first (``link_s``, ``link_reach``), and
  a track detected once is also carried back along that line's velocity. These boxes are added to
  the others, never instead of them.

Boxes are given in frame coordinates together with each frame's camera offset (the frame's
position in the scene's stabilised coordinates: ``livecam.motion``); the buffer does the rest.
Pure bookkeeping over numpy arrays: no detector, no threads. One thread owns it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Generic, Iterator, TypeVar

import numpy as np

from livecam.faces import Faces

P = TypeVar("P")  # whatever travels with a frame (the pixels; a capture record live)

VELOCITY_S = 0.5
"""A track's velocity for carrying it back is fitted to its boxes over its first this many seconds."""


@dataclass
class Held(Generic[P]):
    """One frame waiting in the window."""

    seq: int
    t: float
    payload: P
    offset: tuple[float, float]  # the frame's camera offset (stabilised = frame - offset)
    epoch: int                   # the scene it belongs to (first frame's seq)
    boxes: Faces = field(default_factory=Faces.empty)  # stabilised, every live track (tentative too)
    detected: frozenset[int] = frozenset()  # tracks whose box here is this frame's own detection


@dataclass(frozen=True)
class HindsightParams:
    grow_per_s: float = 0.5
    """A box carried back grows by this many face sizes per second (each side), for motion its
    track's velocity does not explain."""
    max_grow: float = 1.0
    """... at most this many face sizes."""
    bridge: bool = False
    """Cover a frame between two detections of a track by the line between them (see the module
    docstring); False: by the tracker's prediction from the past. Off by default: the growing boxes
    also cover undetected faces beside a tracked one (``Settings.bridge_gaps``; README, "Look-ahead")."""
    link_s: float = 0.5
    """A face the tracker lost to a new track (it moved too far between two detections for their boxes to
    overlap: a fast face and a slow detector on a busy machine) is covered in the frames between the old
    track's last detection and the new one's first, at most this far apart, on the line between them as
    with ``bridge`` (added to what covers those frames, never instead)."""
    link_reach: float = 12.0
    """... when the new one lies within this many face sizes a second (plus one) of the old one."""
    bridge_accel: float = 3.0
    """A bridged box grows by the most a face accelerating this many face sizes per second squared
    can leave that line (``accel * t0 * t1 / 2`` face sizes each side, ``t0``/``t1`` the time to the
    detections before/after), at most ``max_grow``."""


class Hindsight(Generic[P]):
    """A window of frames that leave in order, covered with hindsight. See the module docstring."""

    def __init__(self, params: HindsightParams | None = None):
        self.params = params or HindsightParams()
        self._held: deque[Held[P]] = deque()
        self._confirmed: set[int] = set()
        # id -> its latest detection that left (t, box, epoch)
        self._detected: dict[int, tuple[float, np.ndarray, int]] = {}
        self._left: deque[tuple[float, int]] = deque()  # (t, id) of the detections that left in the last ``link_s``

    def __len__(self) -> int:
        return len(self._held)

    def __iter__(self) -> Iterator[Held[P]]:
        return iter(self._held)

    @property
    def oldest(self) -> Held[P] | None:
        return self._held[0] if self._held else None

    def leaves(self, now: float, hold_s: float) -> bool:
        """The rule for when a frame leaves, files and live alike: the oldest frame waiting has waited ``hold_s``
        (the look-ahead window, ``--lookahead``, or the live ``--delay``) at ``now`` (its own clock's time)."""
        return bool(self._held) and now - self._held[0].t >= hold_s - 1e-6

    def add(self, seq: int, t: float, payload: P, offset: tuple[float, float], epoch: int,
            boxes: Faces | None = None, detected: np.ndarray | None = None) -> Held[P]:
        """A new frame (sequence numbers and times increasing); ``boxes`` in frame coordinates;
        ``detected``: the ids of the tracks whose box is a detection in this very frame."""
        held = Held(seq, t, payload, offset, epoch)
        self._held.append(held)
        if boxes is not None:
            self.set_boxes(held, boxes, detected)
        return held

    @staticmethod
    def set_boxes(held: Held[P], boxes: Faces, detected: np.ndarray | None = None) -> None:
        """The tracked boxes (frame coordinates, every live track) of a waiting frame, e.g. predicted
        again after a newer detection arrived; ``detected`` as in ``add`` (None: none)."""
        held.boxes = boxes.moved(-held.offset[0], -held.offset[1])
        held.detected = frozenset() if detected is None else frozenset(int(i) for i in detected)

    def confirm(self, track_ids: np.ndarray) -> None:
        """Tracks confirmed now: covered in every waiting frame they are in (ids are never reused)."""
        self._confirmed.update(int(i) for i in track_ids)

    def pop(self) -> tuple[Held[P], Faces]:
        """The oldest frame and the boxes that cover it (frame coordinates)."""
        held = self._held.popleft()
        faces = self.cover(held)
        for box, tid in zip(held.boxes.xyxy, held.boxes.track_id.tolist()):
            if tid in held.detected:
                self._detected[tid] = (held.t, box, held.epoch)
                self._left.append((held.t, tid))
        while self._left and held.t - self._left[0][0] > self.params.link_s:
            self._left.popleft()
        if len(self._confirmed) + len(self._detected) > 4096:  # ids only grow: those below every waiting frame's are done
            low = min((int(h.boxes.track_id.min()) for h in self._held if len(h.boxes)), default=0)
            self._confirmed = {i for i in self._confirmed if i >= low}
            self._detected = {i: d for i, d in self._detected.items() if i >= low}
        return held, faces

    def cover(self, held: Held[P]) -> Faces:
        """What covers ``held`` (the oldest waiting frame): its confirmed tracks (bridged between
        detections), and confirmed tracks born after it carried back."""
        own = held.boxes
        keep = np.fromiter((int(i) in self._confirmed for i in own.track_id), bool, len(own))
        parts = [self._bridged(held, own[keep]), self._carried_back(held, set(own.track_id.tolist()))]
        return Faces.concat(parts).moved(*held.offset)

    def _bridged(self, held: Held[P], own: Faces) -> Faces:
        """``own`` (stabilised) with the box of each track not detected in ``held`` but detected before
        it (a frame that left) and after it (a frame still waiting, same scene) on the line between."""
        if not self.params.bridge:
            return own
        boxes = own.xyxy.copy()
        for k, tid in enumerate(own.track_id.tolist()):
            if tid in held.detected or tid not in self._detected:
                continue
            after = next(((later.t, later.boxes.xyxy[later.boxes.track_id == tid][0]) for later in self._held
                          if later.epoch == held.epoch and tid in later.detected), None)
            if after is None:
                continue
            (t0, b0, _), (t1, b1) = self._detected[tid], after
            if not t0 < held.t < t1:
                continue
            boxes[k] = self._between(held.t, t0, b0, t1, b1)
        return Faces(boxes, own.score, own.track_id)

    def _between(self, t: float, t0: float, b0: np.ndarray, t1: float, b1: np.ndarray) -> np.ndarray:
        """The box at ``t`` on the line from detection ``b0`` at ``t0`` to ``b1`` at ``t1``, grown by the most
        a face accelerating ``bridge_accel`` face sizes/s^2 can leave it."""
        a = (t - t0) / (t1 - t0)
        box = b0 + a * (b1 - b0)
        size = float(np.sqrt(max(1.0, (box[2] - box[0]) * (box[3] - box[1]))))
        grow = size * min(self.params.max_grow, self.params.bridge_accel * (t - t0) * (t1 - t) / 2)
        return np.asarray(box + np.array([-grow, -grow, grow, grow], np.float32), np.float32)

    def _ended_before(self, held: Held[P]) -> list[tuple[float, np.ndarray]]:
        """The last detections (``t``, stabilised box) of confirmed tracks of ``held``'s scene, made in the last
        ``link_s`` or so (``_left``), that no frame from ``held`` on detects again: faces a later track may have
        taken over (``_carried_back``)."""
        again = set(held.detected).union(*(later.detected for later in self._held))
        out = []
        for t, tid in self._left:
            if (last := self._detected.get(tid)) is None:  # forgotten (ids only grow)
                continue
            t0, b0, epoch = last
            if t0 == t and epoch == held.epoch and tid in self._confirmed and tid not in again:  # how long ago: _reach
                out.append((t0, b0))
        return out

    def _carried_back(self, held: Held[P], present: set[int]) -> Faces:
        """Confirmed tracks first seen in a later frame of ``held``'s scene, carried back to ``held.t``."""
        first: dict[int, list[tuple[float, np.ndarray, float]]] = {}  # id -> [(t, box, score)] from its birth
        detections: dict[int, list[tuple[float, np.ndarray]]] = {}  # id -> its detections in the window
        for later in self._held:
            if later.seq <= held.seq or later.epoch != held.epoch:
                continue
            for box, score, tid in zip(later.boxes.xyxy, later.boxes.score.tolist(), later.boxes.track_id.tolist()):
                if tid in present or tid not in self._confirmed:
                    continue
                seen = first.setdefault(tid, [])
                if not seen or later.t - seen[0][0] <= VELOCITY_S:
                    seen.append((later.t, box, score))
                if tid in later.detected:
                    detections.setdefault(tid, []).append((later.t, box))
        if not first:
            return Faces.empty()
        tids = list(first)
        t1 = np.array([first[u][0][0] for u in tids])
        b1 = np.array([first[u][0][1] for u in tids], np.float32).reshape(-1, 4)
        ended = self._ended_before(held)
        before: list[int | None] = [None] * len(tids)  # the ended detection each track may have taken over
        if ended:
            d = self._reach(np.array([t for t, _ in ended])[:, None], np.array([b for _, b in ended])[:, None],
                            t1[None], b1[None])
            before = [int(k) if np.isfinite(d[k, j]) else None for j, k in enumerate(np.argmin(d, axis=0))]
        once = [j for j, u in enumerate(tids) if len(detections.get(u, [])) == 1]
        onwards: dict[int, np.ndarray] = {}  # track index -> velocity to the later track that may have taken it over
        if once and len(tids) > 1:
            ta = np.array([detections[tids[j]][0][0] for j in once])
            ba = np.array([detections[tids[j]][0][1] for j in once], np.float32)
            d = self._reach(ta[:, None], ba[:, None], t1[None], b1[None])
            for row, j in enumerate(once):
                d[row, j] = np.inf
                k = int(np.argmin(d[row]))
                if np.isfinite(d[row, k]):
                    onwards[j] = ((b1[k, :2] + b1[k, 2:]) - (ba[row, :2] + ba[row, 2:])) / 2 / (t1[k] - ta[row])
        boxes, scores, ids = [], [], []
        for j, (tid, seen) in enumerate(first.items()):
            t0, box0, score0 = seen[0]
            c0 = (box0[:2] + box0[2:]) / 2
            half = (box0[2:] - box0[:2]) / 2
            dt = t0 - held.t
            size = float(np.sqrt(max(1.0, 4 * half[0] * half[1])))
            grow = size * min(self.params.max_grow, self.params.grow_per_s * dt)
            centres = [c0 - _velocity(seen) * dt]
            if j in onwards:  # detected once: also carried back along where it went next
                centres.append(c0 - onwards[j] * dt)
            carried = [np.concatenate([c - half - grow, c + half + grow]) for c in centres]
            if (e := before[j]) is not None:  # on the line from the face it may have taken over
                carried.append(self._between(held.t, ended[e][0], ended[e][1], t0, box0))
            for k, box in enumerate(carried):  # the extra boxes only where they add more than a sliver
                if k == 0 or np.hypot(*((box[:2] + box[2:]) / 2 - centres[0])) > LINK_APART * size:
                    boxes.append(box)
                    scores.append(score0)
                    ids.append(tid)
        return Faces(np.array(boxes, np.float32), np.array(scores, np.float32), np.array(ids, np.int64))

    def _reach(self, t0: np.ndarray, b0: np.ndarray, t1: np.ndarray, b1: np.ndarray) -> np.ndarray:
        """How far (face sizes) the faces of detections ``b0`` (``(..., 4)``) at ``t0`` moved to be ``b1`` at
        ``t1`` (broadcast against each other), where they could have: at most ``link_s`` later, about the
        same size, within ``link_reach`` face sizes a second (plus one); inf elsewhere. ``Hindsight._carried_back``
        links a track born in the window to one whose face it may have taken over."""
        size0 = np.sqrt(np.maximum(1.0, (b0[..., 2] - b0[..., 0]) * (b0[..., 3] - b0[..., 1])))
        size1 = np.sqrt(np.maximum(1.0, (b1[..., 2] - b1[..., 0]) * (b1[..., 3] - b1[..., 1])))
        dt = t1 - t0
        step = (b1[..., :2] + b1[..., 2:]) / 2 - (b0[..., :2] + b0[..., 2:]) / 2
        move = np.hypot(step[..., 0], step[..., 1]) / np.minimum(size0, size1)
        ok = ((dt > 0) & (dt <= self.params.link_s) & (np.maximum(size0, size1) <= LINK_SIZE * np.minimum(size0, size1))
              & (move <= self.params.link_reach * dt + 1.0))
        return np.where(ok, move, np.inf)


LINK_SIZE = 1.5  # a face linked across tracks keeps about its size (``Hindsight._reach``)
LINK_APART = 0.25  # a linked box this many face sizes or less from the carried-back one is not added


def _velocity(seen: list[tuple[float, np.ndarray, float]]) -> np.ndarray:
    """Least-squares velocity (px/s) of the box centres in ``seen``; zero from one box."""
    if len(seen) < 2:
        return np.zeros(2)
    t = np.array([s[0] for s in seen])
    c = np.array([(s[1][:2] + s[1][2:]) / 2 for s in seen])
    t = t - t.mean()
    denom = float((t * t).sum())
    if denom <= 0:
        return np.zeros(2)
    return (t[:, None] * (c - c.mean(0))).sum(0) / denom
