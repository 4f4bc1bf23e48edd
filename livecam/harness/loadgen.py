"""Standard competing loads for ``livecam bench --load``: what else runs on a streamer's machine.

* ``x264``: an H.264 encode of 1080p30 at ``veryfast`` in real time (OBS's default CPU encoder
  setting), through PyAV's own FFmpeg, of moving picture content, written nowhere;
* ``cpu:N``: N processes that keep a core busy each (a game, a browser, a compile).

Each load is a child process group started by ``Load(kind)`` and ended by ``stop()``; run as
``python -m livecam.harness.loadgen KIND`` it is the load itself, until killed or until the process that started
it (the benchmark) is gone: a benchmark killed outright leaves no encoder running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction

from livecam.errors import LivecamError

KINDS = ("x264", "cpu:N")


def parse(kind: str) -> tuple[str, int]:
    """``"x264"`` -> ("x264", 1); ``"cpu:2"`` -> ("cpu", 2). One-line error for anything else."""
    name, _, n = kind.partition(":")
    if name == "x264" and not n:
        return name, 1
    if name == "cpu" and n.isdigit() and 1 <= int(n) <= 64:
        return name, int(n)
    raise LivecamError(f"unknown load {kind!r}: expected x264 (a 1080p30 veryfast encode) or cpu:N "
                       "(N busy processes), e.g. --load cpu:2")


class Load:
    """A running competing load (child processes); ``stop()`` ends it, safe twice."""

    def __init__(self, kind: str):
        name, n = parse(kind)
        self.kind = kind
        self._procs = [subprocess.Popen([sys.executable, "-m", "livecam.harness.loadgen", name], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, start_new_session=True) for _ in range(n)]
        time.sleep(1.0)  # let it get going before anything is measured
        for p in self._procs:
            if p.poll() is not None:
                err = (p.stderr.read() if p.stderr else b"").decode(errors="replace").strip().splitlines()
                self.stop()
                raise LivecamError(f"the {kind} load did not start: {err[-1] if err else p.returncode}")

    def stop(self) -> None:
        for p in self._procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self._procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self._procs = []

    def __enter__(self) -> Load:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _x264() -> None:
    """Encode 1080p30 in real time at veryfast, as OBS does, into a null muxer."""
    import av
    import numpy as np

    w, h, fps = 1920, 1080, 30
    out = av.open(os.devnull, "w", format="matroska")
    v = out.add_stream("libx264", rate=fps)
    v.width, v.height, v.pix_fmt = w, h, "yuv420p"
    v.options = {"preset": "veryfast", "crf": "23"}
    rng = np.random.default_rng(0)
    base = (rng.random((h // 8, w // 8, 3)) * 255).astype(np.uint8).repeat(8, 0).repeat(8, 1)
    t0 = time.monotonic()
    i = 0
    while True:
        frame = np.roll(base, 6 * i, axis=1)  # a pan: motion the encoder must search
        vf = av.VideoFrame.from_ndarray(frame, format="bgr24")
        vf.pts, vf.time_base = i, Fraction(1, fps)
        for p in v.encode(vf):
            out.mux(p)
        i += 1
        ahead = t0 + i / fps - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)


def _cpu() -> None:
    x = 0
    while True:
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF


if __name__ == "__main__":
    from livecam.procs import end_with_parent

    end_with_parent()
    {"x264": _x264, "cpu": _cpu}[sys.argv[1]]()
