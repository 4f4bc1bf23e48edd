"""Videos written: every frame through the engine, re-encoded with its timestamps and sound kept (``transcode_video``),
and the parts of a long video done in parallel joined without a re-encode (``join_parts``). An output appears only
when complete; FFmpeg's errors are one line naming the input.
"""

from __future__ import annotations

import logging
from collections import deque
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol

import numpy as np

from livecam.errors import LivecamError
from livecam.media import Span, add_video_stream, atomic_write, container_format, encodable, first_frame, upright

if TYPE_CHECKING:
    import av

log = logging.getLogger(__name__)


class FrameFilter(Protocol):
    """What ``transcode_video`` passes frames through: frames go in with their time and come out in
    the same order, each exactly once, possibly later (a look-ahead window)."""

    def push(self, frame_bgr: np.ndarray, t: float) -> list[np.ndarray]: ...

    def flush(self) -> list[np.ndarray]: ...


def transcode_video(src: Path, dst: Path, process: FrameFilter, progress: Callable[[int], None] | None = None,
                    span: Span | None = None) -> int:
    """Re-encode ``src`` into ``dst`` passing every frame through ``process`` (BGR ``uint8 (H, W, 3)``).

    Frame count, size and timestamps are kept (frame ``i`` out gets frame ``i``'s timestamp in);
    audio streams are copied packet for packet. ``dst`` appears only when complete. Returns the
    number of frames written. ``span``: only that part of the video, without its sound, from the
    keyframe before the frames the span lets the engine see (``process`` gets every frame it sees, with
    its time from the video's first frame; only the frames the span writes are written).
    """

    def attempt(tmp: Path) -> int:
        try:
            return _Transcode(src, dst, process, progress, span).run(tmp)
        except _SeekMissed:
            log.debug("%s: seeking to %.2f s landed after it; decoding from the start", src, span.start if span else 0)
            return _Transcode(src, dst, process, progress, span).run(tmp, seek=False)

    return _write_video(src, dst, attempt, "transcode the video")


