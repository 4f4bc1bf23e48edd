"""``livecam people add|list|remove``: the command, which prints what it did (the library in ``people`` never
prints). Errors are ``PeopleError``, one line each."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from livecam.faces import Faces
from livecam.people.describe import Describer
from livecam.people.enrol import enrol_views, faces_preview
from livecam.people.store import PeopleError, check_name, load_people, people_path, save_people


def run_cli(command: str, name: str | None, inputs: Sequence[Path], settings: Callable[[], Any],
            face: int | None = None, preview: Path | None = None) -> int:
    """``livecam people add|list|remove``: prints what it did; errors are ``PeopleError``. ``face``: which face
    of a photo (``--face N``); ``preview``: write the photo with its faces numbered there, enrol nobody."""
    path = people_path()
    people = load_people(path)
    if command == "list":
        if not people.views:
            print(f"nobody is enrolled ({path} does not list anyone): livecam people add NAME PHOTO_OR_VIDEO...")
        for n in people.names:
            print(f"{n}: {len(people.views[n])} views")
        return 0
    assert name is not None
    name = check_name(name)
    if command == "remove":
        if name not in people.views:
            raise PeopleError(f"{name!r} is not enrolled (enrolled: {', '.join(people.names) or 'nobody'})")
        save_people(people.without(name), path)
        print(f"removed {name} from {path}")
        return 0
    from livecam.engine import make_anonymizer

    for p in inputs:
        if not p.is_file():
            raise PeopleError(f"{p}: no such file; give photos or videos of {name} alone")
    engine = make_anonymizer(settings().replace(keep=[]))
    if preview is not None:
        return _write_preview(inputs, engine.detect_photo, preview)
    views = enrol_views(inputs, engine.detect_photo, Describer(), face)
    before = name in people.views
    people = people.adding(name, views)
    save_people(people, path)
    print(f"{'added views of' if before else 'enrolled'} {name}: {len(people.views[name])} views in {path} "
          "(descriptors only, readable by you alone)")
    return 0


def _write_preview(inputs: Sequence[Path], detect: Callable[[np.ndarray], Faces], preview: Path) -> int:
    from livecam import media

    if len(inputs) != 1 or media.kind_of(inputs[0]) != "image":
        raise PeopleError("--faces-preview: give exactly one photo")
    if preview.exists():
        raise PeopleError(f"--faces-preview {preview} already exists; livecam never replaces files; choose another name")
    if preview.suffix.lower() not in media.IMAGE_EXTS:
        raise PeopleError(f"--faces-preview {preview}: name a photo file, e.g. faces.png")
    img = media.read_image(inputs[0])
    faces = detect(img)
    media.check_writable_folder(preview.parent, "--faces-preview")
    media.write_image(preview, faces_preview(img, faces))
    print(f"{preview}: {inputs[0]} with its {len(faces)} face(s) numbered from the left; enrol one with "
          f"--face N (nobody was enrolled)")
    return 0
