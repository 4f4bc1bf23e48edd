"""Glass-to-glass latency of ``--serve`` in a real browser (headless Chromium).

Each frame of the replayed clip carries its index as a 16-bit code of black/white cells in its
top-left corner. The live pipeline serves it; Chromium shows ``/view`` (WebRTC) and ``/view?mjpeg``;
the page's picture is read back (canvas, the code's corner only) with the browser's clock. Latency =
the moment the browser shows a frame - the moment the replay "captured" it (both clocks are this
machine's). Frames the pipeline obscured whole (no code left) are skipped.

    .venv/bin/python -m scripts.web_latency [--seconds 15] [--size 1280x720]
"""

from __future__ import annotations

import argparse
import base64
import socket
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livecam.harness import replay  # noqa: E402
from livecam.serve import Address, WebServer  # noqa: E402
from livecam.settings import Settings, parse_size  # noqa: E402
from livecam.inputs.replay import ReplaySource  # noqa: E402
from tests.test_serve import _browser  # noqa: E402

CELL, BITS = 12, 16

_READ_JS = """
const el = document.getElementById(arguments[0]);
if (!(el.naturalWidth || el.videoWidth)) return null;
const t = Date.now();
const c = document.createElement("canvas");
c.width = %d; c.height = %d;
c.getContext("2d").drawImage(el, 0, 0, c.width, c.height, 0, 0, c.width, c.height);
return [t, c.toDataURL("image/png")];
""" % (CELL * BITS, CELL)


def stamp(frame: np.ndarray, i: int) -> np.ndarray:
    out = frame.copy()
    for b in range(BITS):
        out[:CELL, b * CELL:(b + 1) * CELL] = 255 if (i >> b) & 1 else 0
    return out


def read_code(strip: np.ndarray) -> int | None:
    grey = cv2.cvtColor(strip, cv2.COLOR_BGR2GRAY).astype(float)
    cells = [grey[3:CELL - 3, b * CELL + 3:(b + 1) * CELL - 3].mean() for b in range(BITS)]
    if any(40 < c < 215 for c in cells):  # not a clean code: an obscured or blended frame
        return None
    return sum(1 << b for b, c in enumerate(cells) if c >= 128)


def measure(driver, url: str, element: str, seconds: float, captured: dict[int, float], offset: float) -> list[float]:
    driver.get(url)
    end = time.monotonic() + seconds
    lat = []
    while time.monotonic() < end:
        got = driver.execute_script(_READ_JS, element)
        if not got:
            time.sleep(0.05)
            continue
        shown = got[0] / 1000 - offset  # the browser's wall clock, on the monotonic clock
        strip = cv2.imdecode(np.frombuffer(base64.b64decode(got[1].split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
        i = read_code(strip)
        if i is not None and i in captured:
            lat.append((shown - captured[i]) * 1000)
        time.sleep(0.03)
    return lat[len(lat) // 5:]  # after the connection settled


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", type=Path, default=ROOT.parent / "shared" / "data" / "clips" / "street-1080p.mp4")
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--seconds", type=float, default=15.0)
    args = ap.parse_args()
    src = ReplaySource.from_video(args.clip, size=parse_size(args.size), fps=30.0)
    frames = [stamp(src.frames[i], i) for i in range(len(src.frames))]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    web = WebServer(Address("127.0.0.1", port), token="latency").start()
    captured: dict[int, float] = {}
    n = len(frames)  # a looping replay's index runs on; the code is the position in the clip
    pipe = replay.replay_pipeline(Settings(), ReplaySource(frames, 30.0, loop=True),
                                  lambda r: captured.__setitem__(r.index % n, r.capture_t) if r.index >= 0 else None,
                                  web=web).start()
    offset = time.time() - time.monotonic()
    driver = _browser()
    try:
        print(f"{args.clip.name} at {args.size}, 30 fps; capture -> shown in headless Chromium, this machine")
        print("| route | frames read | p50 | p95 |\n|---|---:|---:|---:|")
        for name, url, element in (("WebRTC (/view)", f"http://127.0.0.1:{port}/view", "v"),
                                   ("MJPEG (/view?mjpeg)", f"http://127.0.0.1:{port}/view?mjpeg", "m")):
            lat = measure(driver, url, element, args.seconds, captured, offset)
            if lat:
                print(f"| {name} | {len(lat)} | {np.percentile(lat, 50):.0f} ms | {np.percentile(lat, 95):.0f} ms |")
            else:
                print(f"| {name} | 0 | - | - |")
    finally:
        driver.quit()
        pipe.stop()
        pipe.wait(10)


if __name__ == "__main__":
    main()
