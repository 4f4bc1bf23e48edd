"""``livecam eval DATA --people``: does ``--keep`` reveal the kept person, and nobody else?

Built from a folder of labelled clips of different people (``tracks.json``, one featured person per
clip: ``../shared/data/ytf-clips-dev``). Each person is enrolled from the first ``ENROL_SHARE`` of
their clip (through the same path as ``livecam people add VIDEO``); the rest of the clips make the
test videos, played forwards then backwards to ``FRAMES`` frames, for every ordered pair (kept
person A, bystander B):

* ``side by side``: A's clip and B's clip next to each other;
* ``crossing``: B's face (cut out with some head) passes across A's face, in front of it;
* ``closer``: B's face, 1.6x as tall as A's, beside A (a bystander closer than the streamer).

And, where the folder has a sibling ``clips/`` with Intel's head-pose clips (CC BY 4.0): a woman and a
man each filmed alone at a webcam's distance (enrolment, from the whole clip) and then side by side in
another recording (the test: ``WEBCAM``; faces 67-86 px tall there): what ``--keep`` is for. Those clips are
unlabelled: their boxes are the detector's at full size (score >= 0.5), the largest face in each half of the
picture (she sits on the left, he on the right).

Counted per labelled face-frame, with the file-mode engine and ``--keep A``: A visible (less than
``VISIBLE`` of the box obscured; the first second and the frames where B's face hides A's left out),
the time until A is first visible, and **bystanders revealed**: B's face-frames where a face that
``--keep`` left visible lies on B (must be 0). Also the distances between each check-sized view of
a person and every person's enrolled views: same person vs. different people.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from livecam import effects, media
from livecam.detectors import Detector
from livecam.errors import LivecamError
from livecam.harness.evaluate import is_covered
from livecam.faces import Faces
from livecam.people import Describer, InlineKeep, KeepGate, KeepParams, People, views_from_frames
from livecam.settings import Settings
from livecam.inputs.replay import pingpong_order
from livecam.tracker import iou_matrix

log = logging.getLogger(__name__)

ENROL_SHARE = 0.4
FRAMES = 100
FPS = 25.0
VISIBLE = 0.3  # a kept face counts as visible when less than this share of its box is obscured
SCENARIOS = ("side by side", "crossing", "closer")
WEBCAM = "two at a webcam"
WEBCAM_ALONE = {"woman": "head-pose-face-detection-female.gif", "man": "head-pose-face-detection-male.gif"}
WEBCAM_BOTH = "head-pose-face-detection-female-and-male.gif"  # she on the left, he on the right


@dataclass(frozen=True)
class Person:
    name: str
    frames: list[np.ndarray]   # BGR
    boxes: np.ndarray          # (N, 4) the labelled face per frame


@dataclass(frozen=True)
class PeopleClip:
    scenario: str
    kept: str
    other: str
    frames: list[np.ndarray]
    kept_box: list[np.ndarray | None]   # per frame; None: hidden (by the other face) or absent
    other_box: list[np.ndarray]


def load_people_clips(data: Path) -> tuple[list[Person], list[Person]]:
    """``(enrolment part, test part)`` of every labelled clip in ``data/tracks.json``."""
    labels = data / "tracks.json"
    if not labels.is_file():
        raise LivecamError(f"{data}: no tracks.json (labelled clips) for --people")
    tracks = json.loads(labels.read_text())
    enrol, test = [], []
    for name in sorted(tracks):
        rows = tracks[name]
        frames = [media.read_image(data / r["frame"]) for r in rows]
        boxes = np.array([r["box"] for r in rows], np.float32)
        k = int(len(rows) * ENROL_SHARE)
        enrol.append(Person(name, frames[:k], boxes[:k]))
        test.append(Person(name, frames[k:], boxes[k:]))
    if len(test) < 2:
        raise LivecamError(f"{data}: --people needs clips of at least two people")
    return enrol, test


def _webcam_box(faces: Faces, half: str | None, width: int) -> np.ndarray | None:
    """The largest face found with confidence (score >= 0.5) in the picture (``half`` None), or in its
    left / right half."""
    faces = faces[faces.score >= 0.5]
    if half is not None and len(faces):
        cx = (faces.xyxy[:, 0] + faces.xyxy[:, 2]) / 2
        faces = faces[cx < width / 2] if half == "left" else faces[cx >= width / 2]
    return faces.xyxy[int(np.argmax(faces.height))].astype(np.float32) if len(faces) else None


def load_webcam_people(clips: Path, detect: Callable[[np.ndarray], Faces]) -> tuple[list[Person], list[Person]] | None:
    """``(enrolment, test)`` from Intel's head-pose clips in ``clips`` (``WEBCAM_ALONE``, ``WEBCAM_BOTH``), or
    None where they are not there. Frames of the two-person clip where either face is not found are left out."""
    if not all((clips / f).is_file() for f in (*WEBCAM_ALONE.values(), WEBCAM_BOTH)):
        return None
    enrol = []
    for name, file in WEBCAM_ALONE.items():
        frames = [f for f, _ in media.iter_video(clips / file)]
        boxes = [_webcam_box(detect(f), None, f.shape[1]) for f in frames]
        enrol.append(Person(name, [f for f, b in zip(frames, boxes) if b is not None],
                            np.array([b for b in boxes if b is not None], np.float32)))
    both = [f for f, _ in media.iter_video(clips / WEBCAM_BOTH)]
    found = [(f, _webcam_box(faces, "left", f.shape[1]), _webcam_box(faces, "right", f.shape[1]))
             for f in both for faces in [detect(f)]]
    found = [(f, a, b) for f, a, b in found if a is not None and b is not None]
    if len(found) < len(both) // 2:
        raise LivecamError(f"{clips / WEBCAM_BOTH}: the two faces were found in {len(found)} of {len(both)} frames")
    test = [Person("woman", [f for f, _, _ in found], np.array([a for _, a, _ in found])),
            Person("man", [f for f, _, _ in found], np.array([b for _, _, b in found]))]
    return enrol, test


def webcam_clip(kept: Person, other: Person, length: int = FRAMES) -> PeopleClip:
    """The two-person recording as it is (``kept`` and ``other`` are its two faces), played forwards then
    backwards to ``length`` frames."""
    order = pingpong_order(len(kept.frames), length)
    return PeopleClip(WEBCAM, kept.name, other.name, [kept.frames[i] for i in order],
                      [kept.boxes[i] for i in order], [other.boxes[i] for i in order])


def _crop(p: Person, i: int, grow: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """B's face with some head around it, and the face box inside the crop."""
    x1, y1, x2, y2 = p.boxes[i]
    w, h = x2 - x1, y2 - y1
    H, W = p.frames[i].shape[:2]
    cx1, cy1 = int(max(0, x1 - grow * w)), int(max(0, y1 - grow * h))
    cx2, cy2 = int(min(W, x2 + grow * w)), int(min(H, y2 + grow * h))
    return p.frames[i][cy1:cy2, cx1:cx2], np.array([x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1], np.float32)


