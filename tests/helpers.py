"""Test helpers: run the CLI, assemble real frames into videos."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np

from livecam.media import read_image

from tests.conftest import DATA


def livecam(*args, timeout=600, env=None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "livecam", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def ytf_tracks() -> dict[str, list[dict]]:
    return json.loads((DATA / "ytf-clips-dev" / "tracks.json").read_text())


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


CROWD = "images/0_Parade_marchingband_1_593.jpg"  # WIDER dev: a marching band, 39 valid faces, all under 16 px


def wider_crowd() -> tuple[np.ndarray, list]:
    """The crowd photo and its valid labelled face boxes (WIDER 'invalid' and 'none' dropped)."""

    from livecam.harness.evaluate import load_photo_labels

    boxes, attrs = load_photo_labels(DATA / "wider-val-dev")
    valid = [b for b, a in zip(boxes[CROWD], attrs[CROWD]) if not a.get("invalid") and a.get("difficulty") != "none"]
    return read_image(DATA / "wider-val-dev" / CROWD), valid


def faces_covered(img: np.ndarray, faces, boxes) -> int:
    """How many of ``boxes`` the default effect covers (>= 70% of the box) when it hides ``faces``."""
    from livecam import effects
    from livecam.harness.evaluate import is_covered

    mask = effects.coverage_mask(img.shape, faces, effects.EffectParams()) > 0
    return sum(is_covered(mask, b) for b in boxes)


class Follow:
    """Read a child process's output stream line by line in a thread: ``wait_for`` a line without
    blocking past a limit, and all of the text once the process has ended (``text``)."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._ended = False  # the stream is closed: no line will come
        self._new = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._new:
                self.lines.append(line)
                self._new.notify_all()
        with self._new:
            self._ended = True
            self._new.notify_all()

    def wait_for(self, text: str, limit_s: float = 120) -> None:
        with self._new:
            def seen() -> bool:
                return any(text in line for line in self.lines)

            self._new.wait_for(lambda: seen() or self._ended, limit_s)
            assert seen(), f"no line with {text!r}:\n" + "".join(self.lines)

    def text(self, limit_s: float = 30) -> str:
        self._thread.join(limit_s)
        return "".join(self.lines)


class FakeModel:
    """A stand-in face model for the live tests, seen by livecam like any other ``Detector``.

    It has one fixed input size (so the worker has no width to choose) and looks only at whole
    frames: the crops of the small-face tile (any other shape) find nothing. Subclasses define
    ``find(frame)``; ``calls`` counts the whole-frame calls.
    """

    input_size: int | None = 640
    on_gpu = False
    frame_shape: tuple[int, ...] | None = None  # the whole frame's; None: the first frame seen

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, frame_bgr: np.ndarray, width: int | None, threshold: float):
        from livecam.faces import Faces

        if self.frame_shape is None:
            self.frame_shape = frame_bgr.shape
        if frame_bgr.shape != self.frame_shape:
            return Faces.empty()
        self.calls += 1
        return self.find(frame_bgr)

    def find(self, frame_bgr: np.ndarray):
        raise NotImplementedError


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port nothing listens on now (TCP, or UDP with ``socket.SOCK_DGRAM``: SRT)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def smooth_at(img: np.ndarray, box) -> bool:
    """Nothing of a face's detail is left in ``box`` (xyxy): the picture there is a smooth blur of colour
    (the privacy screen, a fail-closed frame). A real face measures 7-9 here, this is < 1.5."""
    import cv2

    x1, y1, x2, y2 = (int(v) for v in box)
    crop = cv2.cvtColor(img[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY).astype(float)
    return float(np.abs(crop - cv2.GaussianBlur(crop, (0, 0), 1.5)).mean()) < 1.5


RAY = Path(sys.executable).with_name("ray")
RAY_PORT = 6379  # inside the cluster's own network namespace: nothing else listens there


def ray_cluster_why_not() -> str | None:
    """Why a Ray cluster in a private loopback-only network cannot be made here (None: it can)."""
    import shutil

    if not RAY.exists():
        return 'Ray is not installed: pip install -e ".[ray]"'
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare and ip (util-linux, iproute2)"
    r = subprocess.run(["unshare", "-n", "-p", "-f", "-m", "--mount-proc", "true"], capture_output=True, text=True)
    return None if r.returncode == 0 else f"cannot make network and process namespaces (root needed): {r.stderr.strip()}"


def on_ray_cluster(args: list, log: Path, nodes: int = 2) -> subprocess.Popen:
    """``livecam anonymize ARGS --ray 127.0.0.1:RAY_PORT`` on a fresh cluster of a head and ``nodes - 1`` worker
    nodes of one CPU each, started by ``ray start``. Ray's servers listen on every interface, so the cluster
    and the command run in network and process namespaces of their own (``unshare``, as root): loopback is
    the only network there, and every Ray process ends with the command. The command's own run time (the
    cluster up) is the log's line ``livecam-seconds: S``."""
    import shlex

    cmd = shlex.join([sys.executable, "-c", "import subprocess, sys, time; t = time.perf_counter(); "
                      "r = subprocess.run(sys.argv[1:]); "
                      "print(f'livecam-seconds: {time.perf_counter() - t:.2f}', file=sys.stderr); sys.exit(r.returncode)",
                      sys.executable, "-m", "livecam", "anonymize", *map(str, args), "--ray", f"127.0.0.1:{RAY_PORT}"])
    common = "--node-ip-address 127.0.0.1 --num-cpus 1 --disable-usage-stats"
    workers = "\n".join(f"{shlex.quote(str(RAY))} start --address 127.0.0.1:{RAY_PORT} {common} > /dev/null"
                         for _ in range(nodes - 1))
    script = f"""{shlex.quote(str(RAY))} start --head --port {RAY_PORT} {common} --include-dashboard false > /dev/null
{workers}
{cmd}
"""
    return on_loopback_only(script, log)


def on_loopback_only(script: str, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """The bash ``script`` in network and process namespaces of its own (``unshare``, root), where loopback is
    the only network (Ray's servers listen on every interface) and every process it starts ends with it; its
    stderr to ``log``; ``env`` added to the environment. Kill it with ``os.killpg(proc.pid, ...)``."""
    import os

    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", **(env or {})}
    with log.open("w") as err:
        return subprocess.Popen(["unshare", "-n", "-p", "-f", "-m", "--mount-proc", "bash", "-c",
                                 f"set -e\nip link set lo up\n{script}"],
                                stdout=subprocess.DEVNULL, stderr=err, env=env, start_new_session=True)
