"""A batch of ``livecam anonymize`` jobs: every core (``--jobs``), resume, the audit log, the boxes round trip.

The wing's seam is the executor (``jobs.Executor``): ``local.in_process``, ``local.process_pool`` and
``onray.on_ray`` run units of work the same way; ``run`` plans them, picks one, and gathers the records.

* ``--jobs N``: N worker processes, each with its own model (torch threads split between them so they do
  not fight over cores); one progress bar for the batch (frames, frames/s, ETA); a worker that dies (killed,
  out of memory) has its file retried once, then reported by name. Ctrl+C stops every worker; outputs
  appear only when complete, so nothing half-written is left.
* Resume: each finished output is recorded in ``.livecam-done.json`` beside it (input size and time, the
  settings and the model's sha256, the output's size). Re-running the same command skips outputs recorded
  as complete with the same settings and model, and redoes the rest; any other existing output is refused as
  before (never overwritten unless ``--overwrite``).
* ``--audit FILE``: one JSON line per input (what was done, with which model and settings, faces per frame,
  tracks, time), then a summary line. ``--export-boxes FILE`` / ``--boxes FILE``: every covered box per
  frame, written out for review and rendered back exactly as (possibly hand-edited) given.
"""

from __future__ import annotations

import logging
import os
import time

from livecam import anonymize, boxfile, media
from livecam.anonymize import FileRecord, Job, failure_message
from livecam.batch.audit import is_audit_log, write_audit
from livecam.batch.jobs import BatchOptions, Context, Executor, Unit, _Parts, units
from livecam.batch.resume import Identity
from livecam.engine import Anonymizer
from livecam.errors import LivecamError
from livecam.settings import Settings

__all__ = ["BatchOptions", "Identity", "check_files", "default_jobs", "run"]

log = logging.getLogger(__name__)

MAX_DEFAULT_JOBS = 8  # each worker holds its own model and frames (~0.5 GB)


def default_jobs() -> int:
    """What this machine can feed: a worker per core (each with one torch thread), at most ``MAX_DEFAULT_JOBS``.
    On the 2-core development machine two workers of one thread beat one of two threads by 1.11-1.28x
    (``scripts/bench_batch.py``): decoding, encoding and Python work run beside the detector."""
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_JOBS))


def run(jobs: list[Job], settings: Settings, opts: BatchOptions, engine: Anonymizer | None = None,
        identity: Identity | None = None) -> list[FileRecord]:
    """Run ``jobs`` (skipping those ``plan`` marked done: complete from an earlier run with the same
    settings and model); returns a record per input. Raises ``LivecamError`` naming the files that failed,
    after the rest are done and kept. ``identity``: ``Identity.of(settings)``, if already made."""
    ident = identity or Identity.of(settings)
    given = boxfile.read(opts.boxes, jobs) if opts.boxes else {}
    records, todo = _resumed(jobs)
    start = time.perf_counter()
    work_units, total_frames = _plan(jobs, todo, settings, opts)
    parts = _Parts()
    from tqdm import tqdm

    with tqdm(total=total_frames or None, unit="frame", desc=f"{len(todo)} files", delay=1.0,
              disable=not opts.progress or None, dynamic_ncols=True) as bar:
        def done(i: int, rec: FileRecord) -> None:
            records[i] = rec
            if rec.status == "done":
                if rec.parts > 1:  # joined here; a whole file was recorded by the worker that made it
                    ident.record(jobs[i])
                log.info("%s -> %s: %d frames", rec.input, rec.output, rec.frames)
            elif len(jobs) > 1:  # a single file's failure is the command's one error line
                log.warning("%s", rec.reason)
            bar.set_description(f"{sum(1 for r in records.values() if r.status != 'skipped')}/{len(todo)} files")

        def finished(u: Unit, rec: FileRecord) -> None:
            whole = parts.finished(jobs, u, rec)
            if whole is not None:
                done(u.index, whole)

        try:
            executor(opts, len(work_units))(work_units, Context(settings, opts, given, ident, bar.update, engine),
                                            finished)
        except BaseException:  # Ctrl+C, SIGTERM, a lost cluster: no temporary file or unjoined part stays
            for unit in work_units:
                for path in media.leftovers(unit.output):
                    path.unlink(missing_ok=True)
            if opts.audit is not None:  # the files finished before the stop get their lines all the same
                write_audit(opts.audit, [records[i] for i in sorted(records)], settings, ident.model,
                            ident.model_sha, time.perf_counter() - start, stopped=True)
            raise
    out = [records[i] for i in range(len(jobs))]
    elapsed = time.perf_counter() - start
    if opts.audit is not None:
        write_audit(opts.audit, out, settings, ident.model, ident.model_sha, elapsed)
    if opts.export_boxes is not None:
        boxfile.write(opts.export_boxes, out)
    _conclude(jobs, out, elapsed)
    return out


