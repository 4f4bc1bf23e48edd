"""Pure anonymization effects: ``(frame, faces, params) -> new frame``.

Every function here returns a new ``uint8 (H, W, 3)`` BGR array and leaves its input frame
untouched. Pixels outside every face's mask (box grown by ``margin``, plus the soft edge)
are copied bit for bit. Blur and pixel size scale with each face's size, so a face is
unrecognisable whether it is 20 px or 600 px tall.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import cv2
import numpy as np

from livecam.faces import Faces
from livecam.text import Texts


class Effect(enum.Enum):
    BLUR = "blur"
    PIXELATE = "pixelate"
    SOLID = "solid"


class Shape(enum.Enum):
    ELLIPSE = "ellipse"
    BOX = "box"


class Region(enum.Enum):
    FACE = "face"
    EYES = "eyes"  # the upper part of the face: brows, eyes and nose bridge


@dataclass(frozen=True)
class EffectParams:
    effect: Effect = Effect.BLUR
    strength: float = 1.0
    """1.0 = default (about 4 cells across a face); 2.0 = coarser; 0.5 = light (detail at 1/8 face size survives)."""
    shape: Shape = Shape.ELLIPSE
    margin: float = 0.2
    """Each side of a detected face box is pushed out by this share of the box size (covers hair, ears, chin)."""
    color: tuple[int, int, int] = (0, 0, 0)
    """BGR colour of ``Effect.SOLID``."""
    region: Region = Region.FACE
    feather: float = 0.08
    """Soft edge outside the mask, as a share of the face size; the mask itself stays fully covered."""

    def __post_init__(self) -> None:
        if not 0.5 <= self.strength <= 4:
            raise ValueError(f"strength must be between 0.5 and 4, got {self.strength}")
        if not 0 <= self.margin <= 2:
            raise ValueError(f"margin must be between 0 and 2, got {self.margin}")
        if not 0 <= self.feather <= 0.5:
            raise ValueError(f"feather must be between 0 and 0.5, got {self.feather}")
        if len(self.color) != 3 or not all(0 <= int(c) <= 255 for c in self.color):
            raise ValueError(f"color must be three values 0..255 (B, G, R), got {self.color}")


MIN_FEATHER_PX = 4.0
"""A soft edge narrower than this (faces under ~36 px, margin included) is left out: at that width it
is hardly seen, and the blend costs the output thread more than anything else in a crowd."""

# Across the face, blurred/pixelated faces keep about this many cells at strength 1.0.
_CELLS_ACROSS = 6.0


def mask_boxes(faces: Faces, params: EffectParams) -> np.ndarray:
    """The ``(N, 4) float32`` boxes that ``apply`` fully covers (before the soft edge)."""
    boxes = faces.expanded(params.margin).xyxy.copy()
    if params.region is Region.EYES and len(boxes):
        # from the top of the face box down to just below the eyes (~55% of the face height)
        top, h = faces.xyxy[:, 1], faces.height
        boxes[:, 1] = top - params.margin * h * 0.5
        boxes[:, 3] = top + 0.55 * h
    return boxes


def coverage_mask(shape: tuple[int, int], faces: Faces, params: EffectParams) -> np.ndarray:
    """``uint8 (H, W)`` mask, 255 where ``apply`` replaces pixels completely, 0 elsewhere."""
    mask = np.zeros(shape[:2], np.uint8)
    for x1, y1, x2, y2 in mask_boxes(faces, params):
        _draw(mask, (x1, y1, x2, y2), params.shape, 255)
    return mask


def _draw(mask: np.ndarray, box: tuple[float, float, float, float], shape: Shape, value: int) -> None:
    x1, y1, x2, y2 = box
    if shape is Shape.BOX:
        cv2.rectangle(mask, (int(np.floor(x1)), int(np.floor(y1))), (int(np.ceil(x2)) - 1, int(np.ceil(y2)) - 1),
                      value, -1)
    else:
        # fixed-point ellipse (shift=4) for sub-pixel accuracy; +0.5 px so the ellipse reaches the box
        sh = 16
        c = (int(round((x1 + x2) / 2 * sh)), int(round((y1 + y2) / 2 * sh)))
        ax = (int(round(((x2 - x1) / 2 + 0.5) * sh)), int(round(((y2 - y1) / 2 + 0.5) * sh)))
        cv2.ellipse(mask, c, ax, 0, 0, 360, value, -1, cv2.LINE_8, 4)


def _replacement(roi: np.ndarray, face_size: float, params: EffectParams) -> np.ndarray:
    """The obscured version of ``roi`` (BGR uint8)."""
    h, w = roi.shape[:2]
    if params.effect is Effect.SOLID:
        return np.full_like(roi, params.color)
    cell = max(2.0, face_size / _CELLS_ACROSS * params.strength)  # px per cell, scales with the face
    sw, sh = max(1, round(w / cell)), max(1, round(h / cell))
    small = cv2.resize(roi, (sw, sh), interpolation=cv2.INTER_AREA)
    if params.effect is Effect.PIXELATE:
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    # BLUR: area-downsample (removes detail), blur the tiny image, smooth linear upsample
    small = cv2.GaussianBlur(small, (0, 0), 1.4, borderType=cv2.BORDER_REPLICATE)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def apply(frame: np.ndarray, faces: Faces, params: EffectParams) -> np.ndarray:
    """Obscure every face of ``faces`` in a BGR ``uint8 (H, W, 3)`` frame; returns a new array."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
    out = frame.copy()
    fh, fw = frame.shape[:2]
    boxes = mask_boxes(faces, params)
    sizes = np.sqrt(np.clip(faces.width * faces.height, 1, None)) * (1 + 2 * params.margin)
    # Each face's replacement is computed from the original pixels and written only inside its
    # own (soft-edged) mask, so overlapping faces are all fully covered whatever the order.
    hidden = _inside_another(boxes, sizes, params)
    for (x1, y1, x2, y2), size in zip(boxes[~hidden], sizes[~hidden]):
        pad = params.feather * size
        rx1, ry1 = max(0, int(np.floor(x1 - pad))), max(0, int(np.floor(y1 - pad)))
        rx2, ry2 = min(fw, int(np.ceil(x2 + pad)) + 1), min(fh, int(np.ceil(y2 + pad)) + 1)
        if rx2 <= rx1 or ry2 <= ry1:
            continue
        roi = out[ry1:ry2, rx1:rx2]
        repl = _replacement(frame[ry1:ry2, rx1:rx2], size, params)
        hard = np.zeros(roi.shape[:2], np.uint8)
        _draw(hard, (x1 - rx1, y1 - ry1, x2 - rx1, y2 - ry1), params.shape, 255)
        if pad < MIN_FEATHER_PX:  # a small face: its mask copied as it is (a third of the cost of a blend)
            cv2.copyTo(repl, hard, roi)
            continue
        soft: np.ndarray = np.zeros_like(hard)
        _draw(soft, (x1 - rx1 - pad / 2, y1 - ry1 - pad / 2, x2 - rx1 + pad / 2, y2 - ry1 + pad / 2), params.shape, 255)
        k = int(pad) | 1
        soft = cv2.blur(soft, (k, k))  # box filter: a linear ramp, same cost for any face size
        alpha = np.maximum(hard, soft)
        # alpha 255 -> the replacement exactly, 0 -> the original exactly; OpenCV's SIMD blend is
        # 3-4x faster than the same arithmetic in numpy (the output thread's largest cost at 1080p)
        w = alpha.astype(np.float32) * (1 / 255)
        roi[:] = cv2.blendLinear(repl, roi, w, 1 - w)
    return out


