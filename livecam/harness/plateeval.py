"""``livecam eval DATA --plates``: licence plates found and covered, on a ``boxes.json`` set of car photos
(one labelled plate a photo: recall, not false alarms).

* **distance** (the text detector at the width files use, ``ppocr.FILES_WIDTH``): each photo fitted into a 1280x720
  frame alone, or 2x2 / 4x4 photos tiled into one (smaller,
  farther plates); a plate is found when the cover boxes (the detected text boxes padded as ``effects`` pads
  them), each no larger than 4x the plate in width and height, hide at least 70% of it. Text boxes on no
  labelled plate are counted a frame (signs, stickers, dealers' names: the plate rule should drop most).
* **motion**: the pan test's moving camera (``paneval``) over the photos, and a 720p one over pictures of 2x2
  photos (farther plates), through ``livecam anonymize``'s engine: plate-frames covered by plate height, frames
  from a plate's first appearance to its first cover; and the live pipeline on the same pan in real time (the
  frames it sent, judged by their pixels).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from livecam import effects, media
from livecam.harness.evaluate import is_covered, load_photo_labels
from livecam.harness.paneval import MIN_VISIBLE, PanClip, build_pan_clip
from livecam.settings import Settings
from livecam.text import Cover, TextFinder, Texts, covers_text, plates_only, to_cover
from livecam.text.finder import load_text_finder
from livecam.text.ppocr import FILES_WIDTH

PLATE_BINS = ((0, 15, "<15 px"), (15, 30, "15-30 px"), (30, 1e9, ">30 px"))
FRAME = (1280, 720)
FOUND = 0.7
MAX_BOX = 4.0


def plate_bin(height: float) -> str:
    return next(label for lo, hi, label in PLATE_BINS if lo <= height < hi)


def tiled(data: Path, k: int, size: tuple[int, int] = FRAME) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Frames of ``k x k`` photos each fitted into its cell of a ``size`` frame, with the plates' boxes
    ``(N, 4)`` in frame pixels."""
    boxes, _ = load_photo_labels(data)
    names = sorted(boxes)
    cw, ch = size[0] // k, size[1] // k
    for i in range(0, len(names), k * k):
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        plates = []
        for j, name in enumerate(names[i:i + k * k]):
            img = media.read_image(data / name)
            s = min(cw / img.shape[1], ch / img.shape[0])
            small = cv2.resize(img, (max(1, int(img.shape[1] * s)), max(1, int(img.shape[0] * s))),
                               interpolation=cv2.INTER_AREA)
            ox, oy = (j % k) * cw, (j // k) * ch
            frame[oy:oy + small.shape[0], ox:ox + small.shape[1]] = small
            plates += [np.asarray(b, np.float32) * s + [ox, oy, ox, oy] for b in boxes[name]]
        yield frame, np.array(plates, np.float32).reshape(-1, 4)


def found(plate: np.ndarray, cover: np.ndarray) -> bool:
    """At least ``FOUND`` of ``plate`` (xyxy) under the ``cover`` boxes no larger than ``MAX_BOX`` x the plate."""
    x1, y1, x2, y2 = plate
    w, h = max(1, int(round(x2 - x1))), max(1, int(round(y2 - y1)))
    mask = np.zeros((h, w), np.uint8)
    for b in cover:
        if b[2] - b[0] > MAX_BOX * (x2 - x1) or b[3] - b[1] > MAX_BOX * (y2 - y1):
            continue
        cv2.rectangle(mask, (int(np.floor(b[0] - x1)), int(np.floor(b[1] - y1))),
                      (int(np.ceil(b[2] - x1)) - 1, int(np.ceil(b[3] - y1)) - 1), 1, -1)
    return float(mask.mean()) >= FOUND


def _touching(texts: Texts, plates: np.ndarray) -> np.ndarray:
    """``(N,) bool``: text boxes that overlap a labelled plate."""
    if not len(plates) or not len(texts):
        return np.zeros(len(texts), bool)
    t, p = texts.xyxy[:, None], plates[None]
    return ((np.minimum(t[..., 2], p[..., 2]) > np.maximum(t[..., 0], p[..., 0]))
            & (np.minimum(t[..., 3], p[..., 3]) > np.maximum(t[..., 1], p[..., 1]))).any(1)


def distance_row(finder: TextFinder, cover: Sequence[Cover], data: Path, k: int) -> str:
    hits: dict[str, list[bool]] = {label: [] for _, _, label in PLATE_BINS}
    other, frames, spent = 0, 0, 0.0
    for frame, plates in tiled(data, k):
        t0 = time.process_time()
        texts = to_cover(finder(frame), plates_only(cover))
        spent += time.process_time() - t0
        frames += 1
        boxes = effects.text_boxes(texts)
        for p in plates:
            hits[plate_bin(p[3] - p[1])].append(found(p, boxes))
        other += int((~_touching(texts, plates)).sum())
    cells = " | ".join(f"{np.mean(h):.0%} ({len(h)})" if h else "- (0)" for h in hits.values())
    name = "photo alone" if k == 1 else f"{k}x{k} tiled"
    return f"| {name} | {cells} | {other / max(1, frames):.2f} | {1000 * spent / max(1, frames):.0f} |"


def distant_clip(data: Path, images: int, speed: int) -> PanClip:
    """A 1280x720 window panning across ``images`` pictures of 2x2 photos tiled into 1920x1080 (plates at about
    half their size: farther cars in a 720p video)."""
    pictures: list[np.ndarray] = []
    boxes: list[np.ndarray] = []
    for picture, plates in tiled(data, 2, (1920, 1080)):
        if len(pictures) >= images:
            break
        pictures.append(picture)
        boxes.append(plates)
    spans = [(k, x, (1080 - 720) // 2, sum(len(b) for b in boxes[:k])) for k in range(len(pictures))
             for x in range(0, 1920 - 1280 + 1, speed)]
    return PanClip(pictures, spans, boxes, [np.ones(len(b), bool) for b in boxes], (1280, 720))


def pan_row(settings: Settings, clip: PanClip, fps: float, name: str) -> str:
    """The engine over a panning window; plate-frames covered by height, frames to first cover p50/p95/max."""
    from livecam.engine import make_anonymizer

    engine = make_anonymizer(settings)
    assert engine.text is not None
    covers: list[Texts] = []
    engine.text.record = covers
    for i in range(len(clip)):
        engine.push(clip[i], i / fps)
    engine.flush()
    hits: dict[str, list[bool]] = {label: [] for _, _, label in PLATE_BINS}
    first_seen: dict[int, int] = {}
    first_cover: dict[int, int] = {}
    w, h = clip.size
    for i, texts in enumerate(covers):
        boxes, _, ids = clip.labels(i)
        cover = effects.text_boxes(texts)
        for (x1, y1, x2, y2), pid in zip(boxes, ids):
            vis = np.array([max(0, x1), max(0, y1), min(w, x2), min(h, y2)], np.float32)
            if vis[2] <= vis[0] or vis[3] <= vis[1] or \
                    (vis[2] - vis[0]) * (vis[3] - vis[1]) < MIN_VISIBLE * (x2 - x1) * (y2 - y1):
                continue
            hit = found(vis, cover)
            hits[plate_bin(y2 - y1)].append(hit)
            first_seen.setdefault(int(pid), i)
            if hit:
                first_cover.setdefault(int(pid), i)
    delays = [first_cover[p] - s for p, s in first_seen.items() if p in first_cover]
    d = np.percentile(delays, [50, 95, 100]) if delays else np.zeros(3)
    cells = " | ".join(f"{np.mean(v):.1%} ({len(v)})" if v else "- (0)" for v in hits.values())
    return (f"| {name} ({len(clip.images)} pictures, {len(clip)} frames) | {cells} | plates never covered "
            f"{len(first_seen) - len(first_cover)} of {len(first_seen)}; frames to first cover p50/p95/max "
            f"{d[0]:.0f} / {d[1]:.0f} / {d[2]:.0f} |")


def _changed(out: np.ndarray, src: np.ndarray) -> np.ndarray:
    """``(H, W) bool``: the pixels an effect replaced. Effects copy every other pixel bit for bit; inside a cover a
    flat area (a plate's white) may blur to its own value, so holes up to ``_HOLES`` px are closed."""
    diff = (cv2.absdiff(out, src).max(2) > 0).astype(np.uint8)
    return cv2.morphologyEx(diff, cv2.MORPH_CLOSE, np.ones((_HOLES, _HOLES), np.uint8)) > 0


def live_row(settings: Settings, clip: PanClip, fps: float, name: str) -> str:
    """The live pipeline on the clip replayed in real time, judged on the frames it sent: a plate is covered in a
    frame wholly obscured, or where ``FOUND`` of its visible part was replaced (``_changed``), as files count it.
    Plate-frames in a plate's first second are left out."""
    from livecam.harness import replay
    from livecam.inputs.replay import ReplaySource

    replay.register()
    replay.RecordingBackend.instances.clear()
    reports: list = []
    pipe = replay.replay_pipeline(settings, ReplaySource(clip, fps), reports.append)
    backend = replay.RecordingBackend.instances[-1]
    backend.keep = True
    pipe.start()
    hits: dict[str, list[bool]] = {label: [] for _, _, label in PLATE_BINS}
    first_seen: dict[int, int] = {}
    obscured, done = 0, 0
    deadline = time.monotonic() + len(clip) / fps + 10
    while done < len(reports) or (time.monotonic() < deadline and not (reports and reports[-1].index >= len(clip) - 1)):
        time.sleep(0.1)
        while done < min(len(reports), len(backend.frames)):
            r, out = reports[done], backend.frames[done]
            backend.frames[done] = _SCORED  # frames are scored as they come: a 720p run would not fit in memory
            done += 1
            if r.index < 0:
                continue
            boxes, _, ids = clip.labels(r.index)
            obscured += r.obscured_all
            changed = _changed(out, clip[r.index]) if not r.obscured_all else None
            for box, pid in zip(boxes, ids):
                vis = np.array([max(0, box[0]), max(0, box[1]), min(clip.size[0], box[2]), min(clip.size[1], box[3])])
                if vis[2] <= vis[0] or vis[3] <= vis[1] or (vis[2] - vis[0]) * (vis[3] - vis[1]) < \
                        MIN_VISIBLE * (box[2] - box[0]) * (box[3] - box[1]):
                    continue
                if r.index - first_seen.setdefault(int(pid), r.index) < fps:
                    continue
                hit = changed is None or is_covered(changed, vis)
                hits[plate_bin(box[3] - box[1])].append(bool(hit))
        if time.monotonic() > deadline + 10:
            break
    pipe.stop()
    pipe.wait(10)
    cells = " | ".join(f"{np.mean(v):.1%} ({len(v)})" if v else "- (0)" for v in hits.values())
    return (f"| live, {name} ({len(clip)} frames) | {cells} | wholly obscured {obscured / max(1, done):.1%} of "
            f"{done} frames sent; text checks {pipe.status.text_hz:.1f} Hz, face detection {pipe.status.detect_hz:.1f} "
            f"Hz |")


_HOLES = 9
_SCORED = np.empty(0, np.uint8)


def run_cli(settings: Settings, data: Path, images: int = 20, speed: int = 8, fps: float = 30.0,
            parts: Sequence[str] = ("distance", "motion", "live")) -> str:
    if not covers_text(settings.cover):
        settings = settings.replace(cover=[*(c.value for c in settings.cover), Cover.PLATES.value])
    what = "text" if Cover.TEXT in settings.cover else "plates"
    lines = [f"{data}: --cover {','.join(c.value for c in settings.cover)} (a plate is found when {what} boxes "
             f"cover {FOUND:.0%} of it)"]
    if "distance" in parts:
        finder = load_text_finder(settings.cover, FILES_WIDTH)
        assert finder is not None
        lines += ["| frame | plates " + " | plates ".join(label for _, _, label in PLATE_BINS)
                  + " | text boxes on no plate, a frame | CPU ms a frame |", "|---|---:|---:|---:|---:|---:|"]
        lines += [distance_row(finder, settings.cover, Path(data), k) for k in (1, 2, 4)]
    if "motion" in parts:
        lines += ["", "| run | plate-frames " + " | plate-frames ".join(label for _, _, label in PLATE_BINS)
                  + " | first cover |", "|---|---:|---:|---:|---|"]
        lines.append(pan_row(settings, build_pan_clip(Path(data), (640, 360), speed, images), fps,
                             "640x360 window over the photos"))
        lines.append(pan_row(settings, distant_clip(Path(data), images, speed), fps,
                             "1280x720 window over 2x2 photos in 1920x1080"))
    if "live" in parts:
        lines += ["", "| run (plate-frames after each plate's first second) | plate-frames " + " | plate-frames ".join(
            label for _, _, label in PLATE_BINS) + " | |", "|---|---:|---:|---:|---|"]
        lines.append(live_row(settings, build_pan_clip(Path(data), (640, 360), speed, images), fps,
                              "640x360 window over the photos"))
    return "\n".join(lines)
