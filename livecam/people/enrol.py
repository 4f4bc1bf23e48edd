"""Enrolment: the views of a person taken from photos and videos (``livecam people add``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from livecam.faces import Faces
from livecam.people.describe import Describer
from livecam.people.store import DIM, PeopleError

log = logging.getLogger(__name__)


ENROL_EVERY_S = 0.25  # a video gives one view this often ...
ENROL_VIEWS = 16      # ... up to this many (spread over the whole video)


def dominant(faces: Faces) -> int | None:
    """The index of the one face of a video frame that is the person's: the only face, or one at least
    ``DOMINANT`` times as tall as every other (people far behind); None when there is no such face."""
    if len(faces) == 1:
        return 0
    if not len(faces):
        return None
    order = np.argsort(-faces.height)
    return int(order[0]) if faces.height[order[0]] >= DOMINANT * faces.height[order[1]] else None


DOMINANT = 1.5


def views_from_frames(frames: Iterable[tuple[np.ndarray, float]], detect: Callable[[np.ndarray], Faces],
                      describer: Describer) -> list[np.ndarray]:
    """Descriptors of the person a video shows, one every ``ENROL_EVERY_S`` (frames where one face
    dominates: ``dominant``), spread over the video, at most ``ENROL_VIEWS``."""
    found: list[np.ndarray] = []
    next_t = -1e9
    for frame, t in frames:
        if t < next_t:
            continue
        next_t = t + ENROL_EVERY_S
        faces = detect(frame)
        if (i := dominant(faces)) is not None:
            found.append(describer.describe(frame, faces.xyxy[i]))
    if not found:
        return []
    pick = np.linspace(0, len(found) - 1, min(ENROL_VIEWS, len(found))).round().astype(int)
    return [found[i] for i in sorted(set(pick.tolist()))]


def numbered(faces: Faces) -> Faces:
    """``faces`` in the order ``--face N`` numbers them: left to right (N = 1, 2, ...)."""
    return faces[np.argsort(faces.xyxy[:, 0], kind="stable")]


def photo_face(path: Path, faces: Faces, face: int | None) -> int:
    """Which of a photo's ``faces`` (``numbered``) is the person's: ``face`` (1-based) when given, else the
    only one, or one that dominates (``dominant``: at least 1.5x as tall as every other). Else an error
    saying how to choose (``--face N``, ``--faces-preview FILE``)."""
    if not len(faces):
        raise PeopleError(f"{path}: no face found; enrol from photos where this person's face is clearly visible")
    if face is not None:
        if not 1 <= face <= len(faces):
            raise PeopleError(f"--face {face}: {path} has {len(faces)} face(s), numbered 1 to {len(faces)} from "
                              "the left")
        return face - 1
    i = dominant(faces)
    if i is None:
        raise PeopleError(f"{path}: {len(faces)} faces of about the same size found; choose one with --face N "
                          "(numbered from the left; --faces-preview FILE writes the photo with the numbers on it)")
    if len(faces) > 1:
        log.info("%s: %d faces; enrolling the largest (face %d from the left; choose another with --face N)", path,
                 len(faces), i + 1)
    return i


def faces_preview(img_bgr: np.ndarray, faces: Faces) -> np.ndarray:
    """A copy of the photo with each face boxed and numbered as ``--face N`` counts them (BGR uint8)."""
    import cv2

    out = img_bgr.copy()
    for n, (x1, y1, x2, y2) in enumerate(numbered(faces).xyxy.astype(int), start=1):
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 255, 255), 2)
        cv2.putText(out, str(n), (x1, max(14, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 255, 255), 2,
                    cv2.LINE_AA)
    return out


def enrol_views(paths: Sequence[Path], detect: Callable[[np.ndarray], Faces], describer: Describer,
                face: int | None = None) -> np.ndarray:
    """``(K, 128)`` descriptors of the one person in ``paths``: in a photo, the face ``photo_face`` picks
    (``face``: its number from the left); a video gives views from frames where one face dominates
    (``views_from_frames``; at least one)."""
    from livecam import media

    views: list[np.ndarray] = []
    for path in paths:
        if media.kind_of(path) == "image":
            img = media.read_image(path)
            faces = numbered(detect(img))
            views.append(describer.describe(img, faces.xyxy[photo_face(path, faces, face)]))
            continue
        found = views_from_frames(media.iter_video(path), detect, describer)
        if not found:
            raise PeopleError(f"{path}: no frame where one face stands out; enrol from a video of this person alone")
        views += found
    return np.asarray(views, np.float32).reshape(-1, DIM)
