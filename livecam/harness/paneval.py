"""``livecam eval DATA --pan``: a moving-camera test built from labelled photos.

A window (default 640x360) pans across each photo of a ``boxes.json`` set at a fixed speed
(default 8 px per frame at 30 fps), one photo after another (a cut between photos), so faces
enter and leave at the edges with exact labels. Both paths run on the same frames:

* **file**: the ``livecam anonymize`` engine, every frame in order;
* **live**: the live pipeline (capture thread, detection thread, tracker, effect, fail-closed
  gates) with the clip replayed in real time as the camera; each output frame is matched back
  to the input frame it came from.

Scores, per output frame and labelled face (valid WIDER faces, at least ``MIN_VISIBLE`` of the
box in view): covered = at least 70% of the visible box obscured (a wholly obscured frame
covers everything); over-masked = obscured pixels outside every labelled box scaled 2x about
its centre, as a share of those pixels; per face: never covered, frames from its first
appearance to its first covered frame, and uncovered frames after its first cover.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from livecam import effects, media
from livecam.harness import replay
from livecam.errors import LivecamError
from livecam.harness.evaluate import HEIGHT_BINS, MaskSizes, height_bin, is_covered, load_photo_labels
from livecam.settings import Settings
from livecam.inputs.replay import ReplaySource

MIN_VISIBLE = 0.5  # share of a face box inside the window for the face to count in that frame


@dataclass(frozen=True)
class PanClip:
    """Frames made on demand (a list-like of BGR arrays) and the labels of each."""

    images: list[np.ndarray]
    spans: list[tuple[int, int, int, int]]  # per frame: (image index, x, y, face-id offset)
    boxes: list[np.ndarray]                 # per image: (N, 4) xyxy
    valid: list[np.ndarray]                 # per image: (N,) bool, the faces that are scored
    size: tuple[int, int]

    def __len__(self) -> int:
        return len(self.spans)

    def __getitem__(self, i: int) -> np.ndarray:
        k, x, y, _ = self.spans[i % len(self.spans)]
        w, h = self.size
        return np.ascontiguousarray(self.images[k][y:y + h, x:x + w])

    def labels(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(boxes in frame i's coordinates, valid, global face ids)``."""
        k, x, y, first_id = self.spans[i]
        b = self.boxes[k] - np.array([x, y, x, y], np.float32)
        return b, self.valid[k], first_id + np.arange(len(b))


def build_pan_clip(data: Path, size: tuple[int, int] = (640, 360), speed: int = 8, images: int = 20,
                   direction: str = "right", min_faces: int = 0) -> PanClip:
    """The first ``images`` photos of ``data`` that are wider and taller than the window (and, with ``min_faces``,
    have at least that many scored faces: a crowd)."""
    all_boxes, attrs = load_photo_labels(data)
    w, h = size
    imgs: list[np.ndarray] = []
    spans: list[tuple[int, int, int, int]] = []
    boxes: list[np.ndarray] = []
    valid: list[np.ndarray] = []
    next_id = 0
    for name in sorted(all_boxes):
        if len(imgs) >= images:
            break
        img = media.read_image(data / name)
        ih, iw = img.shape[:2]
        if iw < w + 4 * speed or ih < h:
            continue
        b = np.asarray(all_boxes[name], np.float32).reshape(-1, 4)
        a = attrs.get(name) or [{}] * len(b)
        ok = np.array([not x.get("invalid") and x.get("difficulty") != "none" for x in a], bool)
        if ok.sum() < min_faces:
            continue
        # the window's height is centred on the faces, so they pass through the pan
        cy = float(np.median((b[ok, 1] + b[ok, 3]) / 2)) if ok.any() else ih / 2
        y = int(np.clip(cy - h / 2, 0, ih - h))
        xs = list(range(0, iw - w + 1, speed))
        if direction == "left":
            xs = xs[::-1]
        k = len(imgs)
        imgs.append(img)
        boxes.append(b)
        valid.append(ok)
        spans += [(k, x, y, next_id) for x in xs]
        next_id += len(b)
    if not imgs:
        raise LivecamError(f"{data}: no photo is larger than the {w}x{h} pan window"
                           + (f" with {min_faces} or more labelled faces" if min_faces else ""))
    return PanClip(imgs, spans, boxes, valid, (w, h))