def _paste(canvas: np.ndarray, crop: np.ndarray, box: np.ndarray, x: int, y: int,
           scale: float = 1.0) -> np.ndarray:
    """Paste ``crop`` (scaled) with its top-left at ``(x, y)``; returns its face box in the canvas."""
    if scale != 1.0:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        box = box * scale
    H, W = canvas.shape[:2]
    h, w = crop.shape[:2]
    sx1, sy1 = max(0, -x), max(0, -y)
    dx1, dy1 = max(0, x), max(0, y)
    dx2, dy2 = min(W, x + w), min(H, y + h)
    if dx2 > dx1 and dy2 > dy1:
        canvas[dy1:dy2, dx1:dx2] = crop[sy1:sy1 + dy2 - dy1, sx1:sx1 + dx2 - dx1]
    return box + np.array([x, y, x, y], np.float32)


def build_clip(scenario: str, a: Person, b: Person, length: int = FRAMES) -> PeopleClip:
    ia, ib = pingpong_order(len(a.frames), length), pingpong_order(len(b.frames), length)
    frames, kept_box, other_box = [], [], []
    for k in range(length):
        fa, ba = a.frames[ia[k]], a.boxes[ia[k]]
        H, W = fa.shape[:2]
        if scenario == "side by side":
            fb = cv2.resize(b.frames[ib[k]], (W, H)) if b.frames[ib[k]].shape[:2] != (H, W) else b.frames[ib[k]]
            sx, sy = W / b.frames[ib[k]].shape[1], H / b.frames[ib[k]].shape[0]
            canvas = np.hstack([fa, fb])
            bb = b.boxes[ib[k]] * np.array([sx, sy, sx, sy], np.float32) + np.array([W, 0, W, 0], np.float32)
            kept: np.ndarray | None = ba
        elif scenario == "crossing":
            canvas = fa.copy()
            crop, cbox = _crop(b, ib[k])
            scale = float((ba[3] - ba[1]) / max(1.0, cbox[3] - cbox[1]))
            # B's face moves from off the left edge to off the right, across A's face, in front of it
            x = int(-crop.shape[1] * scale + (W + crop.shape[1] * scale) * k / max(1, length - 1))
            y = int(ba[1] - cbox[1] * scale)
            bb = _paste(canvas, crop, cbox, x, y, scale)
            pasted = np.array([x, y, x + crop.shape[1] * scale, y + crop.shape[0] * scale], np.float32)
            kept = None if _overlaps(pasted, ba) else ba
        elif scenario == "closer":
            canvas = np.hstack([fa, np.full_like(fa, 90)])
            crop, cbox = _crop(b, ib[k])
            scale = float(1.6 * (ba[3] - ba[1]) / max(1.0, cbox[3] - cbox[1]))
            bb = _paste(canvas, crop, cbox, W + 10, max(0, int(H / 2 - (cbox[1] + cbox[3]) / 2 * scale)), scale)
            kept = ba
        else:
            raise ValueError(f"unknown scenario {scenario!r}")
        frames.append(canvas)
        kept_box.append(kept)
        other_box.append(bb)
    return PeopleClip(scenario, a.name, b.name, frames, kept_box, other_box)


