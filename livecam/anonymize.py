"""``livecam anonymize``: photos, videos and folders of them, mirrored into an output."""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from livecam import effects, media, transcode
from livecam.engine import Anonymizer
from livecam.errors import LivecamError
from livecam.faces import Faces

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    src: Path
    dst: Path
    kind: str  # "image" | "video"
    done: bool = False  # the output is complete from an earlier run of the same command (``plan``'s ``is_done``)
    span: media.Span | None = None  # a part of a long video split between workers; ``dst`` is the part's file


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def plan(inputs: Iterable[Path], output: Path | str, overwrite: bool = False,
         is_done: Callable[[Job], bool] | None = None) -> list[Job]:
    """Turn inputs and ``-o`` into jobs, checking everything that can be checked before work starts.
    ``output`` ending in a slash is a folder, whether or not it exists yet. Outputs that exist
    already are refused unless ``overwrite``, or ``is_done(job)`` (complete from an earlier run of the same
    command: such jobs come back marked ``done``, and the batch skips them)."""
    as_folder = str(output).endswith(("/", os.sep))
    output = Path(output)
    inputs = [Path(p) for p in inputs]
    if not inputs:
        raise LivecamError("no input given: name a photo, video or folder")
    for p in inputs:
        if not p.exists():
            raise LivecamError(f"input not found: {p}")
        if not os.access(p, os.R_OK):
            raise LivecamError(f"cannot read {p}: permission denied")
    single_file = len(inputs) == 1 and inputs[0].is_file() and not (output.is_dir() or as_folder)
    jobs: list[Job] = []
    if single_file:
        src = inputs[0]
        kind = media.kind_of(src)
        if output.suffix.lower() and media.kind_of(output) != kind:
            raise LivecamError(f"output {output} is not a {kind} file: give it a {src.suffix} name or a folder")
        dst = output if output.suffix else output.with_suffix(src.suffix)
        jobs.append(Job(src, dst, kind))
    else:
        if output.exists() and not output.is_dir():
            raise LivecamError(f"output {output} is a file; with several inputs or a folder, -o must be a folder")
        for p in inputs:
            name = Path(os.path.abspath(p)).name  # "photos/.." is named after the folder it means, never ".."
            if not name:
                raise LivecamError(f"input {p} is the root folder: name a folder inside it")
            if p.is_dir():
                if _same(p, output) or output.resolve().is_relative_to(p.resolve()):
                    raise LivecamError(f"output folder {output} is inside the input folder {p}; choose an output outside it")
                jobs += _folder_jobs(p, output / name)
            else:
                jobs.append(Job(p, output / name, media.kind_of(p)))
        _check_collisions(jobs, output)
    for j in jobs:
        if _same(j.src, j.dst):
            raise LivecamError(f"output {j.dst} would overwrite the input; choose another output with -o")
    if is_done is not None:
        jobs = [replace(j, done=True) if j.dst.exists() and is_done(j) else j for j in jobs]
    existing = [j.dst for j in jobs if (j.dst.exists() or j.dst.is_symlink()) and not j.done]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more of the {len(jobs)} outputs)" if len(existing) > 1 else ""
        raise LivecamError(f"output {existing[0]} already exists{more}: livecam never replaces files unless told; "
                           "add --overwrite, or choose another output with -o")
    for path in existing:
        if path.is_dir():
            raise LivecamError(f"output {path} is a folder; choose another output with -o")
    _check_writable({j.dst.parent for j in jobs})
    return jobs


def check_side_file(path: Path, option: str, jobs: list[Job], overwrite: bool,
                    ours: Callable[[Path], bool] | None = None) -> None:
    """A file livecam writes besides the outputs (``--export-boxes``, ``--audit``) follows the output rule:
    never an input or an output of the batch, never an existing file unless ``overwrite``. With ``ours`` (an
    append-only log), an existing file is appended to only when ``ours(path)`` says it is one of livecam's,
    ``--overwrite`` or not."""
    for j in jobs:
        for what, other in (("an input", j.src), ("an output", j.dst)):
            if _same(path, other):
                raise LivecamError(f"{option} {path} is {what} of this command; choose another file")
    if path.is_dir():
        raise LivecamError(f"{option} {path} is a folder; name a file")
    if path.exists() or path.is_symlink():
        if ours is not None:
            if not ours(path):
                raise LivecamError(f"{option} {path} exists and is not a livecam audit log: livecam appends only "
                                   "to its own; choose another file")
        elif not overwrite:
            raise LivecamError(f"{option} {path} already exists: livecam never replaces files unless told; add "
                               "--overwrite, or choose another file")
    media.check_writable_folder(path.parent, option)


