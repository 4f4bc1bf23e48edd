"""The shared test data: labels, crowd photos, what a picture shows."""

from __future__ import annotations

import json

import numpy as np

from livecam.media import read_image

from tests.conftest import DATA


def ytf_tracks() -> dict[str, list[dict]]:
    return json.loads((DATA / "ytf-clips-dev" / "tracks.json").read_text())


CROWD = "images/0_Parade_marchingband_1_593.jpg"  # WIDER dev: a marching band, 39 valid faces, all under 16 px


def wider_crowd() -> tuple[np.ndarray, list]:
    """The crowd photo and its valid labelled face boxes (WIDER 'invalid' and 'none' dropped)."""

    from livecam.harness.evaluate import load_photo_labels

    boxes, attrs = load_photo_labels(DATA / "wider-val-dev")
    valid = [b for b, a in zip(boxes[CROWD], attrs[CROWD]) if not a.get("invalid") and a.get("difficulty") != "none"]
    return read_image(DATA / "wider-val-dev" / CROWD), valid


def faces_covered(img: np.ndarray, faces, boxes) -> int:
    """How many of ``boxes`` the default effect covers (>= 70% of the box) when it hides ``faces``."""
    from livecam import effects
    from livecam.harness.evaluate import is_covered

    mask = effects.coverage_mask(img.shape, faces, effects.EffectParams()) > 0
    return sum(is_covered(mask, b) for b in boxes)


def smooth_at(img: np.ndarray, box) -> bool:
    """Nothing of a face's detail is left in ``box`` (xyxy): the picture there is a smooth blur of colour
    (the privacy screen, a fail-closed frame). A real face measures 7-9 here, this is < 1.5."""
    import cv2

    x1, y1, x2, y2 = (int(v) for v in box)
    crop = cv2.cvtColor(img[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY).astype(float)
    return float(np.abs(crop - cv2.GaussianBlur(crop, (0, 0), 1.5)).mean()) < 1.5
