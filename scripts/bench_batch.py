"""Batch throughput: `livecam anonymize` on a folder with --jobs 1 and --jobs 2 (and --ray local with
--ray), alternating in one run, wall time including start-up, so the ratios hold on a noisy machine.

    .venv/bin/python scripts/bench_batch.py [--rounds 2] [--ray] [--only short,long] [--load cpu:2]

--ray also runs each batch on a Ray cluster of two 1-CPU nodes (a head and a worker node, ``ray start``)
in a private loopback-only network namespace, as the tests do (``tests.helpers.on_ray_cluster``; root):
equal workers to --jobs 2 (two, one torch thread each), so the difference is Ray's overhead.

Batches: "short" = the four YouTube Faces dev clips twice (8 files, 76-217 frames, 320x240: start-up
dominates); "long" = street-1080p.mp4 twice (2 files, 105 frames of 1920x1080 each); "one long video" =
stage-360p.mp4 forwards and backwards for 60 s (1800 frames of 640x360, 30 fps, with sound), in one
piece, in 2 parts (--chunk 30) and in 4 (--chunk 15).

--load KIND runs every batch beside a competing load (``livecam bench``'s: ``cpu:N`` busy processes or an
``x264`` encode). Each batch also runs ``--jobs 1`` with GNU OpenMP's default spin (``GOMP_SPINCOUNT=300000``,
what livecam ran before it set a short one) as a row of its own.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
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
    from livecam.inputs.replay import pingpong_order

    stage = [f for f, _ in iter_video(DATA / "clips" / "stage-360p.mp4")]
    make_video([stage[i] for i in pingpong_order(len(stage), 1800)], one / "stage-60s.mp4", fps=30, audio_seconds=60)
    return {"short": short, "long": long, "one long video": one}


@dataclass(frozen=True)
class Plan:
    """One row: ``livecam anonymize FOLDER -o OUT/ *args``, with ``env`` added to the environment, or on the
    Ray cluster (``ray``)."""

    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    ray: bool = False


DEFAULT_SPIN = {"GOMP_SPINCOUNT": "300000"}  # libgomp's own, without OMP_WAIT_POLICY


def run(folder: Path, out: Path, plan: Plan) -> float:
    import os

    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "livecam", "-q", "anonymize", str(folder), "-o", f"{out}/", *plan.args],
                       capture_output=True, text=True, env={**os.environ, **plan.env})
    if r.returncode:
        raise SystemExit(r.stderr)
    return time.perf_counter() - start


def run_on_cluster(folder: Path, out: Path, args: list[str], tmp: Path) -> float:
    """The same command on a Ray cluster of two 1-CPU nodes (``tests.helpers.on_ray_cluster``); its own time,
    the cluster already up (as on a real cluster, started once for many batches)."""
    from tests.helpers import on_ray_cluster

    shutil.rmtree(out, ignore_errors=True)
    log = tmp / "ray.log"
    if on_ray_cluster([folder, "-o", f"{out}/", *args], log).wait() != 0:
        raise SystemExit(log.read_text())
    return float(log.read_text().rsplit("livecam-seconds: ", 1)[1].split()[0])


def rounds(n: int, batches: dict[str, Path], plans: dict[str, dict[str, Plan]], tmp: Path,
           times: dict[tuple[str, str], list[float]]) -> None:
    for _ in range(n):
        for b, folder in batches.items():
            for v, plan in plans[b].items():
                if plan.ray:
                    t = run_on_cluster(folder, tmp / "out", list(plan.args), tmp)
                else:
                    t = run(folder, tmp / "out", plan)
                times.setdefault((b, v), []).append(t)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--ray", action="store_true", help="also on a Ray cluster of two 1-CPU nodes in a private "
                   "network namespace (pip install -e '.[ray]'; root, for unshare)")
    p.add_argument("--only", help="the batches to run, comma-separated (short, long, one long video)")
    p.add_argument("--load", metavar="KIND", help="beside a competing load: cpu:N busy processes or x264")
    a = p.parse_args()
    one = Plan(("--jobs", "1"))
    spin = {"--jobs 1, OpenMP's default spin": Plan(one.args, DEFAULT_SPIN)}
    jobs = {"--jobs 1": one, **spin, "--jobs 2": Plan(("--jobs", "2"))}
    ray = {"--ray (2 nodes x 1 CPU)": Plan(ray=True)} if a.ray else {}
    plans: dict[str, dict[str, Plan]] = {
        "short": {**jobs, **ray},
        "long": {**jobs, **ray},
        "one long video": {"--jobs 1": one, **spin, "--jobs 2 --chunk 30 (2 parts)": Plan(("--jobs", "2", "--chunk", "30")),
                           "--jobs 2 --chunk 15 (4 parts)": Plan(("--jobs", "2", "--chunk", "15")),
                           "--jobs 2 --chunk 0 (one piece)": Plan(("--jobs", "2", "--chunk", "0")),
                           **({"--ray --chunk 15 (4 parts)": Plan(("--chunk", "15"), ray=True)} if a.ray else {})},
    }
    from livecam.harness.loadgen import Load

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        batches = build(tmp)
        if a.only:
            batches = {b: f for b, f in batches.items() if b in a.only.split(",")}
        times: dict[tuple[str, str], list[float]] = {}
        load = Load(a.load) if a.load else None
        if load is not None:
            time.sleep(2.0)  # the load under way before the first batch
        try:
            rounds(a.rounds, batches, plans, tmp, times)
        finally:
            if load is not None:
                load.stop()
    for b in batches:
        base = min(times[(b, "--jobs 1")])
        print(f"\n{b}:")
        for v in plans[b]:
            runs = ", ".join(f"{t:.1f}" for t in times[(b, v)])
            print(f"  {v}: {min(times[(b, v)]):.1f} s ({base / min(times[(b, v)]):.2f}x); runs {runs} s")
    print(f"\nbest of {a.rounds} runs each, alternating; wall time including start-up (on Ray: the cluster up, "
          "the command's own time); x = throughput against --jobs 1" + (f"; beside --load {a.load}" if a.load else ""))


if __name__ == "__main__":
    main()
