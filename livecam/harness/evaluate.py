"""``livecam eval DATA``: coverage against labelled faces, with the same engine as ``livecam anonymize``.

A face counts as covered when at least 70% of its box's pixels are obscured (inside the
effect's full-coverage mask, or in a fully obscured frame). Folders with ``boxes.json``
(photos; ``attributes.json`` adds WIDER difficulty) or ``tracks.json`` (clips of frames).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from livecam import effects, media
from livecam.engine import Anonymizer, make_anonymizer
from livecam.policy import load_settings_detector
from livecam.errors import LivecamError
from livecam.faces import Faces
from livecam.live.gate import judge
from livecam.settings import Settings, SettingsError

COVERED = 0.7
HEIGHT_BINS = ((0, 16, "<16 px"), (16, 32, "16-32 px"), (32, 64, "32-64 px"), (64, 1e9, ">64 px"))
LEVELS = ("easy", "medium", "hard")


def is_covered(mask: np.ndarray, box: Sequence[float] | np.ndarray) -> bool:
    """At least ``COVERED`` of ``box``'s pixels (xyxy, clipped to the image) are obscured in ``mask``."""
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    h, w = mask.shape
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    return x2 > x1 and y2 > y1 and float(mask[y1:y2, x1:x2].mean()) >= COVERED


def mask_ratios(drawn: np.ndarray, faces: np.ndarray) -> tuple[list[float], int]:
    """How much larger each drawn mask (``drawn``, xyxy with the margin) is than the labelled face it covers:
    ``max(mask width / face width, mask height / face height)`` for each mask that covers at least half of a
    face (of those, the one it matches best by IoU: in a crowd a face's mask also covers half of a small face
    behind it, which is not the face it was drawn for), and how many masks cover no face (background: counted
    as over-masking)."""
    ratios: list[float] = []
    unmatched = 0
    fw = np.maximum(1e-6, faces[:, 2] - faces[:, 0]) if len(faces) else np.zeros(0)
    fh = np.maximum(1e-6, faces[:, 3] - faces[:, 1]) if len(faces) else np.zeros(0)
    for x1, y1, x2, y2 in drawn:
        if not len(faces):
            unmatched += 1
            continue
        iw = np.clip(np.minimum(x2, faces[:, 2]) - np.maximum(x1, faces[:, 0]), 0, None)
        ih = np.clip(np.minimum(y2, faces[:, 3]) - np.maximum(y1, faces[:, 1]), 0, None)
        inter = iw * ih
        share = inter / (fw * fh)
        iou = np.where(share >= 0.5, inter / ((x2 - x1) * (y2 - y1) + fw * fh - inter), -1.0)
        k = int(np.argmax(iou))
        if share[k] < 0.5:
            unmatched += 1
        else:
            ratios.append(float(max((x2 - x1) / fw[k], (y2 - y1) / fh[k])))
    return ratios, unmatched


@dataclass
class MaskSizes:
    """The size half of the honest over-masking figure, for a whole run: each drawn mask against the labelled
    face it covers (``mask_ratios``), and the masks that cover none."""

    ratios: list[float] = field(default_factory=list)
    masks: int = 0
    unmatched: int = 0

    def add(self, drawn: np.ndarray, faces: np.ndarray) -> None:
        """One frame's drawn masks (xyxy, margin included) and labelled faces (xyxy)."""
        ratios, unmatched = mask_ratios(drawn, faces)
        self.ratios += ratios
        self.masks += len(drawn)
        self.unmatched += unmatched

    @property
    def ratio(self) -> tuple[float, float]:
        """p95 and max of mask / face size over the masks that cover a face."""
        return (float(np.percentile(self.ratios, 95)), max(self.ratios)) if self.ratios else (0.0, 0.0)

    @property
    def unmatched_share(self) -> float:
        return self.unmatched / max(1, self.masks)

    def text(self, faces: str = "labelled face") -> str:
        p95, top = self.ratio
        return f"mask / face size p95 {p95:.1f}, max {top:.1f}; {self.unmatched_share:.1%} of {self.masks} masks on no {faces}"


def height_bin(height: float) -> str:
    """The ``HEIGHT_BINS`` label for a face ``height`` pixels tall."""
    return next(label for lo, hi, label in HEIGHT_BINS if lo <= height < hi)


