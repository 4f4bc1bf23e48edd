"""``livecam bench``: the full live path on a replayed clip, into a fake virtual camera.

Replays a clip (default ``../shared/data/clips/street-1080p.mp4`` scaled to 1280x720) at
30 fps like a camera (forwards then backwards, so that it never cuts), runs capture -> detection -> tracker -> effect -> the real
``pyvirtualcam.Camera`` with a recording backend, and reports output fps, added latency
(capture to virtual camera), detection rate and time, and the share of fully obscured
(fail-closed) frames after the first second.
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from livecam import effects
from livecam.detectors import Detector, load_detector
from livecam.errors import LivecamError
from livecam.harness.evaluate import MaskSizes, is_covered
from livecam.faces import Faces
from livecam.harness.loadgen import Load
from livecam.harness.loadgen import parse as parse_load
from livecam.harness.replay import replay_pipeline
from livecam.serve import Address, WebServer
from livecam.serve.clients import MjpegReader, WebRtcViewer
from livecam.settings import Settings, parse_size
from livecam.inputs.replay import Frames, ReplaySource
from livecam.tracker import iou_matrix

if TYPE_CHECKING:
    from livecam.live import LivePipeline


@dataclass
class BenchResult:
    seconds: float
    frames_in: int
    frames_out: int
    latency_ms: np.ndarray
    obscured_after_1s: float
    detect_hz: float
    detector_ms: float
    detect_size: int | None
    reports: list = field(default_factory=list)
    load: str = "none"
    episodes: int = 0               # fail-closed episodes after the first second
    reasons: dict[str, int] = field(default_factory=dict)  # wholly obscured frames after 1 s, by kind of reason
    bare: FaceJudgement | None = None  # --faces
    viewer_fps: list[float] = field(default_factory=list)  # --viewers: frames per second each viewer received
    viewer_kinds: list[str] = field(default_factory=list)   # "mjpeg" / "webrtc", for each
    rss_mb: list[float | None] = field(default_factory=list)  # resident memory after 5 s and at the end
    rss_samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MB) every RSS_EVERY_S
    viewer_errors: list[str] = field(default_factory=list)
    text_hz: float = 0.0  # --cover plates/text: checks a second

    @property
    def fps_out(self) -> float:
        """The output's own frame rate: frames sent from the first frame out to the last. (With ``--delay``
        the first frame leaves that long after the start and the last ``delay`` seconds are still held
        when the run stops: frames out / run time would count the delay as dropped frames.)"""
        sent = [r.sent_t for r in self.reports]
        if len(sent) < 2 or sent[-1] <= sent[0]:
            return self.frames_out / self.seconds
        return (len(sent) - 1) / (sent[-1] - sent[0])

    def memory_growth(self) -> float | None:
        """MB per minute over the run's second half (a least-squares line through the samples there): about
        0 once memory is flat; None for runs too short to tell (under 20 s, or under 4 samples)."""
        if not self.rss_samples or self.rss_samples[-1][0] < 20:
            return None
        half = self.rss_samples[-1][0] / 2
        t, mb = (np.array(v) for v in zip(*[(t, m) for t, m in self.rss_samples if t >= half]))
        if len(t) < 4:
            return None
        return float(np.polyfit(t, mb, 1)[0] * 60)

    def table(self) -> str:
        lat = self.latency_ms
        rows = [
            ("output fps", f"{self.fps_out:.1f}"),
            ("added latency p50 / p95 / max", f"{np.percentile(lat, 50):.1f} / {np.percentile(lat, 95):.1f} / {lat.max():.1f} ms"),
            ("detection rate", f"{self.detect_hz:.1f} Hz"),
            ("detector time (median)", f"{self.detector_ms:.1f} ms at width {self.detect_size}"),
            *([("plate / text checks (--cover)", f"{self.text_hz:.1f} Hz")] if self.text_hz else []),
            ("fully obscured frames after 1 s", f"{self.obscured_after_1s:.1%}"),
            ("fail-closed episodes after 1 s", f"{self.episodes}" + (" (" + ", ".join(
                f"{k}: {n} frames" for k, n in sorted(self.reasons.items(), key=lambda kv: -kv[1])) + ")"
                if self.reasons else "")),
            ("frames in / out", f"{self.frames_in} / {self.frames_out}"),
        ]
        if len(self.rss_mb) == 2 and None not in self.rss_mb:
            rows.append(("memory (resident) after 5 s / at the end", f"{self.rss_mb[0]:.0f} / {self.rss_mb[1]:.0f} MB"))
        if (growth := self.memory_growth()) is not None:
            rows.append(("memory growth over the second half (linear fit)", f"{growth:+.1f} MB/min"))
        for kind in ("mjpeg", "webrtc"):
            got = [n for n, k in zip(self.viewer_fps, self.viewer_kinds) if k == kind]
            if got:
                rows.append((f"{kind.upper() if kind == 'mjpeg' else 'WebRTC'} viewers (--serve, on loopback)",
                             f"{len(got)}, frames/s each: min {min(got):.1f}, mean {np.mean(got):.1f}"))
        if self.viewer_errors:
            rows.append(("viewer errors", "; ".join(sorted(set(self.viewer_errors)))))
        if self.bare is not None:
            n, total, run, sizes, masked = self.bare
            rows.append(("faces bare (vs full-size detection)", f"{n} of {total} face-frames, longest run {run} frames"))
            rows.append(("masks (vs the same faces)", f"{masked:.1%} of the frame masked; "
                         + sizes.text("face found at full size (small faces, background)")))
        return "| metric | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


def run_bench(settings: Settings, clip: Path, size: tuple[int, int], fps: float, seconds: float,
              load: str | None = None, judge_faces: bool = False, viewers: int = 0,
              webrtc_viewers: int = 0) -> BenchResult:
    """``load``: a competing load (``livecam.harness.loadgen``) running while the pipeline does; ``judge_faces``:
    count faces left bare against the detector run offline at full size on the same frames; ``viewers``:
    serve the output (``--serve``) on a free loopback port to this many MJPEG viewers (and
    ``webrtc_viewers`` WebRTC viewers)."""
    # forwards and backwards: a camera has no jump cut every few seconds (which would rightly
    # make livecam obscure the frames until a detection of the "new scene")
    src = ReplaySource.from_video(clip, size=size, fps=fps, pingpong=True)
    frames = [src.frames[i] for i in range(len(src.frames))]
    reports: list = []
    competing = Load(load) if load else None
    readers: list[MjpegReader | WebRtcViewer] = []
    stalled: list[MjpegReader] = []
    try:
        web = _web_server() if viewers or webrtc_viewers else None
        # without --faces, each frame's record drops its face boxes: what the benchmark keeps must not
        # grow faster than what it measures (the boxes of the street clip's ~44 faces are ~3 MB a minute)
        keep = reports.append if judge_faces else (lambda r: reports.append(replace(r, faces=_NO_FACES)))
        pipe = replay_pipeline(settings, src, keep, web=web)
        t0 = time.monotonic()  # the clock starts after the model load and size choice
        pipe.start()
        if web is not None:  # viewers join the running pipeline (WebRTC's first frame ends its handshake)
            readers = [MjpegReader(web.address.port, decode=False) for _ in range(viewers)]
            readers += [WebRtcViewer(web.address.port) for _ in range(webrtc_viewers)]
            if viewers:  # and one that connects and never reads (a stalled client): it must cost nothing
                stalled.append(MjpegReader(web.address.port, read=False))
        watching = time.monotonic()
        counts0 = [r.count for r in readers]
        pipe.wait(max(0.0, min(5.0, seconds) - (watching - t0)))
        rss, samples = _memory_until(pipe, t0 + seconds, t0)
        status = pipe.status
        per_s = [(r.count - c) / max(1e-6, time.monotonic() - watching) for r, c in zip(readers, counts0)]
        kinds = ["webrtc" if isinstance(r, WebRtcViewer) else "mjpeg" for r in readers]
        errors = [r.error for r in readers if r.error]
        pipe.stop()
        pipe.wait(5)
        elapsed = time.monotonic() - t0
    finally:
        for r in [*readers, *stalled]:
            r.close()
        if competing is not None:
            competing.stop()
    if pipe.error is not None:
        raise LivecamError(f"benchmark pipeline failed: {pipe.error}")
    start = reports[0].capture_t if reports else t0
    lat = np.array([(r.sent_t - r.capture_t) * 1000 for r in reports])
    late = [r for r in reports if r.capture_t - start > 1.0]
    obscured = float(np.mean([r.obscured_all for r in late])) if late else 1.0
    episodes = sum(1 for a, b in zip(late, late[1:]) if b.obscured_all and not a.obscured_all)
    from livecam.live.commands import reason_kind  # the live path is imported only when a bench runs

    reasons = dict(Counter(reason_kind(r.reason) for r in late if r.obscured_all))
    return BenchResult(elapsed, src.index + 1, len(reports), lat, obscured, status.detect_hz, status.detector_ms,
                       status.detect_size, reports, load or "none", episodes, reasons,
                       bare_faces(settings, frames, reports) if judge_faces else None, per_s, kinds, rss, samples,
                       errors, status.text_hz)


RSS_EVERY_S = 5.0


def _memory_until(pipe: LivePipeline, end: float, t0: float) -> tuple[list[float | None], list[tuple[float, float]]]:
    """The process's memory now and at ``end`` (monotonic), sampled every ``RSS_EVERY_S`` between (time from ``t0``)."""
    rss = [_rss_mb()]
    samples: list[tuple[float, float]] = []
    while (left := end - time.monotonic()) > 0:
        pipe.wait(min(left, RSS_EVERY_S))
        if (mb := _rss_mb()) is not None:
            samples.append((time.monotonic() - t0, mb))
    rss.append(_rss_mb())
    return rss, samples
