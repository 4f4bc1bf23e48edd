"""Shared fixtures. Real data comes from ../shared (never copied into the repository)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data"


def pytest_configure(config):
    if not DATA.is_dir():
        raise pytest.UsageError(f"the test data folder {DATA} is missing: tests read ../shared beside the project root")


@pytest.fixture(scope="session", autouse=True)
def _isolated_dirs(tmp_path_factory):
    """Keep tests away from the user's config and cache folders."""
    cache = tmp_path_factory.mktemp("cache")
    old = {k: os.environ.get(k) for k in ("LIVECAM_CACHE_DIR", "LIVECAM_CONFIG")}
    os.environ["LIVECAM_CACHE_DIR"] = str(cache)
    os.environ["LIVECAM_CONFIG"] = str(tmp_path_factory.mktemp("config") / "settings.toml")
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def detector():
    from livecam.detectors import load_detector

    return load_detector(device="cpu")


def load_boxes(name: str) -> dict[str, np.ndarray]:
    raw = json.loads((DATA / name / "boxes.json").read_text())
    return {k: np.asarray(v, np.float32).reshape(-1, 4) for k, v in raw.items()}


def box_coverage(obscured: np.ndarray, box) -> float:
    """Share of the pixels of ``box`` (xyxy) where ``obscured`` (bool HxW) is set."""
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    h, w = obscured.shape
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    if x2 <= x1 or y2 <= y1:
        return 0.0
    return float(obscured[y1:y2, x1:x2].mean())


MAGENTA_BGR = np.array([255, 0, 255], np.int16)


def is_magenta(img_bgr: np.ndarray, tol: int = 60) -> np.ndarray:
    """Pixels that are (JPEG-compressed) solid magenta: what ``--effect solid --color magenta`` paints."""
    return np.abs(img_bgr.astype(np.int16) - MAGENTA_BGR).max(axis=2) <= tol
