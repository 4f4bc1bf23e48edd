"""The review round trip's file (``--export-boxes FILE`` / ``--boxes FILE``): every covered box of every frame.

A boxes file names each input by its content, not its name: the sha256 and size of the input file and the
number of frames it has. ``--boxes`` renders an input only when the file holds an entry made from exactly
that input, and only when that entry lists exactly one box list per frame: a frame the reviewer left empty
is an empty list (``[]``), a frame the file lacks is an error, never a frame left bare.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from livecam.errors import LivecamError
from livecam.faces import Faces

FORMAT = "livecam-boxes/2"
OLD_FORMATS = ("livecam-boxes/1",)  # before inputs were named by content
HELP = "format: README 'Review before release'"


class _Job(Protocol):
    @property
    def src(self) -> Path: ...

    @property
    def kind(self) -> str: ...


class _Record(Protocol):
    input: str
    output: str
    status: str
    frames: int
    boxes: list[list[list[float]]] | None


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def identity(path: Path) -> dict[str, Any]:
    """What names an input in a boxes file: its size and the sha256 of its bytes."""
    return {"sha256": file_sha256(path), "bytes": path.stat().st_size}


def write(path: Path, records: Sequence[_Record]) -> None:
    """The boxes of every input that was done (or skipped: complete before) into ``path``, atomically."""
    files = []
    for r in records:
        if r.status != "done":  # a skipped file's boxes were not computed in this run; a failed one has none
            continue
        frames = r.boxes or []
        video: dict[str, Any] = {**identity(Path(r.input)), "frames": len(frames)}
        files.append({"input": r.input, "output": r.output, "video": video, "frames": frames})
    data = {"format": FORMAT, "box": "[x1, y1, x2, y2, score, track id] in the input's pixels",
            "frames": "one list per frame of the input, in order; [] is a frame with nothing to cover",
            "files": files}
    tmp = path.with_name(f".{path.name}.livecam-tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")))
    os.replace(tmp, path)


def read(path: Path, jobs: Sequence[_Job]) -> dict[Path, list[Faces]]:
    """The boxes for each job's input: the file's entry whose sha256 and size are the input's. Raises
    ``LivecamError`` (one line) for a file that is not a boxes file, names no entry for an input, or whose
    entry lists another number of frames than it says it has."""
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError("not a boxes file")
        fmt = data.get("format")
        if fmt in OLD_FORMATS:
            raise LivecamError(f"--boxes {path} was exported by an older livecam that named videos by file name, "
                               "not by their content; export the boxes again with --export-boxes")
        if fmt != FORMAT:
            raise ValueError(f"format is {fmt!r}, expected {FORMAT!r}")
        by_content = {(f["video"]["sha256"], f["video"]["bytes"]): f for f in data["files"]}
        out: dict[Path, list[Faces]] = {}
        for job in jobs:
            ident = identity(job.src)
            f = by_content.get((ident["sha256"], ident["bytes"]))
            if f is None:
                raise LivecamError(f"--boxes {path} lists no boxes for {job.src}: none of its entries was made "
                                   "from this file's content (another video, or this one changed since); export "
                                   "them for this file with --export-boxes")
            frames = [_faces(rows, job.src.name, i) for i, rows in enumerate(f["frames"])]
            declared = int(f["video"]["frames"])
            if len(frames) != declared or (job.kind == "image" and declared != 1):
                raise LivecamError(f"--boxes {path}: {job.src.name} has {len(frames)} frame lists where "
                                   f"{1 if job.kind == 'image' else declared} are needed (a frame the file lacks "
                                   "would be left bare; a frame with nothing to cover is an empty list [])")
            out[job.src] = frames
        return out
    except LivecamError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise LivecamError(f"--boxes {path}: {e} ({HELP})") from None


def _faces(rows: Any, name: str, i: int) -> Faces:
    a = np.asarray(rows, np.float32).reshape(-1, 6) if rows else np.zeros((0, 6), np.float32)
    if not np.all(a[:, 2] > a[:, 0]) or not np.all(a[:, 3] > a[:, 1]):
        raise ValueError(f"{name} frame {i}: a box with x2 <= x1 or y2 <= y1")
    return Faces(a[:, :4], np.clip(a[:, 4], 0, 1), a[:, 5].astype(np.int64))
