"""``livecam anonymize ... --ray ADDRESS``: the batch's files as tasks on a Ray cluster.

An optional extra (``pip install -e ".[ray]"``). Ray Data's batch-inference shape: an actor per worker
slot loads the model once (``__init__``) and is sent one file (or one part of a long video) at a time; on a
cluster with GPUs an actor asks for a quarter of one (the detector is small: four share a GPU), otherwise for
2 CPUs (or as many as the largest node has). An actor whose
process dies is restarted by Ray and its file retried (``RETRIES``), then reported by name. Inputs
and outputs must be on a path every node sees (a shared file system): paths are sent as absolute paths.
The head collects the records, writes the resume manifest, the audit log and the boxes, as ``--jobs`` does.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from livecam.anonymize import FileRecord, Job
from livecam.batch.jobs import RETRIES, Context, Finished, Unit, work
from livecam.batch.resume import Identity
from livecam.errors import LivecamError
from livecam.faces import Faces

log = logging.getLogger(__name__)

GPU_SHARE = 0.25
CPUS_PER_ACTOR = 2


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise LivecamError('--ray needs Ray: pip install -e ".[ray]" (or leave out --ray to use this machine '
                           "with --jobs)") from None
    return ray


def connect(address: str) -> Any:
    """Join the cluster at ``address`` (``auto``: the one ``ray start`` made on this machine; ``local``: a
    private one for this batch)."""
    ray = _ray()
    if ray.is_initialized():
        return ray
    try:
        if address == "local":
            ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        else:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise LivecamError(f"--ray {address}: cannot reach a Ray cluster there ({str(e).splitlines()[0]}); start one "
                           "with `ray start --head`, or use --ray local") from None
    return ray


class _Anonymizer:
    """A Ray actor: one model, files sent one at a time."""

    def __init__(self, settings_data: dict[str, Any], option: str, threads: int, identity: Identity):
        import torch

        from livecam.engine import make_anonymizer, make_keep
        from livecam.settings import from_mapping

        torch.set_num_threads(threads)
        settings = from_mapping(settings_data)
        self.engine = make_anonymizer(settings, keep=make_keep(settings, option))
        self.identity = identity

    def run(self, job: Job, keep_boxes: bool, given: list[Faces] | None) -> FileRecord:
        return work(job, self.engine, keep_boxes, given, identity=self.identity)


def on_ray(work_units: list[Unit], ctx: Context, finished: Finished) -> None:
    """The executor: the units as tasks on the cluster at ``--ray`` (actors loaded once, files sent one at a time)."""
    from livecam.settings import to_mapping

    opts, identity = ctx.opts, ctx.identity
    assert opts.ray is not None
    ray = connect(opts.ray)
    nodes = [x.get("Resources", {}) for x in ray.nodes() if x.get("Alive")]
    gpus = sum(float(r.get("GPU", 0)) for r in nodes)
    if gpus:
        slots = int(gpus / GPU_SHARE)
        cpus_each = 1
        options: dict[str, Any] = {"num_gpus": GPU_SHARE, "num_cpus": 1}
    else:  # CPUS_PER_ACTOR each, or what the largest node has (an actor asking for more is never placed)
        cpus_each = max(1, min(CPUS_PER_ACTOR, int(max(float(r.get("CPU", 1)) for r in nodes or [{}]))))
        slots = max(1, sum(int(float(r.get("CPU", 1)) // cpus_each) for r in nodes))
        options = {"num_cpus": cpus_each}
    n = max(1, min(slots, len(work_units), opts.jobs if opts.jobs > 1 else slots))
    actor_cls = ray.remote(_Anonymizer).options(max_restarts=RETRIES, max_task_retries=RETRIES, **options)
    threads = cpus_each
    actors = [actor_cls.remote(to_mapping(ctx.settings), opts.option, threads, identity) for _ in range(n)]
    log.info("Ray: %d workers (%s each) on %d node(s)", n, "a quarter GPU" if gpus else
             f"{cpus_each} CPU{'s' if cpus_each > 1 else ''}", len(nodes))
    keep_boxes = ctx.keep_boxes
    queue = list(work_units)
    running: dict[Any, tuple[Unit, Any]] = {}

    def submit(actor: Any) -> None:
        if queue:
            unit = queue.pop(0)
            j = unit.job
            job = replace(j, src=j.src.resolve(), dst=j.dst.resolve())  # every node sees the same paths
            running[actor.run.remote(job, keep_boxes, ctx.given.get(j.src))] = (unit, actor)

    try:
        for a in actors:
            submit(a)
        while running:
            ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
            for ref in ready:
                unit, actor = running.pop(ref)
                j = unit.job
                try:
                    rec = ray.get(ref)
                    rec.input, rec.output = str(j.src), str(j.dst)
                except ray.exceptions.RayError as e:
                    rec = FileRecord(str(j.src), str(j.dst), j.kind, status="failed",
                                     reason=f"{j.src}: the Ray worker failed {RETRIES + 1} times "
                                            f"({type(e).__name__}); not written")
                    actor = actor_cls.remote(to_mapping(ctx.settings), opts.option, threads, identity)
                finished(unit, rec)
                ctx.progress(rec.frames)
                submit(actor)
    finally:
        for a in actors:
            ray.kill(a)