@dataclass(frozen=True)
class PanRow:
    """One run of the pan test: face-frames covered (share), over-masked share, faces seen / never
    covered, frames from a face's first appearance to its first cover (p50, p95, max), uncovered
    face-frames after the first cover, wholly obscured share, covered share by face height, and the
    covered share of faces >= 32 px once found; ``sent``: frames scored."""

    run: str
    face_frames: int
    covered: float
    over: float
    faces: int
    never: int
    delay: tuple[float, float, float]
    uncovered_after: int
    obscured: float
    by_height: dict[str, float]
    found_32: float
    sent: int
    ratio: tuple[float, float]  # drawn mask / face size, p95 and max, over masks that cover a face
    unmatched: float            # share of drawn masks that cover no labelled face
    masked: float               # share of the frame obscured (faces included; a wholly obscured frame: all)


@dataclass
class PanScore:
    face_frames: int = 0
    covered: int = 0
    over: list[float] = field(default_factory=list)
    obscured_frames: int = 0
    frames: int = 0
    first_seen: dict[int, int] = field(default_factory=dict)   # face id -> input frame index
    first_cover: dict[int, int] = field(default_factory=dict)
    uncovered_after: int = 0
    by_height: dict[str, tuple[int, int]] = field(default_factory=dict)  # label -> (face-frames, covered)
    per_face: dict[int, list[float]] = field(default_factory=dict)  # face id -> [face-frames, covered, max height]
    sizes: MaskSizes = field(default_factory=MaskSizes)
    masked: list[float] = field(default_factory=list)

    def add(self, clip: PanClip, index: int, mask: np.ndarray | None, drawn: np.ndarray | None = None) -> None:
        """Score an output frame made from input frame ``index`` (delays are counted in input frames);
        ``mask`` is the obscured-pixel mask, or None for a wholly obscured frame; ``drawn``: the masks' boxes."""
        self.frames += 1
        b, ok, ids = clip.labels(index)
        if drawn is not None:
            self.sizes.add(drawn, b)
        w, h = clip.size
        self.masked.append(1.0 if mask is None else float(mask.mean()))
        if mask is None:
            self.obscured_frames += 1
            self.over.append(1.0)
        else:
            allowed = np.zeros(mask.shape, bool)
            c = (b[:, :2] + b[:, 2:]) / 2
            half = (b[:, 2:] - b[:, :2])  # 2x the box: half-size = the box's full size
            for (x1, y1), (x2, y2) in zip(np.floor(c - half).astype(int), np.ceil(c + half).astype(int)):
                allowed[max(0, y1):max(0, y2), max(0, x1):max(0, x2)] = True
            outside = ~allowed
            self.over.append(float((mask & outside).sum() / max(1, outside.sum())))
        for box, valid, fid in zip(b, ok, ids):
            if not valid:
                continue
            x1, y1, x2, y2 = box
            vx1, vy1, vx2, vy2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
            area = max(1e-6, (x2 - x1) * (y2 - y1))
            if vx2 <= vx1 or vy2 <= vy1 or (vx2 - vx1) * (vy2 - vy1) / area < MIN_VISIBLE:
                continue
            hit = mask is None or is_covered(mask, (vx1, vy1, vx2, vy2))
            self.face_frames += 1
            self.covered += hit
            label = height_bin(y2 - y1)
            n, c = self.by_height.get(label, (0, 0))
            self.by_height[label] = (n + 1, c + hit)
            fid = int(fid)
            pf = self.per_face.setdefault(fid, [0, 0, 0.0])
            pf[0] += 1
            pf[1] += hit
            pf[2] = max(pf[2], float(y2 - y1))
            self.first_seen.setdefault(fid, index)
            if hit:
                self.first_cover.setdefault(fid, index)
            elif fid in self.first_cover:
                self.uncovered_after += 1

    def row(self, name: str) -> PanRow:
        delays = [self.first_cover[f] - s for f, s in self.first_seen.items() if f in self.first_cover]
        return PanRow(
            run=name, face_frames=self.face_frames, covered=self.covered / max(1, self.face_frames),
            over=float(np.mean(self.over)) if self.over else 0.0,
            faces=len(self.first_seen), never=len(self.first_seen) - len(self.first_cover),
            delay=((float(np.percentile(delays, 50)), float(np.percentile(delays, 95)), float(max(delays)))
                   if delays else (0.0, 0.0, 0.0)),
            uncovered_after=self.uncovered_after,
            obscured=self.obscured_frames / max(1, self.frames),
            by_height={k: c / n for k, (n, c) in self.by_height.items()},
            found_32=self.found_share(32.0),
            sent=self.frames,
            ratio=self.sizes.ratio, unmatched=self.sizes.unmatched_share,
            masked=float(np.mean(self.masked)) if self.masked else 0.0,
        )

    def found_share(self, min_height: float) -> float:
        """Face-frames covered, over the faces at least ``min_height`` px tall that are covered in at
        least one frame (frames before the first cover and after the last included)."""
        faces = [pf for fid, pf in self.per_face.items() if pf[2] >= min_height and fid in self.first_cover]
        return sum(pf[1] for pf in faces) / max(1, sum(pf[0] for pf in faces))


