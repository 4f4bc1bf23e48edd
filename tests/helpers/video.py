"""Real frames assembled into videos (and read back) with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from livecam.media import read_image

from tests.conftest import DATA
from tests.helpers.data import ytf_tracks


X264_REPEATABLE = {"x264-params": "mbtree=0"}
"""x264 for a test whose input must be the same every run: with macroblock-tree rate control (on in its default
preset) the wheel's x264 wrote other pixels from the same frames from run to run (6 different encodes of one
clip in 10, whatever the thread count; with it off, 8 in 8 equal), so a face at the edge of a test's limit passed
or failed by chance. Not the default: it also changes the picture's quality (the ``--keep`` command-line test's
kept person is visible in 50 of 50 frames with x264's defaults, 27 with this; a finding of its own)."""


def make_video(frames: list[np.ndarray], path: Path, fps: int = 25, audio_seconds: float | None = None,
               options: dict | None = None, times_ms: list[int] | None = None, repeatable: bool = False) -> None:
    """Encode BGR frames as H.264 with B-frames (x264's defaults), and optionally a 440 Hz AAC tone, with
    PyAV; ``times_ms``: each frame's time in milliseconds (default: ``fps`` frames a second); ``repeatable``: the
    same bytes every run (``X264_REPEATABLE``)."""
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", options=options or {}) as out:
        v = out.add_stream("libx264", rate=fps, options=X264_REPEATABLE if repeatable else {})
        v.width, v.height, v.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        if times_ms is not None:  # counted in ms, not in 1/fps: frames at uneven times keep them exactly
            v.codec_context.time_base = Fraction(1, 1000)
        a = None
        if audio_seconds:
            a = out.add_stream("aac", rate=44100)
            a.layout = "mono"
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f[: h - h % 2, : w - w % 2]), format="bgr24")
            vf.pts, vf.time_base = (i, Fraction(1, fps)) if times_ms is None else (times_ms[i], Fraction(1, 1000))
            for p in v.encode(vf):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)
        if a is not None:
            n = int(44100 * (audio_seconds or 0))
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / 44100)).astype(np.float32)[None]
            for start in range(0, n, 1024):
                af = av.AudioFrame.from_ndarray(tone[:, start:start + 1024], format="fltp", layout="mono")
                af.sample_rate, af.pts = 44100, start
                for p in a.encode(af):
                    out.mux(p)
            for p in a.encode(None):
                out.mux(p)


def make_dev_clips(folder: Path) -> None:
    """The four YouTube Faces dev clips as H.264 + AAC videos in ``folder`` (76-217 frames each)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in sorted(ytf_tracks().items()):
        frames = [read_image(DATA / "ytf-clips-dev" / r["frame"]) for r in rows]
        make_video(frames, folder / f"{name}.mp4", audio_seconds=len(frames) / 25)


def make_long_dev_video(path: Path) -> tuple[str, list[int]]:
    """The first dev clip forwards and backwards, twice (528 frames, 21 s at 25 fps, with sound) in ``path``;
    returns the clip's name and which of its labelled frames each frame of the video shows."""
    name, rows = sorted(ytf_tracks().items())[0]
    order = (list(range(len(rows))) + list(range(len(rows)))[::-1]) * 2
    frames = [read_image(DATA / "ytf-clips-dev" / r["frame"]) for r in rows]
    make_video([frames[i] for i in order], path, audio_seconds=len(order) / 25)
    return name, order


def read_video(path: Path) -> tuple[list[np.ndarray], list[float], bool]:
    """``(frames BGR, timestamps s, has_audio)``."""
    import av

    with av.open(str(path)) as c:
        has_audio = bool(c.streams.audio)
        s = c.streams.video[0]
        frames, ts = [], []
        for f in c.decode(s):
            frames.append(f.to_ndarray(format="bgr24"))
            assert f.pts is not None and s.time_base is not None, "a decoded frame without a timestamp"
            ts.append(float(f.pts * s.time_base))
    return frames, ts, has_audio


def audio_packets(path: Path) -> list[bytes]:
    import av

    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]
