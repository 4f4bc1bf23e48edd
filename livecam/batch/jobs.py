"""What a batch is made of, whichever executor runs it: its options, the units of work (a whole input, or a part
of a long video), ``work`` (one unit, as a worker runs it) and ``Context``, what an executor is given."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from livecam import anonymize, media
from livecam.anonymize import FileRecord, Job, process
from livecam.batch.resume import Identity
from livecam.engine import Anonymizer
from livecam.errors import LivecamError
from livecam.faces import Faces
from livecam.settings import Settings

log = logging.getLogger(__name__)

RETRIES = 1  # a file whose worker died is tried this many more times


@dataclass(frozen=True)
class BatchOptions:
    jobs: int = 1
    audit: Path | None = None
    export_boxes: Path | None = None
    boxes: Path | None = None
    progress: bool = True
    ray: str | None = None  # --ray ADDRESS|auto|local: the files as tasks on a Ray cluster
    chunk_s: float = 60.0  # --chunk: with several workers, a video of two chunks or more is split into parts
    option: str = "--keep"  # how the kept people were named (--keep / --reveal), for errors


WARM_S = 2.0  # a part's engine starts this long (plus the look-ahead window) before the frames it writes
SPLITS = {".mp4", ".m4v", ".mov", ".mkv"}  # H.264 outputs, whose parts join packet for packet


def work(job: Job, engine: Anonymizer | None, keep_boxes: bool, given: list[Faces] | None,
         step: Any = None, identity: Identity | None = None) -> FileRecord:
    """One file, as a worker runs it: a bad file is a failed record naming it, not an exception. A whole
    file done is recorded for resume here (``identity``), where it was made."""
    try:
        rec = process(job, engine, keep_boxes, given, step)
    except LivecamError as e:
        log.debug("%s failed", job.src, exc_info=True)
        return FileRecord(str(job.src), str(job.dst), job.kind, status="failed", reason=str(e))
    if identity is not None and job.span is None:
        identity.record(job)
    return rec



@dataclass(frozen=True)
class Unit:
    """What one worker does at a time: a whole input (``part`` 0 of 1), or one part of a long video
    (``job.span`` set, ``job.dst`` the part's hidden file beside the output)."""

    index: int  # the input's place in the batch
    job: Job
    output: Path  # the input's output
    part: int = 0
    parts: int = 1


def units(jobs: list[Job], todo: list[int], infos: dict[int, media.VideoInfo | None], settings: Settings,
          chunk_s: float, split: bool) -> list[Unit]:
    """The work of ``todo``: a video of at least two ``chunk_s`` (``infos``: ``_probe``'s) is cut into parts
    when ``split`` (several workers; not for ``--boxes``), each seeing ``WARM_S`` plus the look-ahead window
    before its frames (the tracker warms up) and the window after them (hindsight for its last frames)."""
    out = []
    for i in todo:
        job, info = jobs[i], infos[i]
        spans: list[media.Span | None] = [None]
        if split and chunk_s > 0 and info is not None and job.dst.suffix.lower() in SPLITS:
            duration = info.duration
            if duration >= 2 * chunk_s:
                spans = [*media.split(duration, chunk_s, WARM_S + settings.lookahead_s, settings.lookahead_s + 0.2)]
        if len(spans) == 1:
            out.append(Unit(i, job, job.dst))
        else:
            out += [Unit(i, replace(job, dst=media.part_path(job.dst, k), span=span), job.dst, k, len(spans))
                    for k, span in enumerate(spans)]
    return out


class _Parts:
    """The records of a split video's parts as they finish; when all are done, the joined file's record."""

    def __init__(self) -> None:
        self.got: dict[int, dict[int, FileRecord]] = {}
        self.failed: set[int] = set()

    def finished(self, jobs: list[Job], unit: Unit, rec: FileRecord) -> FileRecord | None:
        """The input's record once it is known (a part failed: that failure), else None."""
        i = unit.index
        if unit.parts == 1:
            return rec
        if i in self.failed:
            return None
        if rec.status == "failed":
            self.failed.add(i)
            rec.input, rec.output, rec.parts = str(jobs[i].src), str(jobs[i].dst), unit.parts
            return rec
        got = self.got.setdefault(i, {})
        got[unit.part] = rec
        if len(got) < unit.parts:
            return None
        try:
            return anonymize.join(jobs[i], [got[k] for k in range(unit.parts)])
        except LivecamError as e:
            return FileRecord(str(jobs[i].src), str(jobs[i].dst), jobs[i].kind, status="failed", reason=str(e),
                              parts=unit.parts)



Finished = Callable[[Unit, FileRecord], None]


@dataclass(frozen=True)
class Context:
    """What an executor is given with the units to run: the settings and options, the ``--boxes`` boxes of each
    input, the batch's identity (workers record what they finish for resume), the progress bar's step, and
    (in-process only) an engine already made."""

    settings: Settings
    opts: BatchOptions
    given: dict[Path, list[Faces]]
    identity: Identity
    progress: Callable[[int], object]
    engine: Anonymizer | None = None

    @property
    def keep_boxes(self) -> bool:
        return self.opts.export_boxes is not None


Executor = Callable[[list[Unit], Context, Finished], None]
"""The seam: runs the units and calls ``finished`` with each one's record as it ends (in-process, a process pool,
a Ray cluster). A unit whose worker died is retried ``RETRIES`` times, then finished as failed."""
