"""``livecam anonymize``: photos, videos and folders of them, mirrored into an output."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from livecam import media
from livecam.engine import Anonymizer
from livecam.errors import LivecamError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    src: Path
    dst: Path
    kind: str  # "image" | "video"


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def plan(inputs: Iterable[Path], output: Path | str, overwrite: bool = False) -> list[Job]:
    """Turn inputs and ``-o`` into jobs, checking everything that can be checked before work starts.
    ``output`` ending in a slash is a folder, whether or not it exists yet. Outputs that exist
    already are refused unless ``overwrite``."""
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
    existing = [j.dst for j in jobs if j.dst.exists() or j.dst.is_symlink()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more of the {len(jobs)} outputs)" if len(existing) > 1 else ""
        raise LivecamError(f"output {existing[0]} already exists{more}: livecam never replaces files unless told; "
                           "add --overwrite, or choose another output with -o")
    for path in existing:
        if path.is_dir():
            raise LivecamError(f"output {path} is a folder; choose another output with -o")
    _check_writable({j.dst.parent for j in jobs})
    return jobs


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
    """The engine as ``transcode_video``'s frame filter, counting the face boxes it covers."""

    def __init__(self, engine: Anonymizer):
        self.engine = engine
        self.faces = 0

    def _count(self, done: list) -> list:
        self.faces += sum(len(faces) for _, faces in done)
        return [out for out, _ in done]

    def push(self, frame: np.ndarray, t: float) -> list:
        return self._count(self.engine.push(frame, t))

    def flush(self) -> list:
        return self._count(self.engine.flush())


def run(jobs: list[Job], make_engine: Callable[[], Anonymizer], progress: bool = True) -> int:
    """Process the jobs in order; returns the number of faces covered. Stops at the first failure,
    keeping the files already written, with an error naming the file that failed."""
    from tqdm import tqdm

    engine = make_engine()
    total = 0
    for i, job in enumerate(jobs, 1):
        try:
            if job.kind == "image":
                out, faces = engine.photo(media.read_image(job.src))
                media.write_image(job.dst, out)
                total += len(faces)
                log.info("%s -> %s: %d faces", job.src, job.dst, len(faces))
            else:
                info = media.probe_video(job.src)
                engine.reset()
                counted = _Counted(engine)
                with tqdm(total=info.frames or None, unit="frame", desc=job.src.name, delay=1.0, leave=False,
                          disable=not progress or None) as bar:
                    n = media.transcode_video(job.src, job.dst, counted, bar.update)
                total += counted.faces
                log.info("%s -> %s: %d frames", job.src, job.dst, n)
        except LivecamError as e:
            done = f" ({i - 1} of {len(jobs)} files were done and kept)" if len(jobs) > 1 else ""
            what = str(e) if str(e).startswith(str(job.src)) else f"{job.src}: {e}"
            raise LivecamError(f"{what}{done}") from None
    return total