TEXT_PAD = 0.25
"""Each side of a detected text box is pushed out by this share of its height: the detector's box is tight round
the letters (#39 counted a plate covered when 70% of it was under boxes padded so)."""
PLATE_PAD = 0.5
"""Plates, above and below: the plate's registration line is about half its height; the frame, the region's name
and a sticker above or below it are the rest (#39's labelled plate boxes: the line alone hid 62-66% of some)."""
_TEXT_CELL = 0.5  # blur / pixel cell at strength 1.0, as a share of the text's height: no letter survives


def text_boxes(texts: Texts) -> np.ndarray:
    """The ``(N, 4) float32`` boxes that ``apply_texts`` fully covers."""
    return texts.covered_boxes(TEXT_PAD, PLATE_PAD)


def apply_texts(frame: np.ndarray, texts: Texts, params: EffectParams) -> np.ndarray:
    """Obscure every text region of ``texts`` in a BGR ``uint8 (H, W, 3)`` frame with the faces' effect, as
    rectangles (a plate or a sign is one); returns a new array (the input itself when there is no text)."""
    if not len(texts):
        return frame
    out = frame.copy()
    fh, fw = frame.shape[:2]
    for (x1, y1, x2, y2), h in zip(text_boxes(texts), texts.height):
        rx1, ry1 = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
        rx2, ry2 = min(fw, int(np.ceil(x2))), min(fh, int(np.ceil(y2)))
        if rx2 > rx1 and ry2 > ry1:
            size = max(float(h), 2.0) * _TEXT_CELL * _CELLS_ACROSS
            out[ry1:ry2, rx1:rx2] = _replacement(frame[ry1:ry2, rx1:rx2], size, params)
    return out


