"""Reading and writing photos and videos.

Videos go through PyAV (FFmpeg libraries bundled in its wheel): every decoded frame keeps
its timestamp, the video is re-encoded with H.264, and audio packets are copied untouched
(no re-encode, so no quality loss and no drift). Photos go through OpenCV.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import cv2
import numpy as np

from livecam.errors import LivecamError

if TYPE_CHECKING:  # PyAV is imported where video is read or written
    import av
    import av.container

log = logging.getLogger(__name__)

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_EXTS = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".gif", ".mpg", ".mpeg", ".ts", ".flv", ".wmv"}


def kind_of(path: Path) -> str:
    """``"image"`` or ``"video"`` by extension; raises ``LivecamError`` for anything else."""
    ext = path.suffix.lower()
    if ext in IMAGE_EXTS:
        return "image"
    if ext in VIDEO_EXTS:
        return "video"
    raise LivecamError(f"{path}: not a photo or video livecam knows (expected one of "
                       f"{', '.join(sorted(IMAGE_EXTS | VIDEO_EXTS))})")


def read_image(path: Path) -> np.ndarray:
    """BGR ``uint8 (H, W, 3)``; grey and alpha images are converted."""
    data = np.fromfile(str(path), np.uint8) if path.is_file() else None
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    if img is None:
        raise LivecamError(f"{path}: not a readable image (corrupt, empty or not really a {path.suffix} file)")
    return img


def write_image(path: Path, img_bgr: np.ndarray) -> None:
    ext = path.suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, img_bgr, params)
    if not ok:
        raise LivecamError(f"{path}: could not encode the image as {ext}")
    atomic_write(path, lambda tmp: buf.tofile(str(tmp)))


def check_writable_folder(folder: Path, option: str) -> None:
    """Create ``folder`` if missing and write a probe file in it (a real test: access() lies to root);
    the error names the folder and the ``option`` to change."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise LivecamError(f"cannot create output folder {folder}: {existing} is a file; choose another output "
                           f"with {option}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise LivecamError(f"cannot write to output folder {folder}: {e.strerror or e}; "
                           f"choose another output with {option}") from None


def temporary_path(path: Path) -> Path:
    """Where ``path`` is written before it is complete (hidden, beside it)."""
    return path.with_name(f".{path.name}.livecam-tmp{path.suffix}")


def part_path(path: Path, index: int) -> Path:
    """Where part ``index`` of a video split for parallel work waits to be joined into ``path`` (hidden, beside
    it): an MP4 whatever ``path`` is (it keeps every packet's pts and dts exactly; Matroska keeps no dts for
    B-frames and rounds to milliseconds)."""
    return path.with_name(f".{path.name}.livecam-part{index:03d}.mp4")


def leftovers(path: Path) -> list[Path]:
    """The hidden files livecam writes beside ``path`` while making it (its temporary file, parts and theirs)."""
    name = glob_escape(path.name)
    return sorted({*path.parent.glob(f".{name}.livecam-*"), *path.parent.glob(f"..{name}.livecam-part*")})


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write through a temporary file beside ``path`` so that a failure leaves no half file."""
    tmp = temporary_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except PermissionError:
        raise LivecamError(f"cannot write {path}: permission denied; choose another output with -o") from None
    finally:
        if tmp.exists():
            tmp.unlink()


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    frames: int  # 0 when the container does not say
    has_audio: bool
    duration: float = 0.0  # seconds; 0 when the container does not say


_ROTATE = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}


def _rotation(frame: av.VideoFrame) -> int:
    """A decoded PyAV frame's rotation flag (display matrix): counter-clockwise degrees, 0..359."""
    return int(round(getattr(frame, "rotation", 0) or 0)) % 360


def upright(frame: av.VideoFrame) -> np.ndarray:
    """A decoded PyAV frame as BGR pixels the way players show it: phones store video sideways with a
    rotation flag (display matrix); faces must be found, covered and written upright."""
    img = frame.to_ndarray(format="bgr24")
    turn = _rotation(frame)
    return cv2.rotate(img, _ROTATE[turn]) if turn in _ROTATE else img


def first_frame(path: Path) -> tuple[int, float | None]:
    """``(rotation flag, time in seconds)`` of ``path``'s first video frame (counter-clockwise degrees, 0..359)."""
    import av

    with av.open(str(path)) as c:
        for frame in c.decode(c.streams.video[0]):
            return _rotation(frame), frame.time
    return 0, None