class _Transcode:
    """One pass of ``transcode_video`` into a temporary file: streams set up, packets read (sound copied,
    pictures decoded, handed to ``process`` and encoded as it gives them back), the end checked."""

    def __init__(self, src: Path, dst: Path, process: FrameFilter, progress: Callable[[int], None] | None,
                 span: Span | None):
        self.src, self.dst, self.process, self.progress, self.span = src, dst, process, progress, span
        self.n = 0  # frames written
        self.t0: float | None = None  # the time of the video's first frame
        self.damaged: list[float] = []  # the times of the packets that did not decode
        # (pts, time base, written) of the frames given to ``process`` and not out of it yet
        self.stamps: deque[tuple[int | None, Fraction | None, bool]] = deque()

    def run(self, tmp: Path, seek: bool = True) -> int:
        import av

        src, span = self.src, self.span
        rotation, first_t = first_frame(src)
        if span is not None and first_t is None:
            raise LivecamError(f"{src}: its frames have no timestamps, so it cannot be split into parts")
        with av.open(str(src)) as inp, av.open(str(tmp), "w", format=container_format(self.dst),
                                                options=_part_options(inp) if span else {}) as out:
            vin = inp.streams.video[0]
            vin.thread_type = "AUTO"
            vout = self._video_stream(vin, out, rotation)
            audio = _sound_streams(self.src, self.dst, inp, out) if self.span is None else {}  # a part has none
            self.t0 = first_t if span is not None else None
            if span is not None and first_t is not None and seek and span.start - span.warm > 0 and vin.time_base:
                inp.seek(int((first_t + span.start - span.warm) / vin.time_base), stream=vin, backward=True)
            self._copy(inp, out, vin, vout, audio)
            self._write(out, vout, self.process.flush())
            for p in vout.encode(None):
                out.mux(p)
            self._check_end(vin.frames)
        return self.n

    def _video_stream(self, vin: Any, out: Any, rotation: int) -> Any:
        w, h = vin.codec_context.width, vin.codec_context.height
        if rotation % 180:  # a phone video filmed upright: written upright, no flag needed
            w, h = h, w
        self.rate = vin.average_rate or vin.guessed_rate or Fraction(25)
        vout = add_video_stream(out, self.dst, self.rate, w, h)
        if self.dst.suffix.lower() != ".gif" and vin.time_base:
            # the encoder counts in the input's time base too: every frame keeps its timestamp exactly. In
            # 1/rate (PyAV's default) a video with a gap, a pause or a variable rate (average_rate below its
            # frames' spacing) rounded two frames onto one tick, and muxing failed ("Invalid argument").
            vout.time_base = vout.codec_context.time_base = vin.time_base
        return vout

    def _copy(self, inp: Any, out: Any, vin: Any, vout: Any, audio: dict[int, Any]) -> None:
        import av

        span = self.span
        decoded = 0
        for packet in inp.demux([vin, *[inp.streams[i] for i in audio]]):
            if packet.stream.index in audio:
                if packet.dts is None:
                    continue
                packet.stream = audio[packet.stream.index]
                out.mux(packet)
                continue
            try:
                frames = [f for f in packet.decode() if isinstance(f, av.VideoFrame)]
            except av.error.InvalidDataError:  # damaged: this packet's frame is lost, the rest decode
                self.damaged.append(float(packet.pts * packet.time_base) if packet.pts is not None and
                                    packet.time_base else float("nan"))
                continue
            for frame in frames:
                t = frame.time if frame.time is not None else len(self.stamps) / float(self.rate)
                self.t0 = t if self.t0 is None else self.t0
                rel = t - self.t0
                if span is not None:
                    if not decoded and rel > max(0.0, span.start - span.warm) + 1e-3:
                        raise _SeekMissed()  # the container's seek landed after the span: read from the start
                    decoded += 1
                    if not span.sees(rel):
                        if rel >= span.end + span.tail:
                            return  # past the span's tail
                        continue
                self.stamps.append((frame.pts, frame.time_base, span is None or span.writes(rel)))
                self._write(out, vout, self.process.push(upright(frame), rel))

    def _write(self, out: Any, vout: Any, images: list[np.ndarray]) -> None:
        """``process``'s frames out, each with the timestamp of its frame in (those the span does not write: dropped)."""
        for img in images:
            pts, tb, written = self.stamps.popleft()
            if not written:
                continue
            nf = encodable(img, vout.pix_fmt)
            nf.pts, nf.time_base = pts, tb
            for p in vout.encode(nf):
                out.mux(p)
            self.n += 1
            if self.progress:
                self.progress(1)

    def _check_end(self, expected: int) -> None:
        """A video that ends early is refused; damaged packets are said in one warning."""
        n, damaged = self.n, self.damaged
        if self.span is None and expected and n + len(damaged) < expected * 0.99 - 1:
            raise LivecamError(f"{self.src}: the video ends early: decoded {n} of the {expected} frames it declares "
                               "(truncated or damaged file); no output was written")
        if damaged:
            lost = max(len(damaged), expected - n) if expected and self.span is None else len(damaged)
            log.warning("%s: damaged: %d frame(s) could not be decoded and are left out (%s); the other %d "
                        "were anonymized and written", self.src, lost, _where(damaged, self.t0), n)


def _sound_streams(src: Path, dst: Path, inp: Any, out: Any) -> dict[int, Any]:
    """``src``'s sound streams in ``out`` (input index -> output stream), copied packet for packet; one the output's
    container cannot take is left out, with a warning."""
    import av

    audio = {}
    for a in inp.streams.audio:
        try:
            audio[a.index] = out.add_stream_from_template(a)
        except (ValueError, av.error.FFmpegError) as e:
            log.warning("%s: audio stream %d cannot go into %s (%s); it is left out", src, a.index, dst.suffix, e)
    return audio


def _where(times: list[float], t0: float | None) -> str:
    """Where in a video the damaged packets were: ``at 1.2-1.5 s, 7.0 s`` (seconds from its first frame)."""
    rel = sorted(t - (t0 or 0.0) for t in times if t == t)
    if not rel:
        return "at unknown times"
    runs: list[list[float]] = []
    for t in rel:
        if runs and t - runs[-1][1] <= 0.5:
            runs[-1][1] = t
        else:
            runs.append([t, t])
    text = ", ".join(f"{a:.1f} s" if b - a < 0.05 else f"{a:.1f}-{b:.1f} s" for a, b in runs[:5])
    return "at " + text + (", ..." if len(runs) > 5 else "")


