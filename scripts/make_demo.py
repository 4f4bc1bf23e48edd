"""Builds livecam/data/demo.mp4 (the `--camera demo` clip) from the Intel IoT sample-video preview in
../shared/data/clips (CC BY 4.0, Intel Corporation; see livecam/data/ATTRIBUTION.md).

    .venv/bin/python scripts/make_demo.py
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT.parent / "shared" / "data" / "clips" / "head-pose-face-detection-female-and-male.gif"
DST = ROOT / "livecam" / "data" / "demo.mp4"


def main() -> None:
    with av.open(str(SRC)) as inp, av.open(str(DST), "w", options={"movflags": "+faststart"}) as out:
        vin = inp.streams.video[0]
        rate = vin.average_rate or Fraction(25, 2)
        v = out.add_stream("libx264", rate=rate)
        v.width, v.height, v.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        v.options = {"crf": "22", "preset": "veryslow"}
        frames = [f.reformat(format="yuv420p") for f in inp.decode(vin)]
        # forwards then backwards: the camera source loops the file, and this way without a jump cut
        for i, f in enumerate(frames + frames[-2:0:-1]):
            f.pts, f.time_base = i, 1 / Fraction(rate)
            for p in v.encode(f):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)
    print(f"{DST}: {DST.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