@dataclass(frozen=True)
class Span:
    """A part of a video, for splitting one long video between workers: the frames at ``start <= t < end``
    (seconds from its first frame) are written. The engine also sees ``warm`` seconds before them (its
    tracker warms up, so a face already in the picture is covered from the part's first frame) and ``tail``
    seconds after them (so the last frames get the look-ahead window's hindsight), neither written. Every
    frame is in exactly one of a video's spans (``split``); the parts are joined with ``join_parts``."""

    start: float
    end: float
    warm: float = 0.0
    tail: float = 0.0

    def writes(self, t: float) -> bool:
        return self.start <= t < self.end

    def sees(self, t: float) -> bool:
        return self.start - self.warm <= t < self.end + self.tail


def split(duration: float, part_s: float, warm: float, tail: float) -> list[Span]:
    """``duration`` seconds cut into equal spans of at least ``part_s`` (one span when it is shorter than
    two); the last runs to the end whatever the frames' times."""
    n = max(1, int(duration // part_s)) if part_s > 0 else 1
    cuts = [duration * k / n for k in range(n)] + [float("inf")]
    return [Span(cuts[k], cuts[k + 1], warm if k else 0.0, tail if k < n - 1 else 0.0) for k in range(n)]


def probe_video(path: Path) -> VideoInfo:
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise LivecamError(f"{path}: has no video stream")
            s = c.streams.video[0]
            fps = float(s.average_rate or s.guessed_rate or 25)
            duration = float(s.duration * s.time_base) if s.duration and s.time_base else \
                (c.duration / 1e6 if c.duration else 0.0)
            return VideoInfo(s.codec_context.width, s.codec_context.height, fps, s.frames or 0, bool(c.streams.audio),
                             duration)
    except av.error.FFmpegError as e:
        raise LivecamError(f"{path}: not a readable video ({e.strerror or e})") from None


def iter_video(path: Path) -> Iterator[tuple[np.ndarray, float]]:
    """Yield ``(frame_bgr uint8 (H, W, 3), t seconds)`` for every frame of the first video stream."""
    import av

    try:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            s.thread_type = "AUTO"
            t0 = None
            for i, frame in enumerate(c.decode(s)):
                t = frame.time if frame.time is not None else i / float(s.average_rate or 25)
                t0 = t if t0 is None else t0
                yield upright(frame), t - t0
    except av.error.FFmpegError as e:
        raise LivecamError(f"{path}: could not decode the video ({e.strerror or e})") from None


def encodable(img_bgr: np.ndarray, pix_fmt: str | None) -> av.VideoFrame:
    """A PyAV frame in the encoder's pixel format; GIF's 256-colour palette is chosen per frame
    (FFmpeg's scaler cannot make palettes)."""
    import av

    if pix_fmt != "pal8":
        return av.VideoFrame.from_ndarray(img_bgr, format="bgr24").reformat(format=pix_fmt)
    from PIL import Image

    quant = Image.fromarray(np.ascontiguousarray(img_bgr[..., ::-1])).quantize(256, method=Image.Quantize.FASTOCTREE)
    rgb = np.zeros((256, 3), np.uint8)
    pal = np.frombuffer(bytes(quant.getpalette() or []), np.uint8).reshape(-1, 3)[:256]
    rgb[:len(pal)] = pal
    argb = np.hstack([np.full((256, 1), 255, np.uint8), rgb])
    # PyAV takes (indices, palette) for pal8; its type stubs only list plain arrays
    return av.VideoFrame.from_ndarray((np.asarray(quant), argb), format="pal8")  # type: ignore[arg-type]


def add_video_stream(out: av.container.OutputContainer, dst: Path, rate: Fraction | int, w: int, h: int,
                     live: bool = False) -> av.VideoStream:
    """The video encoder for ``dst``'s container: GIF for .gif, VP9 for .webm (the only codecs those
    containers take), H.264 otherwise. ``live``: encoder settings for real time (no frame delay)."""
    ext = dst.suffix.lower()
    if ext == ".gif":
        vout = out.add_stream("gif", rate=rate)
        vout.pix_fmt = "pal8"
    elif ext == ".webm":
        vout = out.add_stream("libvpx-vp9", rate=rate)
        vout.pix_fmt = "yuv420p"
        vout.options = {"crf": "30", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"}
    else:
        vout = out.add_stream("libx264", rate=rate)
        vout.pix_fmt = "yuv420p" if w % 2 == 0 and h % 2 == 0 else "yuv444p"
        vout.options = ({"crf": "20", "preset": "ultrafast", "tune": "zerolatency"} if live
                        else {"crf": "18", "preset": "superfast"})
    vout.width, vout.height = w, h
    return vout


def container_format(path: Path) -> str | None:
    return {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi",
            ".gif": "gif", ".ts": "mpegts", ".flv": "flv"}.get(path.suffix.lower())