def _folder_jobs(folder: Path, out: Path) -> list[Job]:
    """Every photo and video under ``folder`` (hidden files and folders skipped quietly), mirrored into ``out``."""
    files = sorted(f for f in folder.rglob("*")
                   if f.is_file() and not any(part.startswith(".") for part in f.relative_to(folder).parts))
    media_files = [f for f in files if f.suffix.lower() in media.IMAGE_EXTS | media.VIDEO_EXTS]
    if not media_files:
        raise LivecamError(f"{folder}: no photos or videos in this folder")
    others = [f for f in files if f not in media_files]
    if others:
        log.info("%s: skipping %d file(s) that are not photos or videos (e.g. %s)", folder, len(others),
                 others[0].relative_to(folder))
    return [Job(f, out / f.relative_to(folder), media.kind_of(f)) for f in media_files]


def _check_collisions(jobs: list[Job], output: Path) -> None:
    """Every output stays inside ``output`` and no two inputs write the same file."""
    root = output.resolve()
    seen: dict[Path, Path] = {}
    for j in jobs:
        dst = j.dst.resolve()
        if not dst.is_relative_to(root):
            raise LivecamError(f"{j.src} would be written outside the output folder ({j.dst}); name the input "
                               "without '..'")
        if dst in seen:
            raise LivecamError(f"{seen[dst]} and {j.src} would both be written to {j.dst}; anonymize them into "
                               "separate output folders, or rename one")
        seen[dst] = j.src


def _check_writable(folders: set[Path]) -> None:
    for folder in sorted(folders):
        media.check_writable_folder(folder, "-o")


class _Counted:
    """The engine as ``transcode_video``'s frame filter, recording what it covers in each frame written
    (with a ``span``, the frames the span writes)."""

    def __init__(self, engine: Anonymizer, record: FileRecord, keep_boxes: bool, span: media.Span | None):
        self.engine = engine
        self.record = record
        self.keep_boxes = keep_boxes
        self.span = span
        self.times: deque[float] = deque()

    def _count(self, done: list) -> list:
        for _, faces in done:
            t = self.times.popleft()
            if self.span is None or self.span.writes(t):
                self.record.add_frame(faces, self.keep_boxes)
        return [out for out, _ in done]

    def push(self, frame: np.ndarray, t: float) -> list:
        self.times.append(t)
        return self._count(self.engine.push(frame, t))

    def flush(self) -> list:
        return self._count(self.engine.flush())


@dataclass
class FileRecord:
    """What was done to one input: the audit log's line for it (``--audit``) and its boxes (``--export-boxes``)."""

    input: str
    output: str
    kind: str
    status: str = "done"                 # done | skipped (resumed: complete from an earlier run) | failed
    reason: str | None = None
    frames: int = 0
    faces_per_frame: list[int] = field(default_factory=list)
    tracks: dict[int, list[int]] = field(default_factory=dict)  # track id -> [first frame, last frame]
    obscured_frames: int = 0             # frames wholly obscured for a failure (file mode stops instead: 0)
    seconds: float = 0.0
    input_bytes: int = 0
    output_bytes: int = 0
    attempts: int = 1
    parts: int = 1                       # a long video split between workers: how many parts (``--chunk``)
    boxes: list[list[list[float]]] | None = None  # per frame: [x1, y1, x2, y2, score, track id]

    def add_frame(self, faces: Faces, keep_boxes: bool) -> None:
        i = len(self.faces_per_frame)
        self.faces_per_frame.append(len(faces))
        for tid in faces.track_id:
            if tid >= 0:
                self.tracks.setdefault(int(tid), [i, i])[1] = i
        if keep_boxes:
            if self.boxes is None:
                self.boxes = []
            self.boxes.append([[*(float(v) for v in faces.xyxy[k]), float(faces.score[k]),
                                float(faces.track_id[k])] for k in range(len(faces))])


def process(job: Job, engine: Anonymizer | None, keep_boxes: bool = False,
            given: list[Faces] | None = None, progress: Callable[[int], None] | None = None) -> FileRecord:
    """Anonymize one job: with ``engine`` (detect), or exactly the boxes ``given`` per frame (``--boxes``).
    Raises ``LivecamError`` (naming the file) on bad input; the output appears only when complete."""
    rec = FileRecord(str(job.src), str(job.dst), job.kind, input_bytes=job.src.stat().st_size)
    params = engine.params.effect if engine else effects.EffectParams()
    start = time.perf_counter()
    try:
        if job.kind == "image":
            img = media.read_image(job.src)
            if given is not None:
                faces = given[0]  # boxfile.read: exactly one frame's list for a photo
                out = effects.apply(img, faces, params)
            else:
                assert engine is not None
                out, faces = engine.photo(img)
            media.write_image(job.dst, out)
            rec.add_frame(faces, keep_boxes)
            rec.frames = 1
        else:
            if given is not None:
                if job.span is not None:
                    raise ValueError("--boxes: a video is rendered in one piece")
                flt: transcode.FrameFilter = _GivenBoxes(given, params, rec, keep_boxes)
            else:
                assert engine is not None
                engine.reset()
                flt = _Counted(engine, rec, keep_boxes, job.span)
            rec.frames = transcode.transcode_video(job.src, job.dst, flt, progress, job.span)
    except LivecamError as e:
        raise _naming(job.src, e) from None
    rec.seconds = round(time.perf_counter() - start, 3)
    rec.output_bytes = job.dst.stat().st_size
    return rec