def _resumed(jobs: list[Job]) -> tuple[dict[int, FileRecord], list[int]]:
    """The records of the jobs ``plan`` found complete from an earlier run, and the indices of the others."""
    records: dict[int, FileRecord] = {}
    todo = []
    for i, job in enumerate(jobs):
        if job.done:
            records[i] = FileRecord(str(job.src), str(job.dst), job.kind, status="skipped",
                                    reason="complete from an earlier run with the same settings and model",
                                    input_bytes=job.src.stat().st_size, output_bytes=job.dst.stat().st_size)
        else:
            todo.append(i)
    if len(todo) < len(jobs):
        log.info("resuming: %d of %d outputs are complete from an earlier run; doing the other %d",
                 len(jobs) - len(todo), len(jobs), len(todo))
    return records, todo


def _plan(jobs: list[Job], todo: list[int], settings: Settings, opts: BatchOptions) -> tuple[list[Unit], int]:
    """The units of work for ``todo`` (long videos split for several workers, longest first) and the frames in all."""
    infos = {i: _probe(jobs[i]) for i in todo}
    sizes = {i: 1 if jobs[i].kind == "image" else (info.frames if info else 0) for i, info in infos.items()}
    several = opts.ray is not None or opts.jobs > 1
    work_units = units(jobs, todo, infos, settings, opts.chunk_s, split=several and opts.boxes is None)
    if several:  # longest first: the batch does not end with one worker busy on a long file and the rest idle
        work_units.sort(key=lambda u: -sizes[u.index] / u.parts)
    split = {u.index: u.parts for u in work_units if u.parts > 1}
    if split:
        log.info("splitting %d long video(s) into parts of %.0f s or more: %d parts", len(split), opts.chunk_s,
                 sum(split.values()))
    return work_units, sum(sizes.values())


def _conclude(jobs: list[Job], out: list[FileRecord], elapsed: float) -> None:
    """Nothing half-written stays of a failed file; the batch's line; one error naming the files that failed."""
    failed = [(job, rec.reason or "failed") for job, rec in zip(jobs, out) if rec.status == "failed"]
    for job, _ in failed:  # a worker killed mid-file leaves its temporary file behind: nothing half-written stays
        for path in media.leftovers(job.dst):
            path.unlink(missing_ok=True)
    frames = sum(r.frames for r in out)
    if len(jobs) > 1:
        log.info("batch: %d done, %d skipped (complete before), %d failed; %d frames in %.1f s (%.1f frames/s)",
                 sum(r.status == "done" for r in out), sum(r.status == "skipped" for r in out), len(failed), frames,
                 elapsed, frames / elapsed if elapsed > 0 else 0.0)
    if failed:
        raise LivecamError(failure_message(failed, len(jobs)))


def _probe(job: Job) -> media.VideoInfo | None:
    """A video's frames and duration, for the progress bar, the order and the split (None: a photo, or a bad
    file, which fails in its worker with its name)."""
    if job.kind == "image":
        return None
    try:
        return media.probe_video(job.src)
    except LivecamError:
        return None



def check_files(jobs: list[Job], opts: BatchOptions, overwrite: bool) -> None:
    """Before any work: ``--export-boxes`` and ``--audit`` follow the output rule (``check_side_file``)."""
    if opts.export_boxes is not None:
        anonymize.check_side_file(opts.export_boxes, "--export-boxes", jobs, overwrite)
    if opts.audit is not None:
        anonymize.check_side_file(opts.audit, "--audit", jobs, overwrite, ours=is_audit_log)


def executor(opts: BatchOptions, n_units: int) -> Executor:
    """Where the units run: on a Ray cluster (``--ray``), in a pool of worker processes (``--jobs N`` with more
    than one unit), or in this process."""
    if opts.ray is not None:
        from livecam.batch.onray import on_ray

        return on_ray
    from livecam.batch.local import in_process, process_pool

    return process_pool if min(opts.jobs, n_units) > 1 else in_process
