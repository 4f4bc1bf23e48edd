"""Tiling for the thorough pass: overlapping windows over an enlarged frame, and the union of passes.

A detector sees a face well only within a range of sizes at its input. Running it on windows of
the frame (enlarged where the whole-frame pass already ran at full size) finds faces down to
~10 px; ``merge`` then joins those passes with the whole-frame ones.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np
import torch

from livecam.detectors.torchrun import nms
from livecam.faces import Faces

TILE_UPSCALE = 1.5  # thorough pass on frames the fast pass already saw whole: tiles of the frame enlarged 1.5x
TILE_OVERLAP = 64  # px: every face up to this size lies whole inside some tile; bigger ones are the fast pass's


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


def whole_plus_tile(detect_whole: Callable[[np.ndarray], Faces], detect_crop: Callable[[np.ndarray], Faces],
                    frame_bgr: np.ndarray, scale: float, tile: tuple[int, int], k: int) -> Faces:
    """The whole-frame pass plus tile ``k`` (round robin) of the tiling: the live path's way to sweep
    the frame for small faces every few detections without one long stall."""
    h, w = frame_bgr.shape[:2]
    wins = tile_windows(w, h, scale, tile)
    return merge([detect_whole(frame_bgr), detect_in_window(detect_crop, frame_bgr, scale, wins[k % len(wins)])])


def merge(parts: list[Faces], iou: float = 0.4) -> Faces:
    """Union of several passes' faces, duplicates removed by NMS (highest score wins)."""
    faces = Faces.concat(parts)
    if len(faces) < 2:
        return faces
    keep = nms(torch.from_numpy(faces.xyxy.copy()), torch.from_numpy(faces.score.copy()), iou)
    return faces[np.sort(keep.numpy())]
