"""Executors on this machine: in this process (``--jobs 1``), and a pool of worker processes (``--jobs N``), each
with its own model and torch threads split between them; a pool broken by a dead worker is replaced."""

from __future__ import annotations

import logging
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from livecam.anonymize import FileRecord, Job
from livecam.batch.jobs import RETRIES, Context, Finished, Unit, work
from livecam.batch.resume import Identity
from livecam.engine import Anonymizer
from livecam.faces import Faces
from livecam.settings import from_mapping, to_mapping

log = logging.getLogger(__name__)


def in_process(units: list[Unit], ctx: Context, finished: Finished) -> None:
    """Every unit in this process, one after the other, with ``ctx.engine`` (made here when not given)."""
    engine = ctx.engine
    if engine is None:
        from livecam.engine import make_anonymizer, make_keep

        engine = make_anonymizer(ctx.settings, keep=make_keep(ctx.settings, ctx.opts.option))
    for u in units:
        finished(u, work(u.job, engine, ctx.keep_boxes, ctx.given.get(u.job.src), ctx.progress, ctx.identity))


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



def process_pool(work_units: list[Unit], ctx: Context, finished: Finished) -> None:
    """The units on ``--jobs`` processes (no more than there are units); a pool broken by a dead worker is
    replaced and the units that were in it are retried (``RETRIES`` times each), then reported by name."""
    import multiprocessing

    workers = max(1, min(ctx.opts.jobs, len(work_units)))
    spawn = multiprocessing.get_context("spawn")  # a fork of a process running torch's threads can hang
    progress = spawn.Queue()
    threads = max(1, (os.cpu_count() or 1) // workers)
    attempts = {u: 0 for u in range(len(work_units))}
    pending = list(attempts)
    while pending:
        with ProcessPoolExecutor(workers, mp_context=spawn, initializer=_init_worker,
                                 initargs=(to_mapping(ctx.settings), threads, progress, ctx.opts.option, ctx.identity,
                                           log.isEnabledFor(logging.DEBUG))) as pool:
            futures: dict[Future, int] = {}
            for u in pending:
                attempts[u] += 1
                job = work_units[u].job
                futures[pool.submit(_work, job, ctx.keep_boxes, ctx.given.get(job.src))] = u
            pending = []
            broken = False
            try:
                while futures:
                    done, _ = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
                    _drain(progress, ctx.progress)
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
    _drain(progress, ctx.progress)


def _drain(progress: Any, step: Any) -> None:
    n = 0
    try:
        while True:
            n += progress.get_nowait()
    except Exception:  # queue.Empty (or a closed queue at the end)
        pass
    if n:
        step(n)