def run_file(clip: PanClip, settings: Settings, fps: float) -> PanRow:
    from livecam.engine import make_anonymizer

    engine = make_anonymizer(settings)
    params = settings.effect_params()
    score = PanScore()
    shape = (clip.size[1], clip.size[0])
    done = 0
    for i in range(len(clip)):
        for _, faces in engine.push(clip[i], i / fps):
            score.add(clip, done, effects.coverage_mask(shape, faces, params) > 0, effects.mask_boxes(faces, params))
            done += 1
    for _, faces in engine.flush():
        score.add(clip, done, effects.coverage_mask(shape, faces, params) > 0, effects.mask_boxes(faces, params))
        done += 1
    return score.row(f"file mode (`livecam anonymize`, look-ahead {settings.lookahead_s:g} s)")


def run_live(clip: PanClip, settings: Settings, fps: float) -> PanRow:
    """The live pipeline on the clip replayed in real time; frames sent before the first second are
    left out of the wholly-obscured share (the model's first detection)."""
    src = ReplaySource(clip, fps)
    reports: list = []
    pipe = replay.replay_pipeline(settings, src, reports.append).start()
    deadline = time.monotonic() + len(clip) / fps + 10
    while time.monotonic() < deadline and not (reports and reports[-1].index >= len(clip) - 1):
        time.sleep(0.2)
    pipe.stop()
    pipe.wait(10)
    if pipe.error is not None:
        raise LivecamError(f"the live pipeline failed during the pan test: {pipe.error}")
    params = settings.effect_params()
    score = PanScore()
    t0 = next((r.capture_t for r in reports if r.index >= 0), 0.0)
    for r in reports:
        if r.index < 0 or r.capture_t - t0 < 1.0:
            continue
        mask = None if r.obscured_all else effects.coverage_mask((clip.size[1], clip.size[0]), r.faces, params) > 0
        score.add(clip, r.index, mask, None if mask is None else effects.mask_boxes(r.faces, params))
    return score.row(f"live path (`livecam run`, clip as camera, delay {settings.delay_s:g} s)")


def format_rows(rows: Sequence[PanRow], clip: PanClip, speed: int, fps: float) -> str:
    w, h = clip.size
    faces = sum(int(v.sum()) for v in clip.valid)
    lines = [f"moving camera: {w}x{h} window panning {speed} px/frame at {fps:g} fps across {len(clip.images)} photos "
             f"({len(clip)} frames, {faces} labelled faces)",
             "| run | face-frames covered | over-masked | faces never covered | frames to first cover p50/p95/max "
             "| uncovered after first cover | faces >= 32 px found once: covered | wholly obscured frames "
             "| mask / face size p95 / max | masks on no face | frame masked |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        d = r.delay
        lines.append(f"| {r.run} | {r.covered:.1%} ({r.face_frames}) | {r.over:.1%} | "
                     f"{r.never} / {r.faces} | {d[0]:.0f} / {d[1]:.0f} / {d[2]:.0f} | {r.uncovered_after} | "
                     f"{r.found_32:.1%} | {r.obscured:.1%} | {r.ratio[0]:.1f} / {r.ratio[1]:.1f} | {r.unmatched:.1%} | {r.masked:.1%} |")
    lines.append("\ncovered by face height: " + "; ".join(
        f"{r.run.split(' (')[0]}: " + ", ".join(f"{lb} {r.by_height.get(lb, 0):.1%}" for _, _, lb in HEIGHT_BINS)
        for r in rows))
    return "\n".join(lines)


def run_cli(settings: Settings, data: Path, size: tuple[int, int] = (640, 360), speed: int = 8, images: int = 20,
            fps: float = 30.0, modes: Sequence[str] = ("file", "live"), min_faces: int = 0) -> str:
    clip = build_pan_clip(Path(data), size, speed, images, min_faces=min_faces)
    rows: list[PanRow] = []
    if "file" in modes:
        rows.append(run_file(clip, settings, fps))
    if "live" in modes:
        rows.append(run_live(clip, settings, fps))
    return format_rows(rows, clip, speed, fps)