def _write_video(src: Path, dst: Path, write: Callable[[Path], int], doing: str) -> int:
    """``write(temporary path)`` made into ``dst`` only when it returns; FFmpeg's errors as one line naming ``src``."""
    import av

    result: list[int] = []
    try:
        atomic_write(dst, lambda tmp: result.append(write(tmp)))
    except av.error.FFmpegError as e:
        log.debug("%s: could not %s", src, doing, exc_info=True)  # --debug: FFmpeg's call that failed
        raise LivecamError(f"{src}: could not {doing} ({e.strerror or e})") from None
    return result[0]


ONE_PIECE = "run it again with --chunk 0 to do it in one piece"


class _SeekMissed(Exception):
    pass


def _part_options(inp: av.container.InputContainer) -> dict[str, str]:
    """A part's MP4 counts the movie's time in its video's time base: a part starts late, and MP4 says so with
    an empty edit in the movie's time scale (by default milliseconds, which moved a part's frames by up to
    half a millisecond: 51195 instead of 51200 in 1/15360 s)."""
    tb = inp.streams.video[0].time_base
    return {"movie_timescale": str(tb.denominator)} if tb is not None and tb.numerator == 1 else {}


def join_parts(src: Path, parts: list[Path], dst: Path, frames: int) -> int:
    """Join the parts of ``src`` written by ``transcode_video`` with consecutive ``split`` spans into
    ``dst``: their video packets as they are (no re-encode; each part starts with a keyframe, and keeps the
    input's timestamps), with ``src``'s sound copied packet for packet as in one piece. ``dst`` appears only
    when complete and holding the ``frames`` the parts were written with; returns that number."""
    import heapq

    import av

    def run(tmp: Path) -> int:
        n = 0
        with av.open(str(src)) as inp, av.open(str(tmp), "w", format=container_format(dst)) as out:
            opened = [av.open(str(p)) for p in parts]
            try:
                first = opened[0].streams.video[0]
                for p, c in zip(parts[1:], opened[1:]):
                    if bytes(c.streams.video[0].codec_context.extradata or b"") != \
                            bytes(first.codec_context.extradata or b""):
                        raise LivecamError(f"{src}: part {p.name} was encoded with other settings than the first; "
                                           f"not written ({ONE_PIECE})")
                vout = out.add_stream_from_template(first)
                audio = _sound_streams(src, dst, inp, out)

                def video() -> Iterator[tuple[float, int, av.Packet]]:
                    last = None
                    for c in opened:
                        for pkt in c.demux(c.streams.video[0]):
                            if pkt.dts is None or pkt.time_base is None:
                                continue
                            if last is not None and pkt.dts * pkt.time_base <= last:
                                raise LivecamError(f"{src}: its parts overlap in time; not written ({ONE_PIECE})")
                            last = pkt.dts * pkt.time_base
                            yield float(last), 0, pkt

                def sound() -> Iterator[tuple[float, int, av.Packet]]:
                    if not audio:  # (demux() of no stream is every stream)
                        return
                    for pkt in inp.demux([inp.streams[i] for i in audio]):
                        if pkt.dts is not None and pkt.time_base is not None:
                            yield float(pkt.dts * pkt.time_base), 1, pkt

                for _, kind, pkt in heapq.merge(video(), sound(), key=lambda x: (x[0], x[1])):
                    if kind == 0:
                        pkt.stream = vout
                        n += 1
                    else:
                        pkt.stream = audio[pkt.stream.index]
                    out.mux(pkt)
            finally:
                for c in opened:
                    c.close()
        if n != frames:
            raise LivecamError(f"{src}: its parts were written with {frames} frames but hold {n}; not written "
                               f"({ONE_PIECE})")
        return n

    return _write_video(src, dst, run, "join its parts")
