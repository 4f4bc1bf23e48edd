#!/usr/bin/env python3
"""Throughput of `livecam anonymize` against deface on the same clip, in the same run.

    .venv/bin/python scripts/bench_anonymize.py [CLIP] [--runs 2]

Both tools run as their command-line programs, end to end (start-up, decode, detect,
encode), on CLIP (default ../shared/data/clips/street-1080p.mp4); deface with its default
settings except ``--replacewith solid``; livecam also with ``--device cpu`` (PyTorch, the reference
backend, against ``auto``'s pick). Prints frames per second for each and the ratio, as a Markdown table. Each tool's best of ``--runs`` wall times is used.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = ROOT.parent / "shared" / "data" / "clips" / "street-1080p.mp4"


def _frames(clip: Path) -> int:
    import av

    with av.open(str(clip)) as c:
        return sum(1 for _ in c.decode(video=0))


def _time(cmd: list[str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"benchmark command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clip", nargs="?", type=Path, default=DEFAULT_CLIP)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    deface = shutil.which("deface", path=str(Path(sys.executable).parent)) or shutil.which("deface")
    if not deface:
        sys.exit("deface is not installed: pip install deface")
    n = _frames(args.clip)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        cmds = {
            "livecam anonymize --effect solid": [sys.executable, "-m", "livecam", "-q", "anonymize", str(args.clip),
                                                 "-o", str(out / "livecam.mp4"), "--effect", "solid"],
            "livecam anonymize --effect solid --device cpu": [  # PyTorch: the reference backend (#37)
                sys.executable, "-m", "livecam", "-q", "anonymize", str(args.clip), "-o", str(out / "reference.mp4"),
                "--effect", "solid", "--device", "cpu"],
            "deface --replacewith solid": [deface, str(args.clip), "-o", str(out / "deface.mp4"),
                                           "--replacewith", "solid"],
        }
        best = {k: min(_time(c) for _ in range(args.runs)) for k, c in cmds.items()}
    fps = {k: n / v for k, v in best.items()}
    base = fps["deface --replacewith solid"]
    print(f"clip: {args.clip.name}, {n} frames; best of {args.runs} runs, wall time incl. start-up\n")
    print("| tool | seconds | frames/s | vs deface |")
    print("|---|---:|---:|---:|")
    for k in cmds:
        print(f"| {k} | {best[k]:.1f} | {fps[k]:.2f} | {fps[k] / base:.2f}x |")


if __name__ == "__main__":
    main()