def _inside_another(boxes: np.ndarray, sizes: np.ndarray, params: EffectParams) -> np.ndarray:
    """Faces whose whole painted area (mask and soft edge) lies inside the fully covered mask of a face at
    least as large: that face's replacement (as coarse or coarser) covers them already, so they are
    not painted again. ``(N,) bool``."""
    n = len(boxes)
    if n < 2:
        return np.zeros(n, bool)
    b = boxes.astype(np.float64)
    pad = (params.feather * sizes.astype(np.float64))[:, None]
    outer = np.hstack([b[:, :2] - pad, b[:, 2:] + pad])  # (N, 4) what painting face j touches
    if params.shape is Shape.BOX:
        inside = (outer[None, :, :2] >= b[:, None, :2] + 1).all(2) & (outer[None, :, 2:] <= b[:, None, 2:] - 1).all(2)
    else:  # the four corners of j's area in i's ellipse (1 px inside its edge)
        c = (b[:, :2] + b[:, 2:]) / 2
        ax = np.maximum((b[:, 2:] - b[:, :2]) / 2 - 1, 1e-6)
        inside = np.ones((n, n), bool)
        for cx, cy in ((0, 1), (2, 1), (0, 3), (2, 3)):
            d = (outer[None, :, [cx, cy]] - c[:, None]) / ax[:, None]
            inside &= (d * d).sum(2) <= 1
    bigger = (sizes[:, None] > sizes[None, :]) | ((sizes[:, None] == sizes[None, :]) & np.tri(n, k=-1, dtype=bool).T)
    return (inside & bigger).any(0)


def obscure_all(frame: np.ndarray, notice: str | None = None) -> np.ndarray:
    """The fail-closed frame: the whole picture made unrecognisable, with an optional notice.

    Returns a new ``uint8 (H, W, 3)`` BGR array; nothing of the input survives but coarse colour.
    """
    h, w = frame.shape[:2]
    small = cv2.resize(frame, (max(1, w // 64), max(1, h // 64)), interpolation=cv2.INTER_AREA)
    out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    out = (out.astype(np.uint16) // 2).astype(np.uint8)  # darker, so the notice reads
    if notice:
        draw_notice(out, notice)
    return out


def draw_notice(frame: np.ndarray, text: str) -> None:
    """Write a one-line ``text`` banner at the bottom of ``frame`` (in place)."""
    h, w = frame.shape[:2]
    scale = max(0.4, min(1.2, w / 1400))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    y = h - 12
    cv2.rectangle(frame, (6, y - th - 8), (min(w - 1, 18 + tw), min(h - 1, y + base + 2)), (0, 0, 0), -1)
    cv2.putText(frame, text, (12, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
