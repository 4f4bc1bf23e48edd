"""Batch throughput: `livecam anonymize` on a folder with --jobs 1 and --jobs 2 (and --ray local with
--ray), alternating in one run, wall time including start-up, so the ratios hold on a noisy machine.

    .venv/bin/python scripts/bench_batch.py [--rounds 2] [--ray]

Batches: "short" = the four YouTube Faces dev clips twice (8 files, 76-217 frames, 320x240: start-up
dominates); "long" = street-1080p.mp4 twice (2 files, 105 frames of 1920x1080 each); "one long video" =
stage-360p.mp4 forwards and backwards for 60 s (1800 frames of 640x360, 30 fps, with sound), run with
`--chunk 15`: `--jobs 2` splits it into 4 parts, `--jobs 2 --chunk 0` does it in one piece.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"


def build(tmp: Path) -> dict[str, Path]:
    from livecam.media import read_image
    from tests.helpers import make_video

    short, long = tmp / "short", tmp / "long"
    short.mkdir()
    long.mkdir()
    tracks = json.loads((DATA / "ytf-clips-dev" / "tracks.json").read_text())
    for name, rows in tracks.items():
        frames = [read_image(DATA / "ytf-clips-dev" / r["frame"]) for r in rows]
        for k in (1, 2):
            make_video(frames, short / f"{name}-{k}.mp4")
    for k in (1, 2):
        shutil.copy(DATA / "clips" / "street-1080p.mp4", long / f"street-{k}.mp4")
    one = tmp / "one"
    one.mkdir()
    from livecam.media import iter_video
    from livecam.sources import pingpong_order

    stage = [f for f, _ in iter_video(DATA / "clips" / "stage-360p.mp4")]
    cycle = pingpong_order(len(stage))
    order = [cycle[k % len(cycle)] for k in range(1800)]
    make_video([stage[i] for i in order], one / "stage-60s.mp4", fps=30, audio_seconds=60)
    return {"short": short, "long": long, "one long video": one}


def run(folder: Path, out: Path, args: list[str]) -> float:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "livecam", "-q", "anonymize", str(folder), "-o", f"{out}/", *args],
                       capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--ray", action="store_true", help="also --ray local (pip install -e '.[ray]')")
    a = p.parse_args()
    variants = {"--jobs 1": ["--jobs", "1"], "--jobs 2": ["--jobs", "2"], "--jobs 2 --chunk 0": ["--jobs", "2"]}
    if a.ray:
        variants["--ray local"] = ["--ray", "local"]
    extra = {"one long video": ["--chunk", "15"]}  # and the one variant that does not split
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        batches = build(tmp)
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(a.rounds):
            for b, folder in batches.items():
                for v, args in variants.items():
                    if "--chunk 0" in v and b not in extra:
                        continue
                    more = ["--chunk", "0"] if "--chunk 0" in v else extra.get(b, [])
                    times.setdefault((b, v), []).append(run(folder, tmp / "out", args + more))
    print("| batch | " + " | ".join(variants) + " |")
    print("|---|" + "---:|" * len(variants))
    for b in batches:
        base = min(times[(b, "--jobs 1")])
        cells = [f"{min(times[(b, v)]):.1f} s ({base / min(times[(b, v)]):.2f}x)" if (b, v) in times else "-"
                 for v in variants]
        print(f"| {b} | " + " | ".join(cells) + " |")
    print(f"\nbest of {a.rounds} runs each, alternating; wall time including start-up; x = throughput against --jobs 1")


if __name__ == "__main__":
    main()