def _overlaps(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1]))


@dataclass(frozen=True)
class PeopleRow:
    scenario: str
    kept: str
    other: str
    kept_frames: int
    kept_visible: int
    reveal_s: float | None       # from the first frame to the kept face's first visible frame
    other_frames: int
    other_revealed: int          # face-frames of the bystander left visible by --keep
    other_bare: int              # ... not covered for any reason (a detection miss included)


def run_clip(clip: PeopleClip, engine_keep: InlineKeep, settings: Settings, detector: Detector) -> PeopleRow:
    from livecam.engine import make_anonymizer

    engine = make_anonymizer(settings, detector=detector, keep=engine_keep)
    params = settings.effect_params()
    shape = clip.frames[0].shape[:2]
    kept_n = kept_vis = other_rev = other_bare = 0
    first_visible: int | None = None
    done = 0

    def score(faces: Faces) -> None:
        nonlocal done, kept_n, kept_vis, other_rev, other_bare, first_visible
        mask = effects.coverage_mask(shape, faces, params) > 0
        kb, ob = clip.kept_box[done], clip.other_box[done]
        revealed = engine_keep.revealed
        if kb is not None:
            x1, y1, x2, y2 = (int(round(float(v))) for v in kb)
            visible = float(mask[max(0, y1):y2, max(0, x1):x2].mean()) < VISIBLE
            if visible and first_visible is None:
                first_visible = done
            if done >= FPS:
                kept_n += 1
                kept_vis += visible
        if len(revealed) and (iou_matrix(revealed.xyxy, ob[None])[:, 0] > 0.2).any():
            other_rev += 1
        other_bare += not is_covered(mask, ob)
        done += 1

    for i, frame in enumerate(clip.frames):
        for _, faces in engine.push(frame, i / FPS):
            score(faces)
    for _, faces in engine.flush():
        score(faces)
    return PeopleRow(clip.scenario, clip.kept, clip.other, kept_n, kept_vis,
                     None if first_visible is None else first_visible / FPS, len(clip.frames), other_rev, other_bare)


def distances(enrolled: People, test: Sequence[Person], detect: Callable[[np.ndarray], Faces], describer: Describer,
              every: int = 3) -> tuple[list[float], list[float]]:
    """Distances from views of each test clip (detector boxes, every ``every``-th frame) to the nearest
    enrolled view of the same person (first list) and of each other person (second list)."""
    same: list[float] = []
    other: list[float] = []
    for p in test:
        for i in range(0, len(p.frames), every):
            faces = detect(p.frames[i])
            if not len(faces):
                continue
            j = int(np.argmax(iou_matrix(faces.xyxy, p.boxes[i][None])[:, 0]))
            d = describer.describe(p.frames[i], faces.xyxy[j])
            for name in enrolled.names:
                dist = enrolled.nearest(d, [name])[1]
                (same if name == p.name else other).append(dist)
    return same, other


def enrol_people(enrol: Sequence[Person], detect: Callable[[np.ndarray], Faces], describer: Describer) -> People:
    """Each person enrolled from their frames as from a video (``livecam people add NAME VIDEO``)."""
    people = People()
    for p in enrol:
        views = views_from_frames(((f, i / FPS) for i, f in enumerate(p.frames)), detect, describer)
        if not views:
            raise LivecamError(f"no enrolment view of {p.name} (no frame where one face stands out)")
        people = people.with_person(p.name, np.asarray(views))
    return people


