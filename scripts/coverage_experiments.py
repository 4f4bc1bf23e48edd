#!/usr/bin/env python3
"""Ideas for covering more WIDER faces, each against the plain threshold trade-off, in one run.

    .venv/bin/python scripts/coverage_experiments.py [--data ../shared/data/wider-val-dev]

The model card says that flip test-time augmentation, size-dependent thresholds, a "crowd prior",
a second tile scale and a union with the YuNet peer model only move along the bundled model's coverage/over-masking
curve. This script is the evidence: it detects every photo once at a low threshold (the thorough
pass's three parts, also on the mirrored photo, and YuNet), then scores each idea with the same
rule as `livecam eval` (covered: >= 70% of the labelled box obscured). ~2 minutes on 2 cores.
Read a row against the plain-threshold rows with the same over-masking.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livecam import effects, media  # noqa: E402  (after the path tweak, for a checkout run)
from livecam.harness import evaluate  # noqa: E402  (after the path tweak, for a checkout run)
from livecam.detectors import load_detector  # noqa: E402
from livecam.detectors.passes import TILE, detect_in_window, merge, tile_scale, tile_windows  # noqa: E402
from livecam.faces import Faces  # noqa: E402

LOW = 0.05  # every idea below keeps a subset of what the detector finds above this
YUNET = ROOT.parent / "shared" / "models" / "peers" / "yunet_n_dynamic.onnx"


def passes(det, img: np.ndarray, second: bool = False) -> dict[str, Faces]:
    """The thorough pass's parts (what ``passes.thorough`` merges), kept apart; ``second``: also tiles at a second
    scale (#37)."""
    h, w = img.shape[:2]
    scale = tile_scale(det, w, h, None)
    crop = lambda c: det.detect(c, c.shape[1], LOW)  # noqa: E731
    out = {"fast": det.detect(img, None, LOW), "half": det.detect(img, max(160, w // 2), LOW),
           "tiles": merge([detect_in_window(crop, img, scale, win) for win in tile_windows(w, h, scale, TILE)])}
    if second:
        s2 = 2.0 if scale == 1.5 else 1.5 * scale
        out["tiles2"] = merge([detect_in_window(crop, img, s2, win) for win in tile_windows(w, h, s2, TILE)])
    return out


def mirrored(f: Faces, w: int) -> Faces:
    return Faces(np.stack([w - f.xyxy[:, 2], f.xyxy[:, 1], w - f.xyxy[:, 0], f.xyxy[:, 3]], 1), f.score)


def yunet(img: np.ndarray) -> Faces:
    """YuNet (Apache-2.0 peer model, OpenCV) at 1x and 2x, merged."""
    yn = cv2.FaceDetectorYN.create(str(YUNET), "", (320, 320), 0.3, 0.3, 5000)
    parts = []
    for s in (1.0, 2.0):
        im = img if s == 1.0 else cv2.resize(img, None, fx=s, fy=s)
        yn.setInputSize((im.shape[1], im.shape[0]))
        _, f = yn.detect(im)
        if f is not None:
            xyxy = np.c_[f[:, 0], f[:, 1], f[:, 0] + f[:, 2], f[:, 1] + f[:, 3]].astype(np.float32) / s
            parts.append(Faces(xyxy, f[:, 14].astype(np.float32)))
    return merge(parts)


def flip_mean(a: Faces, b: Faces) -> Faces:
    """Boxes of a pass and its mirrored run matched by IoU >= 0.4; score = the mean (a miss counts LOW)."""
    from livecam.tracker import iou_matrix

    out = []
    for x, y in ((a, b), (b, a)):
        if not len(x):
            continue
        other = np.full(len(x), LOW, np.float32)
        if len(y):
            m = iou_matrix(x.xyxy, y.xyxy)
            other = np.where(m.max(1) >= 0.4, y.score[m.argmax(1)], LOW)
        out.append(Faces(x.xyxy, ((x.score + other) / 2).astype(np.float32)))
    return merge(out)


def crowd_prior(f: Faces, hi: float, lo: float, anchor: float = 0.3, dist: float = 6.0) -> Faces:
    """Faces above ``hi``, plus those above ``lo`` within ``dist`` face heights of a face scoring above
    ``anchor`` and of similar size (0.5-2x): bystanders stand in crowds."""
    keep = f.score > hi
    anchors = f.score > anchor
    c, s = (f.xyxy[:, :2] + f.xyxy[:, 2:]) / 2, f.xyxy[:, 3] - f.xyxy[:, 1]
    for i in np.where((f.score > lo) & ~keep)[0]:
        d = np.hypot(*(c[anchors] - c[i]).T) / s[i]
        r = s[anchors] / s[i]
        keep[i] = bool(((d < dist) & (r > 0.5) & (r < 2)).any())
    return f[keep]


def by_size(f: Faces, small: float, large: float, split: float = 32) -> Faces:
    h = f.xyxy[:, 3] - f.xyxy[:, 1]
    return f[f.score > np.where(h < split, small, large)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "wider-val-dev")
    args = ap.parse_args()
    boxes, attrs = evaluate.load_photo_labels(args.data)
    det = load_detector(None, device="cpu")
    params = effects.EffectParams()
    found = {}
    for name in boxes:
        img = media.read_image(args.data / name)
        w = img.shape[1]
        p = passes(det, img, second=True)
        p.update({k + "_flip": mirrored(f, w) for k, f in passes(det, np.ascontiguousarray(img[:, ::-1])).items()})
        p["yunet"] = yunet(img)
        found[name] = (img.shape, p)

    def thr(f: Faces, t: float) -> Faces:
        return f[f.score > t]

    parts = ("fast", "half", "tiles")

    def full(p: dict[str, Faces]) -> Faces:  # what passes.thorough returns
        return merge([p[k] for k in parts])

    def full_max_flip(p: dict[str, Faces]) -> Faces:
        return merge([p[k] for k in parts] + [p[k + "_flip"] for k in parts])

    def full_mean_flip(p: dict[str, Faces]) -> Faces:
        return merge([flip_mean(p[k], p[k + "_flip"]) for k in parts])

    ideas = {f"threshold {t:g}": (lambda p, t=t: thr(full(p), t)) for t in (0.08, 0.1, 0.12, 0.15, 0.2)}
    for t in (0.12, 0.15, 0.2):
        ideas[f"flip TTA, max, {t:g}"] = lambda p, t=t: thr(full_max_flip(p), t)
    for t in (0.08, 0.1, 0.12):
        ideas[f"flip TTA, mean, {t:g}"] = lambda p, t=t: thr(full_mean_flip(p), t)
    for small in (0.1, 0.12, 0.15):
        ideas[f"{small:g} under 32 px, 0.2 above"] = lambda p, s=small: by_size(full(p), s, 0.2)
    for lo in (0.08, 0.1, 0.12):
        ideas[f"crowd prior, {lo:g} near faces, 0.2 elsewhere"] = lambda p, lo=lo: crowd_prior(full(p), 0.2, lo)
    for t in (0.1, 0.15, 0.2):  # a miss at the other scale counts LOW, as for the flip
        ideas[f"second tile scale, mean, {t:g}"] = lambda p, t=t: thr(merge([p["fast"], p["half"],
                                                                              flip_mean(p["tiles"], p["tiles2"])]), t)
    for t in (0.5, 0.7):
        ideas[f"threshold 0.2 + YuNet {t:g}"] = lambda p, t=t: merge([thr(full(p), 0.2), thr(p["yunet"], t)])

    print(f"{args.data}: {len(boxes)} photos\n")
    print("| idea | easy | medium | all valid | over-masked |")
    print("|---|---:|---:|---:|---:|")
    for label, pick in ideas.items():
        hits: dict[str, list[bool]] = defaultdict(list)
        over = []
        for name, bs in boxes.items():
            shape, p = found[name]
            mask = effects.coverage_mask(shape, pick(p), params) > 0
            over.append(evaluate.score_image(mask, bs, attrs.get(name), hits))
        cells = [f"{np.mean(hits[k]):.1%}" for k in ("easy", "medium", "all")]
        print(f"| {label} | " + " | ".join(cells) + f" | {np.mean(over):.1%} |", flush=True)


if __name__ == "__main__":
    main()
