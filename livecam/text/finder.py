"""Builds the ``TextFinder`` a ``--cover`` asks for."""

from __future__ import annotations

from typing import Sequence

from livecam.text import Cover, TextFinder, covers_text
from livecam.text.plates import PlateFinder
from livecam.text.ppocr import DEFAULT_WIDTH, TextDetector


def load_text_finder(cover: Sequence[Cover], width: int | None = None, threads: int = 1) -> TextFinder | None:
    """The finder for ``cover`` (``None`` when it asks for faces only). ``width``: the detector's input, longest
    side in pixels (``None``: ``ppocr.DEFAULT_WIDTH``). Raises ``livecam.errors.ModelError`` when the PP-OCR
    models are missing, with the install command."""
    if not covers_text(cover):
        return None
    detector = TextDetector(width or DEFAULT_WIDTH, threads)
    return detector if Cover.TEXT in cover else PlateFinder(detector, threads=threads)
