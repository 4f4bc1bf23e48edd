#!/usr/bin/env python3
"""Coverage of livecam vs deface on the labelled dev sets, in the same run, with the same rule.

    .venv/bin/python scripts/compare_deface.py [--data ../shared/data]

A face counts as covered when >= 70% of its labelled box is obscured. deface 1.5 runs with
its defaults (threshold 0.2, mask scale 1.3, full-resolution input, what `--replacewith solid`
paints: the scaled box); livecam runs exactly as `livecam anonymize` (`livecam eval`).
Prints a Markdown table per data set and the time each tool spent detecting.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livecam import effects, media  # noqa: E402  (after the path tweak, for a checkout run)
from livecam.harness import evaluate  # noqa: E402  (after the path tweak, for a checkout run)
from livecam.engine import make_anonymizer  # noqa: E402
from livecam.settings import Settings  # noqa: E402


def deface_mask(centerface, img_bgr: np.ndarray) -> np.ndarray:
    from deface.deface import scale_bb

    rgb = img_bgr[:, :, ::-1]
    dets, _ = centerface(rgb, threshold=0.2)
    mask = np.zeros(img_bgr.shape[:2], bool)
    h, w = mask.shape
    for x1, y1, x2, y2, _ in dets:
        x1, y1, x2, y2 = scale_bb(*np.array([x1, y1, x2, y2]).astype(int), 1.3)
        mask[max(0, y1):min(h - 1, y2), max(0, x1):min(w - 1, x2)] = True  # cv2.rectangle(..., -1) as deface draws
    return mask


def photos(data: Path, centerface, engine, params) -> dict:
    boxes, attrs = evaluate.load_photo_labels(data)
    res = {tool: {"hits": defaultdict(list), "over": [], "s": 0.0} for tool in ("livecam", "deface")}
    for name, bs in boxes.items():
        img = media.read_image(data / name)
        t = time.perf_counter()
        _, faces = engine.photo(img)
        masks = {"livecam": effects.coverage_mask(img.shape, faces, params) > 0}
        res["livecam"]["s"] += time.perf_counter() - t
        t = time.perf_counter()
        masks["deface"] = deface_mask(centerface, img)
        res["deface"]["s"] += time.perf_counter() - t
        for tool, mask in masks.items():
            res[tool]["over"].append(evaluate.score_image(mask, bs, attrs.get(name), res[tool]["hits"]))
    return res


def clips(data: Path, centerface, make_engine, params) -> dict:
    tracks = json.loads((data / "tracks.json").read_text())
    res = {tool: {"hits": {"all": []}, "over": [], "s": 0.0} for tool in ("livecam", "deface")}
    for clip, track in tracks.items():
        engine = make_engine()
        done = 0  # frames out of livecam's look-ahead window so far (they leave in order)

        def score(out: list) -> None:
            nonlocal done
            for _, faces in out:
                box = track[done]["box"]
                res["livecam"]["hits"]["all"].append(evaluate.is_covered(effects.coverage_mask(img.shape, faces, params) > 0, box))
                done += 1

        for i, t in enumerate(track):
            img = media.read_image(data / t["frame"])
            t0 = time.perf_counter()
            out = engine.push(img, i / 25.0)
            res["livecam"]["s"] += time.perf_counter() - t0
            score(out)
            t0 = time.perf_counter()
            m = deface_mask(centerface, img)
            res["deface"]["s"] += time.perf_counter() - t0
            res["deface"]["hits"]["all"].append(evaluate.is_covered(m, t["box"]))
        score(engine.flush())
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args()
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)
    from deface.centerface import CenterFace

    centerface = CenterFace(in_shape=None, backend="auto")
    s = Settings()
    make = lambda: make_anonymizer(s)  # noqa: E731
    params = s.effect_params()
    for name, fn in (("wider-val-dev", lambda d: photos(d, centerface, make(), params)),
                     ("dlib-faces-dev", lambda d: photos(d, centerface, make(), params)),
                     ("ytf-clips-dev", lambda d: clips(d, centerface, make, params))):
        res = fn(args.data / name)
        keys = [k for k in ("easy", "medium", "hard", "all") if k in res["livecam"]["hits"]]
        print(f"\n{name}\n")
        print("| tool | " + " | ".join(keys) + " | over-masked | detect s |")
        print("|---" * (len(keys) + 3) + "|")
        for tool, r in res.items():
            cells = [f"{np.mean(r['hits'][k]):.1%} ({sum(r['hits'][k])}/{len(r['hits'][k])})" for k in keys]
            over = f"{np.mean(r['over']):.1%}" if r["over"] else "-"
            print(f"| {tool} | " + " | ".join(cells) + f" | {over} | {r['s']:.1f} |")


if __name__ == "__main__":
    main()
