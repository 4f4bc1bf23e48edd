"""Shared fixtures. Real face data comes from ../shared/data beside the project folder, or from the
folder named by ``LIVECAM_TEST_DATA`` (never copied into the repository).

Without it, the tests marked ``needs_data`` are skipped, and one line at the end says how many and
how to provide the data; everything else (the bundled demo clip, generated input) still runs. Under
CI (``CI`` set) missing data is an error: nothing may be skipped there."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = Path(os.environ.get("LIVECAM_TEST_DATA") or SHARED / "data")
HAVE_DATA = DATA.is_dir()
MISSING = (f"real face data not found at {DATA}: set LIVECAM_TEST_DATA to a copy of the project's shared "
           "data folder (photos and clips with labelled faces) to run these")

needs_data = pytest.mark.skipif(not HAVE_DATA, reason=MISSING)
"""For tests that read the labelled photos and clips (or the peer models beside them)."""


def pytest_configure(config):
    if not HAVE_DATA and os.environ.get("CI"):
        raise pytest.UsageError(f"CI must run every test, but {MISSING}")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if MISSING in str(r.longrepr)]
    if skipped:
        terminalreporter.write_line(f"{len(skipped)} tests skipped: {MISSING}")


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
