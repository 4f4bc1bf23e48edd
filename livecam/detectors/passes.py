"""The detection passes, built once over any ``Detector`` (the model knows nothing about tiles).

A detector sees a face well only within a range of sizes at its input. The fast pass runs it on
the whole frame at one width. The thorough pass (files, photos) adds a half-size pass for large
faces and overlapping tiles of the frame (enlarged where the fast pass already saw it near full
size) for faces down to ~10 px, merged by NMS. The live path cannot afford that in one go: each
detection runs the fast pass plus one tile, round robin (``with_tile``). The same shape as
supervision's ``InferenceSlicer``: slicing wraps the model instead of living inside it.

A fixed-size model (``input_size``, e.g. YOLO exports) tiles with squares of its input size and has
no half-size pass (it sees every frame at its one size).
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from livecam.detectors import Detector
from livecam.faces import Faces

# torchrun (and so torch) is imported where it is used: the engine imports this module, and torch
# loads with the model, not with the engine (the tray and the CLI start without it).

TILE = (1024, 576)  # the largest input this CPU runs at full speed (see torchrun.AUTO_DETECT_WIDTH)
LIVE_TILE = (768, 432)  # live: one tile per detection; 4 cover 720p (6 for 1080p) at half the cost of TILE
TILE_UPSCALE = 1.5  # thorough pass on frames the fast pass already saw whole: tiles of the frame enlarged 1.5x
TILE_OVERLAP = 64  # px: every face up to this size lies whole inside some tile; bigger ones are the fast pass's
HALF_PASS_MIN_WIDTH = 320  # frames at least this wide get the half-size pass (large faces)


def fast(det: Detector, frame_bgr: np.ndarray, width: int | None, threshold: float) -> Faces:
    """The whole frame at ``width`` (``None``: its own, capped): what every detection runs."""
    return det.detect(frame_bgr, width, threshold)


def thorough(det: Detector, frame_bgr: np.ndarray, width: int | None, threshold: float) -> Faces:
    """Small and large faces: the fast pass, a half-size pass (free-size models) and tiles, merged
    with NMS. 3-6x the fast pass's time."""
    h, w = frame_bgr.shape[:2]
    parts = [det.detect(frame_bgr, width, threshold)]
    if det.input_size is None and w >= HALF_PASS_MIN_WIDTH:
        parts.append(det.detect(frame_bgr, max(160, w // 2), threshold))
    scale = tile_scale(det, w, h, width)
    crop = _crop_detector(det, threshold)
    parts += [detect_in_window(crop, frame_bgr, scale, win) for win in tile_windows(w, h, scale, _tile(det))]
    return merge(parts)


def with_tile(det: Detector, frame_bgr: np.ndarray, width: int | None, threshold: float, k: int) -> Faces:
    """Live: the fast pass plus tile ``k`` (round robin) of a tiling at full resolution (2x for frames
    narrower than a tile: small tiles, short cycles), to sweep the frame for small faces every few
    detections without one long stall. Fixed-size models use the thorough pass's tiling."""
    h, w = frame_bgr.shape[:2]
    if det.input_size is None:
        scale, tile = (1.0 if w >= LIVE_TILE[0] else 2.0), LIVE_TILE
    else:
        scale, tile = tile_scale(det, w, h, width), _tile(det)
    wins = tile_windows(w, h, scale, tile)
    crop = _crop_detector(det, threshold)
    whole = det.detect(frame_bgr, width, threshold)
    return merge([whole, detect_in_window(crop, frame_bgr, scale, wins[k % len(wins)])])


def tile_scale(det: Detector, w: int, h: int, width: int | None) -> float:
    """Tiles run at full resolution, or at 1.5x when the fast pass already saw the frame at more than
    two thirds of its size.

    1.5x rather than 2x: on the WIDER dev photos it covers as many easy/medium faces and all but
    1 point of the rest (86.4% vs 87.4% of all faces) in ~60% of the tile time (tiles cover 2.25x
    the frame's pixels instead of 4x)."""
    from livecam.detectors.torchrun import plan_input

    seen = w * det.input_size / max(w, h) if det.input_size else plan_input(w, h, width).width
    return 1.0 if w >= 1.5 * seen else TILE_UPSCALE


def _tile(det: Detector) -> tuple[int, int]:
    return (det.input_size, det.input_size) if det.input_size else TILE


def _crop_detector(det: Detector, threshold: float) -> Callable[[np.ndarray], Faces]:
    """A tile at its own size (no resize: the tiling already chose the scale)."""
    return lambda crop: det.detect(crop, crop.shape[1], threshold)


def _starts(length: int, size: int, overlap: int = TILE_OVERLAP) -> list[int]:
    if length <= size:
        return [0]
    n = int(np.ceil((length - overlap) / (size - overlap)))
    return [round(i * (length - size) / (n - 1)) for i in range(n)]


def tile_windows(w: int, h: int, scale: float, tile: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """Overlapping ``tile``-sized windows covering a ``w x h`` frame resized by ``scale``."""
    W, H = round(w * scale), round(h * scale)
    return [(x, y, min(W, x + tile[0]), min(H, y + tile[1]))
            for y in _starts(H, tile[1]) for x in _starts(W, tile[0])]


def detect_in_window(detect: Callable[[np.ndarray], Faces], frame_bgr: np.ndarray, scale: float,
                     win: tuple[int, int, int, int]) -> Faces:
    """``detect`` run on window ``win`` (x0, y0, x1, y1 in the frame scaled by ``scale``); boxes in frame pixels."""
    h, w = frame_bgr.shape[:2]
    x0, y0, x1, y1 = win
    ox, oy = float(x0), float(y0)  # the crop's corner, in enlarged pixels
    if scale == 1.0:
        crop = frame_bgr[y0:y1, x0:x1]
    else:  # resize only the window's source region
        sx0, sy0 = int(x0 / scale), int(y0 / scale)
        sx1, sy1 = min(w, int(np.ceil(x1 / scale))), min(h, int(np.ceil(y1 / scale)))
        crop = cv2.resize(frame_bgr[sy0:sy1, sx0:sx1], (round((sx1 - sx0) * scale), round((sy1 - sy0) * scale)),
                          interpolation=cv2.INTER_LINEAR)
        ox, oy = sx0 * scale, sy0 * scale
    f = detect(crop)
    if not len(f):
        return f
    return Faces((f.xyxy + np.array([ox, oy, ox, oy], np.float32)) / scale, f.score).clipped(w, h)


def merge(parts: list[Faces], iou: float = 0.4) -> Faces:
    """Union of several passes' faces, duplicates removed by NMS (highest score wins)."""
    import torch

    from livecam.detectors.torchrun import nms

    faces = Faces.concat(parts)
    if len(faces) < 2:
        return faces
    keep = nms(torch.from_numpy(faces.xyxy.copy()), torch.from_numpy(faces.score.copy()), iou)
    return faces[np.sort(keep.numpy())]
