"""Look-ahead window and track-confirmation choices on the moving-camera test (`livecam eval DATA --pan`),
file mode.

Detections are computed once with the engine's own schedule (fast pass every frame, thorough pass
every 0.5 s and on cuts; cached in /tmp) and replayed through the tracker and the look-ahead
window (``livecam.hindsight``) with each variant, so a variant takes seconds.
Rerun: .venv/bin/python scripts/hindsight_experiments.py [DATA] [--images N] [--threshold T]
``--masks [--crowd 25]``: the mask-size choices of #38 (docs/accuracy.md, "Tight masks"), on crowd photos with
``--crowd``.
"""

from __future__ import annotations

import pickle
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from livecam import effects  # noqa: E402
from livecam.policy import CONFIRM_HITS, DetectionPolicy  # noqa: E402
from livecam.hindsight import Hindsight, HindsightParams  # noqa: E402
from livecam.harness.paneval import PanScore, build_pan_clip, format_rows  # noqa: E402
from livecam.settings import Settings  # noqa: E402
from livecam.tracker import FaceTracker, TrackerParams  # noqa: E402
from scripts.motion_experiments import detections, pan_arguments  # noqa: E402


def tracking(threshold: float, confirm_hits: int = CONFIRM_HITS) -> TrackerParams:
    """The tracker parameters the engine's detection policy gives for ``threshold``."""
    return DetectionPolicy(threshold, 0.5, confirm_hits=confirm_hits).tracker_params()


def replay(clip, dets, params: TrackerParams, fps, settings, lookahead_s: float, hp: HindsightParams, name=""):
    tr = FaceTracker(params)
    win: Hindsight[None] = Hindsight(hp)
    score = PanScore()
    fx = settings.effect_params()
    shape = (clip.size[1], clip.size[0])
    epoch = 0

    def leave() -> None:
        held, faces = win.pop()
        score.add(clip, held.seq, effects.coverage_mask(shape, faces, fx) > 0, effects.mask_boxes(faces, fx))

    for i, (faces, (ox, oy), cut) in enumerate(dets):
        t = i / fps
        if cut:
            tr.reset()
            epoch = i
        tr.update(faces.moved(-ox, -oy), t)
        win.add(i, t, None, (ox, oy), epoch, tr.predict(t, tentative=True).moved(ox, oy), tr.detected_ids)
        win.confirm(tr.confirmed_ids)
        while (oldest := win.oldest) is not None and t - oldest.t >= lookahead_s - 1e-6:
            leave()
    while len(win):
        leave()
    return score.row(name)


def main() -> None:
    ap = pan_arguments()
    ap.add_argument("--only", help="run only variants whose name contains this")
    ap.add_argument("--masks", action="store_true", help="the mask-size variants (#38) instead of the others")
    ap.add_argument("--crowd", type=int, default=0, metavar="N", help="only photos with at least N labelled faces")
    ap.add_argument("--small-faces-every", type=float, nargs="+", default=[0.5], dest="cadences",
                    help="thorough-pass cadences to compare (seconds; one detection run each): the defaults' "
                         "variants run on the first")
    args = ap.parse_args()
    fps = 30.0
    s = Settings(threshold=args.threshold)
    clip = build_pan_clip(Path(args.data), images=args.images, min_faces=args.crowd)
    runs = {}
    for every in args.cadences:
        cache = Path(f"/tmp/livecam-pan-dets-{Path(args.data).name}-{args.images}-{args.crowd}-{s.threshold}-{every:g}.pkl")
        if cache.exists():
            runs[every] = pickle.loads(cache.read_bytes())
        else:
            t0 = time.perf_counter()
            runs[every] = (detections(clip, replace(s, small_faces_s=every), fps), time.perf_counter() - t0)
            cache.write_bytes(pickle.dumps(runs[every]))
    dets = runs[args.cadences[0]][0]
    hp = HindsightParams()
    variants = []
    for hits in (0, 2, 3, 4, 6):
        for look in (0.0, 0.5, 1.0, 2.0):
            variants.append((f"confirm {hits}, look-ahead {look:g} s", tracking(s.threshold, hits), look, hp))
    for accel in (1.0, 3.0, 6.0):
        variants.append((f"confirm 3, look-ahead 1 s, bridged (accel {accel:g})", tracking(s.threshold, 3), 1.0,
                         replace(hp, bridge=True, bridge_accel=accel)))
    for cap in (0.25, 0.5):
        variants.append((f"confirm 3, look-ahead 1 s, bridged, held boxes grow <= {cap:g}",
                         replace(tracking(s.threshold, 3), max_growth=cap), 1.0, replace(hp, bridge=True)))
    for hold in (0.4, 0.6):
        variants.append((f"confirm 3, look-ahead 1 s, bridged, hold {hold:g} s",
                         replace(tracking(s.threshold, 3), hold_s=hold), 1.0, replace(hp, bridge=True)))
    variants.append(("confirm 3, look-ahead 1 s, not bridged", tracking(s.threshold, 3), 1.0,
                     replace(hp, bridge=False)))
    for g in (0.0, 0.25, 1.0):
        variants.append((f"confirm 3, look-ahead 1 s, growth {g:g}/s", tracking(s.threshold, 3), 1.0,
                         replace(hp, grow_per_s=g)))
    for hits in (3, 5, 8):
        for floor in (0.12, 0.14, 0.16):
            p = replace(tracking(s.threshold, hits), confirm_score=floor)
            variants.append((f"confirm {hits} at mean > {floor:g}, look-ahead 1 s", p, 1.0, hp))
    # other user thresholds from the same detections (they ran at this threshold's continue level,
    # which is below any higher threshold's)
    for thr in (0.25, 0.3, 0.4):
        for hits in (0, 3):
            variants.append((f"threshold {thr:g}, confirm {hits}, look-ahead 1 s", tracking(thr, hits), 1.0, hp))
    for thr in (0.16, 0.18, 0.22, 0.25, 0.3):
        for bridge in (True, False):
            variants.append((f"threshold {thr:g}, confirm 3, look-ahead 1 s, {'' if bridge else 'not '}bridged",
                             tracking(thr, 3), 1.0, replace(hp, bridge=bridge)))
    if args.masks:
        p3 = tracking(s.threshold, 3)
        variants = [("defaults (held boxes not capped by their track's largest recent detection)", p3, 1.0, hp)]
        variants += [(f"held boxes <= {w:g}x", replace(p3, max_width=w), 1.0, hp) for w in (1.0, 1.25, 1.5, 2.0, 2.5)]
        variants += [("hold 0.5 s", replace(p3, hold_s=0.5), 1.0, hp), ("confirm 4", tracking(s.threshold, 4), 1.0, hp),
                     ("bridged (--bridge-gaps)", p3, 1.0, replace(hp, bridge=True)),
                     ("threshold 0.25", tracking(0.25, 3), 1.0, hp)]
    if args.only:
        variants = [v for v in variants if args.only in v[0]]
    rows = []
    if len(args.cadences) > 1:
        p = tracking(s.threshold)
        for every, (d, seconds) in runs.items():
            name = f"thorough pass every {every:g} s (detection {seconds / len(clip) * 1000:.0f} ms/frame), defaults"
            rows.append(replay(clip, d, p, fps, s, s.lookahead_s, hp, name))
        variants = []
    for name, p, look, h in variants:
        floor = DetectionPolicy(p.start_score, s.small_faces_s).detector_threshold
        run = [(f[f.score > floor], o, c) for f, o, c in dets]
        rows.append(replay(clip, run, p, fps, s, look, h, name))
    print(format_rows(rows, clip, 8, fps))


if __name__ == "__main__":
    main()