def _naming(src: Path, e: LivecamError) -> LivecamError:
    """``e`` as one line that starts with the input's name."""
    return LivecamError(str(e) if str(e).startswith(str(src)) else f"{src}: {e}")


TRACK_ID_STRIDE = 1_000_000  # part k's track ids are k * this + its own: ids stay unique in the joined file


def join(job: Job, parts: list[FileRecord]) -> FileRecord:
    """The parts of a long video (``job``'s span-split parts, in order, all done) joined into ``job.dst``,
    with one record for the whole file: frames, faces and boxes in order; a track is a new track in each
    part (ids ``k * TRACK_ID_STRIDE + id``), its frames counted from the file's start."""
    start = time.perf_counter()
    paths = [Path(r.output) for r in parts]
    try:
        transcode.join_parts(job.src, paths, job.dst, sum(r.frames for r in parts))
    except LivecamError as e:
        raise _naming(job.src, e) from None
    rec = FileRecord(str(job.src), str(job.dst), job.kind, input_bytes=parts[0].input_bytes, parts=len(parts),
                     attempts=max(r.attempts for r in parts))
    keep_boxes = any(r.boxes is not None for r in parts)
    for k, r in enumerate(parts):
        offset = rec.frames
        rec.faces_per_frame += r.faces_per_frame
        for tid, (a, b) in r.tracks.items():
            rec.tracks[k * TRACK_ID_STRIDE + tid] = [a + offset, b + offset]
        if keep_boxes:
            rec.boxes = (rec.boxes or []) + [[[*box[:5], box[5] + k * TRACK_ID_STRIDE if box[5] >= 0 else box[5]]
                                              for box in frame] for frame in (r.boxes or [])]
        rec.frames += r.frames
        rec.obscured_frames += r.obscured_frames
        rec.seconds += r.seconds
    for path in paths:
        path.unlink(missing_ok=True)
    log.info("%s: %d parts joined in %.2f s", job.src, len(parts), time.perf_counter() - start)
    rec.seconds = round(rec.seconds + time.perf_counter() - start, 3)
    rec.output_bytes = job.dst.stat().st_size
    return rec


class _GivenBoxes:
    """``--boxes``: frame ``i`` gets exactly the boxes listed for it. The file lists one entry per frame of this
    very input (``boxfile.read`` checked that it was made from it); a video that decodes to more or fewer frames
    than listed is refused (``LivecamError``: nothing is written), never rendered with frames left bare."""

    def __init__(self, boxes: list[Faces], params: effects.EffectParams, record: FileRecord, keep_boxes: bool):
        self.boxes, self.params, self.record, self.keep_boxes = boxes, params, record, keep_boxes
        self.i = 0

    def push(self, frame: np.ndarray, t: float) -> list[np.ndarray]:
        if self.i >= len(self.boxes):
            raise LivecamError(f"--boxes lists {len(self.boxes)} frames, but the video has more; not written "
                               "(export the boxes again with --export-boxes)")
        faces = self.boxes[self.i]
        self.i += 1
        self.record.add_frame(faces, self.keep_boxes)
        return [effects.apply(frame, faces, self.params)]

    def flush(self) -> list[np.ndarray]:
        if self.i != len(self.boxes):
            raise LivecamError(f"--boxes lists {len(self.boxes)} frames, but only {self.i} decoded; not written "
                               "(export the boxes again with --export-boxes)")
        return []


def failure_message(failed: list[tuple[Job, str]], total: int) -> str:
    """One line for the files of a batch that failed (the rest were done and kept)."""
    done = total - len(failed)
    if len(failed) == 1:
        what = failed[0][1]
        return f"{what} ({done} of {total} files were done and kept)" if total > 1 else what
    return (f"{len(failed)} of {total} files failed ({done} done and kept): " +
            "; ".join(reason for _, reason in failed[:3]) + ("; ..." if len(failed) > 3 else ""))