def score_image(mask: np.ndarray, boxes: Sequence[Sequence[float]] | np.ndarray, attrs: list[dict] | None,
                hits: dict[str, list[bool]]) -> float:
    """Add each valid labelled face's covered/not to ``hits`` (by "all", WIDER difficulty and face
    height) for an obscured-pixel ``mask`` (bool HxW); returns the over-masked share of the image."""
    gt = np.zeros(mask.shape, bool)
    for i, b in enumerate(boxes):
        x1, y1, x2, y2 = (int(round(v)) for v in b)
        gt[max(0, y1):y2, max(0, x1):x2] = True
        a = attrs[i] if attrs else {}
        if a.get("invalid") or a.get("difficulty") == "none":
            continue
        ok = is_covered(mask, b)
        hits["all"].append(ok)
        level = a.get("difficulty")
        if level in LEVELS:
            for lv in LEVELS[LEVELS.index(level):]:
                hits[lv].append(ok)
        hits[height_bin(b[3] - b[1])].append(ok)
    return float((mask & ~gt).sum() / max(1, (~gt).sum()))


def load_photo_labels(data: Path) -> tuple[dict, dict]:
    """``(boxes, attributes)`` of a photo set; attributes are empty when the set has none."""
    boxes = json.loads((data / "boxes.json").read_text())
    attrs_file = data / "attributes.json"
    return boxes, (json.loads(attrs_file.read_text()) if attrs_file.is_file() else {})


@dataclass(frozen=True)
class PhotoResult:
    """Coverage of a photo set at one threshold: ``hits`` maps "all", WIDER difficulties and face
    heights to one covered/not per labelled face; ``over``: mean over-masked share of the images."""

    images: int
    threshold: float
    hits: dict[str, list[bool]]
    over: float
    sizes: MaskSizes = field(default_factory=MaskSizes)


@dataclass(frozen=True)
class ClipScore:
    face_frames: int
    not_covered: int
    longest_run: int
    """The longest run of consecutive face-frames not covered."""


@dataclass(frozen=True)
class ClipResult:
    """Coverage of a set of clips at one threshold: ``hits["all"]`` has one entry per face-frame."""

    clips: dict[str, ClipScore]
    threshold: float
    hits: dict[str, list[bool]]


Result = PhotoResult | ClipResult


def eval_photos(data: Path, settings: Settings, make_engine: Callable[[Settings], Anonymizer],
                thresholds: list[float] | None = None) -> list[PhotoResult]:
    """One result per threshold (default: the settings' own). The detector runs once, at the lowest
    threshold; each row keeps the faces scoring above its threshold, which is exactly what a run at
    that threshold finds (non-maximum suppression only ever removes a box for a higher-scoring one)."""
    thresholds = sorted(thresholds or [settings.threshold])
    boxes, attrs = load_photo_labels(data)
    engine = make_engine(replace(settings, threshold=thresholds[0]))
    params = settings.effect_params()
    hits: list[dict[str, list[bool]]] = [defaultdict(list) for _ in thresholds]
    over: list[list[float]] = [[] for _ in thresholds]
    sizes = [MaskSizes() for _ in thresholds]
    for name, bs in boxes.items():
        img = media.read_image(data / name)
        faces = engine.detect_photo(img)
        labelled = np.asarray(bs, np.float32).reshape(-1, 4)
        for i, t in enumerate(thresholds):
            shown = faces[faces.score > t]
            mask = effects.coverage_mask(img.shape, shown, params) > 0
            over[i].append(score_image(mask, bs, attrs.get(name), hits[i]))
            sizes[i].add(effects.mask_boxes(shown, params), labelled)
    return [PhotoResult(len(boxes), t, h, float(np.mean(o)), z) for t, h, o, z in zip(thresholds, hits, over, sizes)]