_NO_FACES = Faces.empty()


def _rss_mb() -> float | None:
    """This process's resident memory in MB (Linux), else None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _web_server() -> WebServer:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return WebServer(Address("127.0.0.1", port), token="bench").start()


class FaceJudgement(NamedTuple):
    """``livecam bench --faces``: the output frames judged against the faces found offline."""

    bare: int         # face-frames left bare
    face_frames: int
    longest: int      # longest run of one face bare
    sizes: MaskSizes  # drawn masks against those faces (masks on none: small faces, background)
    masked: float     # mean share of a frame obscured (wholly obscured frames: all of it)


def bare_faces(settings: Settings, frames: Frames, reports: list) -> FaceJudgement:
    """Faces the detector finds with confidence in the frame itself (score >= 0.5, >= 20 px tall,
    full resolution, offline) that an output frame left bare. Wholly obscured frames cover everything."""
    det = load_detector(device="cpu")
    params = settings.effect_params()
    ref = {}
    bare: dict[int, list] = {}
    total = 0
    sizes = MaskSizes()
    masked = []
    for n, r in enumerate(reports):
        if r.index < 0 or r.obscured_all:
            masked.append(1.0)
            continue
        k = r.index % len(frames)
        if k not in ref:
            ref[k] = reference_faces(det, frames[k])
        h, w = frames[k].shape[:2]
        mask = effects.coverage_mask((h, w), r.faces, params) > 0
        masked.append(float(mask.mean()))
        sizes.add(effects.mask_boxes(r.faces, params), ref[k])
        for b in ref[k]:
            total += 1
            if not is_covered(mask, b):
                bare.setdefault(n, []).append([float(v) for v in b])
    return FaceJudgement(sum(len(v) for v in bare.values()), total, longest_bare_run(bare), sizes,
                         float(np.mean(masked)) if masked else 0.0)


def reference_faces(det: Detector, frame: np.ndarray) -> np.ndarray:
    """The faces a benchmark judges against (xyxy): what the detector finds with confidence in the frame
    itself at full resolution (score >= 0.5, >= 20 px tall)."""
    found = det.detect(frame, None, 0.5)
    return found[found.height >= 20].xyxy


def longest_bare_run(bare: dict[int, list]) -> int:
    """Longest run of consecutive output frames with a bare face at about the same place (IoU > 0.3)."""
    longest = 0
    runs: dict[int, dict[tuple, int]] = {}
    for n in sorted(bare):
        new = {}
        for b in bare[n]:
            prev = [r for k, r in runs.get(n - 1, {}).items()
                    if iou_matrix(np.array([k], float), np.array([b], float))[0, 0] > 0.3]
            new[tuple(b)] = (max(prev) + 1) if prev else 1
        runs[n] = new
        longest = max([longest, *new.values()])
    return longest


def default_clip() -> Path:
    """The street clip in ``../shared`` beside the project root (a developer's checkout; users give a clip)."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "clips" / "street-1080p.mp4"


def run_cli(settings: Settings, clip: Path | None, size_text: str, fps: float, seconds: float,
            load: str | None = None, judge_faces: bool = False, viewers: int = 0, webrtc_viewers: int = 0) -> str:
    clip = clip or default_clip()
    if not Path(clip).is_file():
        raise LivecamError(f"benchmark clip not found: {clip}; give one: livecam bench CLIP")
    if load:
        parse_load(load)  # a bad --load is said before anything starts
    size = parse_size(size_text)
    res = run_bench(settings, Path(clip), size, fps, seconds, load=load, judge_faces=judge_faces, viewers=viewers,
                    webrtc_viewers=webrtc_viewers)
    head = (f"live path: {Path(clip).name} replayed at {size[0]}x{size[1]} @ {fps:g} fps for {res.seconds:.1f} s, "
            f"delay {settings.delay_s:g} s, competing load: {res.load}\n\n")
    return head + res.table()