def run_cli(settings: Settings, data: Path, params: KeepParams | None = None, pairs: int | None = None) -> str:
    from livecam.engine import make_anonymizer
    from livecam.policy import load_settings_detector

    detector = load_settings_detector(settings)
    photo = make_anonymizer(settings.replace(keep=[]), detector=detector)
    describer = Describer()
    enrol, test = load_people_clips(data)
    people = enrol_people(enrol, photo.detect_photo, describer)
    rows: list[PeopleRow] = []
    combos = [(a, b) for a in test for b in test if a.name != b.name][:pairs]
    for a, b in combos:
        for scenario in SCENARIOS:
            keep = InlineKeep(KeepGate(people, [a.name], params), describer)
            rows.append(run_clip(build_clip(scenario, a, b), keep, settings, detector))
            log.info("%s", rows[-1])
    same, other = distances(people, test, photo.detect_photo, describer)
    report = format_report(rows, people, same, other, params or KeepParams())
    webcam = load_webcam_people(data.parent / "clips", photo.detect_photo)
    if webcam is None:
        return report + f"\n\n({WEBCAM}: Intel's head-pose clips are not in {data.parent / 'clips'}: left out)"
    w_enrol, w_test = webcam
    w_people = enrol_people(w_enrol, photo.detect_photo, describer)
    w_rows = [run_clip(webcam_clip(a, b), InlineKeep(KeepGate(w_people, [a.name], params), describer), settings,
                       detector) for a in w_test for b in w_test if a.name != b.name]
    w_same, w_other = distances(w_people, w_test, photo.detect_photo, describer)
    return report + "\n\n" + format_report(w_rows, w_people, w_same, w_other, params or KeepParams())


def format_report(rows: Sequence[PeopleRow], people: People, same: list[float], other: list[float],
                  params: KeepParams) -> str:
    lines = [f"--keep on {len(rows)} clips ({FRAMES} frames at {FPS:g} fps); enrolled: "
             + ", ".join(f"{n} ({len(people.views[n])} views)" for n in people.names),
             f"rule: {params.checks} checks over >= {params.span_s:g} s, each <= {params.match:g}, mean <= "
             f"{params.mean:g}; checks every {params.every_s:g} s",
             "", "| scenario | clips | kept person visible (after 1 s) | time to reveal p50 / max | "
                 "bystanders revealed (face-frames) | bystander face-frames bare for any reason |",
             "|---|---:|---:|---:|---:|---:|"]
    for scenario in SCENARIOS + (WEBCAM, "all"):
        rs = [r for r in rows if scenario in ("all", r.scenario)]
        if not rs or (scenario == "all" and len({r.scenario for r in rows}) < 2):
            continue
        kn, kv = sum(r.kept_frames for r in rs), sum(r.kept_visible for r in rs)
        times = [r.reveal_s if r.reveal_s is not None else float("inf") for r in rs]
        on, orv, ob = sum(r.other_frames for r in rs), sum(r.other_revealed for r in rs), sum(r.other_bare for r in rs)
        lines.append(f"| {scenario} | {len(rs)} | {100 * kv / max(1, kn):.1f}% ({kv}/{kn}) | "
                     f"{np.median(times):.2f} / {max(times):.2f} s | {orv} / {on} | {ob} / {on} |")
    lines += ["", "| kept person | kept person visible (after 1 s) | bystanders revealed |", "|---|---:|---:|"]
    for name in people.names:
        rs = [r for r in rows if r.kept == name]
        if rs:
            kn, kv = sum(r.kept_frames for r in rs), sum(r.kept_visible for r in rs)
            lines.append(f"| {name} ({len(people.views[name])} views) | {100 * kv / max(1, kn):.1f}% | "
                         f"{sum(r.other_revealed for r in rs)} |")
    bins = np.arange(0.0, 1.05, 0.1)
    hs, _ = np.histogram(same, bins)
    ho, _ = np.histogram(other, bins)
    lines += ["", f"distance to the nearest enrolled view: same person {len(same)} views, other people "
                  f"{len(other)}: same max {max(same, default=0):.3f}, other min {min(other, default=0):.3f}",
              "", "| distance | " + " | ".join(f"{b:.1f}-{b + 0.1:.1f}" for b in bins[:-1]) + " |",
              "|---|" + "---:|" * (len(bins) - 1),
              "| same person | " + " | ".join(str(int(v)) for v in hs) + " |",
              "| other people | " + " | ".join(str(int(v)) for v in ho) + " |"]
    worst = [r for r in rows if r.other_revealed]
    if worst:
        lines.append("")
        lines += [f"REVEALED a bystander: {r.scenario}, kept {r.kept}, bystander {r.other}: "
                  f"{r.other_revealed} face-frames" for r in worst]
    return "\n".join(lines)
