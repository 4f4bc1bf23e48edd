"""The plate rule: a detected text region is a licence plate when the recogniser reads a plate-like string in a
plate-like box. The numbers are chosen by measurement (``livecam eval DATA --plates``; docs/accuracy.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from livecam.text import Texts
from livecam.text.ppocr import Recogniser, TextDetector


@dataclass(frozen=True)
class PlateRule:
    min_chars: int = 4
    max_chars: int = 9
    min_digits: int = 1
    min_aspect: float = 1.2
    """Width / height of the detected box: one plate line is wide; a square region is a crest or a face."""
    max_aspect: float = 12.0
    max_read: int = 24
    """At most this many regions a frame are read (largest first): the recogniser costs ~20 ms a region; the
    rest are kept as plates (covered: an unread region fails closed)."""

    def reads_as_plate(self, text: str) -> bool:
        """4-9 Latin letters and digits, at least one digit, once the separators and marks a plate has (or the
        recogniser adds: dashes, dots, quotes, asterisks) are taken out; at most three other characters
        (a region read mostly in another script is not a plate here). Digits with separators and no letter are a
        date, a time or a phone number (a camera's date stamp was 2 in 3 of the other text read as plates)."""
        shown = re.sub(r"\s", "", text)
        chars = re.sub(r"[^A-Za-z0-9]", "", shown)
        if not re.search(r"[A-Za-z]", shown) and re.search(r"[-:/.：]", shown):
            return False
        return (self.min_chars <= len(chars) <= self.max_chars and len(shown) - len(chars) <= 3
                and all(ord(c) < 0x2000 or c in "：·" for c in shown)
                and sum(c.isdigit() for c in chars) >= self.min_digits)

    def shaped(self, texts: Texts) -> np.ndarray:
        """``(N,) bool``: boxes whose width / height is a plate line's."""
        w, h = texts.xyxy[:, 2] - texts.xyxy[:, 0], np.maximum(texts.height, 1e-3)
        return (w / h >= self.min_aspect) & (w / h <= self.max_aspect)


class PlateFinder:
    """Every text region, ``plate`` set on those read as plates (``TextFinder``): the detector's regions of plate
    shape, each read by the recogniser and judged by ``PlateRule``."""

    def __init__(self, detector: TextDetector, rule: PlateRule | None = None, threads: int = 1):
        self.detector = detector
        self.rule = rule or PlateRule()
        self.recogniser = Recogniser(threads)

    def __call__(self, frame_bgr: np.ndarray) -> Texts:
        return self.judged(frame_bgr, self.detector(frame_bgr))

    def judged(self, frame_bgr: np.ndarray, texts: Texts) -> Texts:
        """``texts`` with ``plate`` set by the rule (every region kept)."""
        plate = self.rule.shaped(texts)
        order = np.argsort(-(texts.xyxy[:, 2] - texts.xyxy[:, 0]) * texts.height)
        read = [i for i in order if plate[i]][: self.rule.max_read]
        for i in read:
            text, _ = self.recogniser(frame_bgr, texts.xyxy[i])
            plate[i] = self.rule.reads_as_plate(text)
        return Texts(texts.xyxy, texts.score, plate)