def eval_clips(data: Path, settings: Settings, engine: Anonymizer, live_hz: float | None = None) -> ClipResult:
    """Clips of frames (25 fps), one engine for all (reset between clips). ``live_hz`` runs what the
    live path runs, at that rate: the live detection policy (the fast pass plus one small-face tile
    per detection, round robin; the fast pass alone, at once, on a cut), tracking in camera-stabilised
    coordinates, and a frame obscured whole when the live pipeline's gate (``livecam.live.gate``)
    would: after a cut until the next detection, on a scene change since the last detected frame, or
    when that detection is stale."""
    tracks = json.loads((data / "tracks.json").read_text())
    fps = 25.0
    params = settings.effect_params()
    policy = engine.params.policy
    per_clip = {}
    hits: dict[str, list[bool]] = defaultdict(list)
    for clip, track in tracks.items():
        engine.reset()
        scene = engine.scene  # live-hz drives the engine's scene itself (the engine's push is not used)
        next_det, tile = 0.0, 0
        scored: list[tuple[int, Faces, bool]] = []  # (frame index, faces covered, wholly obscured)
        shapes = []
        for i, t in enumerate(track):
            img = media.read_image(data / t["frame"])
            shapes.append(img.shape)
            ts = i / fps
            if live_hz is None:
                scored += [(len(scored) + k, faces, False) for k, (_, faces) in enumerate(engine.push(img, ts))]
                continue
            cut = scene.see(i, img)
            if cut or ts + 1e-9 >= next_det:
                scene.detected(i, policy.live(engine.detector, img, None if cut else tile), ts)
                tile += not cut
                next_det = ts + 1.0 / live_hz
            scored.append((i, scene.faces(i, ts), judge(scene, i, ts, settings.stale_ms) is not None))
        if live_hz is None:
            scored += [(len(scored) + k, faces, False) for k, (_, faces) in enumerate(engine.flush())]
        run = longest = misses = 0
        for i, faces, obscured in scored:
            ok = obscured or is_covered(effects.coverage_mask(shapes[i], faces, params) > 0, track[i]["box"])
            hits["all"].append(ok)
            misses += not ok
            run = 0 if ok else run + 1
            longest = max(longest, run)
        per_clip[clip] = ClipScore(len(track), misses, longest)
    return ClipResult(per_clip, settings.threshold, hits)


def format_report(res: Result, data: Path) -> str:
    hits = res.hits
    if isinstance(res, PhotoResult):
        lines = [f"{data}: {res.images} photos"]
    else:
        lines = [f"{data}: {len(res.clips)} clips"]
    order = ["all", *LEVELS, *(label for _, _, label in HEIGHT_BINS)]
    lines.append("| faces | count | covered |")
    lines.append("|---|---:|---:|")
    for key in order:
        if hits.get(key):
            lines.append(f"| {key} | {len(hits[key])} | {np.mean(hits[key]):.1%} |")
    if isinstance(res, PhotoResult):
        lines.append(f"\nover-masked: {res.over:.1%} of the image outside labelled faces; {res.sizes.text()}")
    else:
        lines.append("\n| clip | face-frames | not covered | longest run |")
        lines.append("|---|---:|---:|---:|")
        for clip, c in res.clips.items():
            lines.append(f"| {clip} | {c.face_frames} | {c.not_covered} | {c.longest_run} |")
    return "\n".join(lines)


def format_sweep(results: Sequence[Result], data: Path) -> str:
    """One row per threshold: what covering more faces costs in masked background."""
    photos = isinstance(results[0], PhotoResult)
    keys = [k for k in ("easy", "medium", "all", HEIGHT_BINS[0][2]) if results[0].hits.get(k)] if photos else ["all"]
    lines = [f"{data}: coverage by detector threshold (lower covers more faces and more background)",
             "| threshold | " + " | ".join(keys) + (" | over-masked | mask / face size p95 / max | masks on no face |"
                                                    if photos else " | not covered | longest run |"),
             "|---:" * (len(keys) + (4 if photos else 3)) + "|"]
    for r in results:
        cells = [f"{np.mean(r.hits[k]):.1%}" for k in keys]
        if isinstance(r, PhotoResult):
            cells += [f"{r.over:.1%}", f"{r.sizes.ratio[0]:.1f} / {r.sizes.ratio[1]:.1f}", f"{r.sizes.unmatched_share:.1%}"]
        else:
            cells += [str(sum(c.not_covered for c in r.clips.values())),
                      str(max(c.longest_run for c in r.clips.values()))]
        lines.append(f"| {r.threshold:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_cli(settings: Settings, data: Path, live_hz: float | None = None, sweep: list[float] | None = None) -> str:
    data = Path(data)
    if not data.is_dir():
        raise LivecamError(f"{data}: not a folder; give a folder with boxes.json or tracks.json")
    for t in sweep or []:
        try:
            settings.replace(threshold=t)  # checked where the setting is declared
        except SettingsError as e:
            raise SettingsError(f"--sweep: {e}") from None
    results: Sequence[Result]
    if (data / "boxes.json").is_file():
        results = eval_photos(data, settings, make_anonymizer, sweep)
    elif (data / "tracks.json").is_file():  # tracking depends on the threshold: one run per threshold
        detector = load_settings_detector(settings)  # loaded once
        results = [eval_clips(data, s, make_anonymizer(s, detector), live_hz)
                   for s in (replace(settings, threshold=t) for t in sorted(sweep or [settings.threshold]))]
    else:
        raise LivecamError(f"{data}: no boxes.json or tracks.json in this folder (see the data README for the formats)")
    return format_sweep(results, data) if sweep else format_report(results[0], data)
