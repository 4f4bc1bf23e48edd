"""Tracker choices on the moving-camera test (`livecam eval DATA --pan`), file mode.

Detections are computed once (the engine's own schedule: fast pass every frame, thorough pass
every 0.5 s and on cuts) and replayed through tracker variants, so each variant takes seconds.
Rerun: .venv/bin/python scripts/motion_experiments.py [DATA] [--images N]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from livecam import effects  # noqa: E402
from livecam.engine import ThoroughClock, make_anonymizer  # noqa: E402
from livecam.motion import CameraMotion  # noqa: E402
from livecam.harness.paneval import PanScore, build_pan_clip, format_rows  # noqa: E402
from livecam.settings import Settings  # noqa: E402
from livecam.tracker import FaceTracker, TrackerParams  # noqa: E402


def detections(clip, settings, fps):
    eng = make_anonymizer(settings)
    motion = CameraMotion()  # the engine's own steps (livecam.scene), taken apart to replay variants
    thorough = ThoroughClock(settings.small_faces_s)
    out = []
    for i in range(len(clip)):
        frame = clip[i]
        cut = motion.step(frame)
        if cut:
            thorough.cut()
        out.append((eng.params.policy.video(eng.detector, frame, thorough.due(i / fps)), motion.offset, cut))
    return out


def replay(clip, dets, params: TrackerParams, fps, settings, stabilise=True, reset_on_cut=True, name=""):
    tr = FaceTracker(params)
    score = PanScore()
    fx = settings.effect_params()
    shape = (clip.size[1], clip.size[0], 3)
    for i, (faces, (ox, oy), cut) in enumerate(dets):
        if not stabilise:
            ox = oy = 0.0
        if cut and reset_on_cut:
            tr.reset()
        shown = tr.update(faces.moved(-ox, -oy), i / fps).moved(ox, oy)
        score.add(clip, i, effects.coverage_mask(shape, shown, fx) > 0)
    return score.row(name)


def pan_arguments() -> argparse.ArgumentParser:
    """The arguments the pan-test experiment scripts share: the photo set, how many, the threshold."""
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?", default=str(Path(__file__).resolve().parents[2] / "shared/data/wider-val-dev"))
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--threshold", type=float, default=Settings().threshold)
    return ap


def main() -> None:
    args = pan_arguments().parse_args()
    fps = 30.0
    s = Settings(threshold=args.threshold)
    clip = build_pan_clip(Path(args.data), images=args.images)
    dets = detections(clip, s, fps)
    base = TrackerParams(start_score=s.threshold)
    old = TrackerParams(max_growth=1e9, hold_tentative_s=base.hold_s, start_score=s.threshold)
    low = [(f[f.score > s.threshold], o, c) for f, o, c in dets]  # detections as a run at the threshold gives
    rows = [replay(clip, low, old, fps, s, False, False, "before, no hysteresis (detections >= threshold only)"),
            replay(clip, low, base, fps, s, True, True, "defaults, no hysteresis")]
    variants = [
        ("before: no stabilisation, unbounded growth, no tentative rule", old, False, False),
        ("stabilised only", old, True, True),
        ("stabilised + growth cap 0.5", replace(old, max_growth=0.5), True, True),
        ("defaults (stabilised, cap 0.5, tentative 0.3 s)", base, True, True),
        ("defaults, tentative hold 0.6 s", replace(base, hold_tentative_s=0.6), True, True),
        ("defaults, hold 1.2 s", replace(base, hold_s=1.2), True, True),
        ("defaults, cap 0.25", replace(base, max_growth=0.25), True, True),
        ("defaults, cap 1.0", replace(base, max_growth=1.0), True, True),
        ("defaults, accel 1.5", replace(base, accel_sigma=1.5), True, True),
        ("defaults, new-face velocity sd 3", replace(base, init_vel_sigma=3.0), True, True),
        ("defaults, new-face velocity sd 3, cap 1.0", replace(base, init_vel_sigma=3.0, max_growth=1.0), True, True),
    ]
    rows += [replay(clip, dets, p, fps, s, st, rc, name) for name, p, st, rc in variants]
    print(format_rows(rows, clip, 8, fps))


if __name__ == "__main__":
    main()
