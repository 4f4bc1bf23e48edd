"""``--audit FILE``: one JSON line per input (what was done, with which model and settings, faces per frame,
tracks, time), then a summary line; appended, and only to a file that is one of livecam's audit logs."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from livecam import __version__
from livecam.anonymize import FileRecord
from livecam.settings import Settings, to_mapping


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

