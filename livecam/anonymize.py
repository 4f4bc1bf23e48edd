"""``livecam anonymize``: photos, videos and folders of them, mirrored into an output."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

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


def plan(inputs: Iterable[Path], output: Path) -> list[Job]:
    """Turn inputs and ``-o`` into jobs, checking everything that can be checked before work starts."""
    inputs = [Path(p) for p in inputs]
    if not inputs:
        raise LivecamError("no input given: name a photo, video or folder")
    for p in inputs:
        if not p.exists():
            raise LivecamError(f"input not found: {p}")
        if not os.access(p, os.R_OK):
            raise LivecamError(f"cannot read {p}: permission denied")
    single_file = len(inputs) == 1 and inputs[0].is_file() and not (output.is_dir() or str(output).endswith(os.sep))
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
    """Create each output folder and write a probe file in it (a real test: access() lies to root)."""
    import tempfile

    for folder in sorted(folders):
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise LivecamError(f"cannot create output folder {folder}: {existing} is a file; choose another output with -o")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as e:
            raise LivecamError(f"cannot write to output folder {folder}: {e.strerror or e}; "
                               "choose another output with -o") from None


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
                counted = [0]

                def process(frame, t):
                    out, faces = engine(frame, t)
                    counted[0] += len(faces)
                    return out

                with tqdm(total=info.frames or None, unit="frame", desc=job.src.name, delay=1.0, leave=False,
                          disable=not progress or None) as bar:
                    n = media.transcode_video(job.src, job.dst, process, bar.update)
                total += counted[0]
                log.info("%s -> %s: %d frames", job.src, job.dst, n)
        except LivecamError as e:
            done = f" ({i - 1} of {len(jobs)} files were done and kept)" if len(jobs) > 1 else ""
            what = str(e) if str(e).startswith(str(job.src)) else f"{job.src}: {e}"
            raise LivecamError(f"{what}{done}") from None
    return total
