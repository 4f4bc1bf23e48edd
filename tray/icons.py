"""Tray icon images: a camera glyph on a disc whose colour is the pipeline's state."""

from __future__ import annotations

from PIL import Image, ImageDraw

from livecam.live import Mode
from livecam.tray.menu import STATE_COLORS


def icon_image(mode: Mode, size: int = 64) -> Image.Image:
    """A ``PIL.Image`` (RGBA) for ``mode``."""

    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    color = STATE_COLORS[mode]
    d.ellipse((1, 1, size - 2, size - 2), fill=color + (255,))
    s = size / 64
    d.rounded_rectangle((14 * s, 22 * s, 42 * s, 44 * s), radius=4 * s, fill=(255, 255, 255, 255))
    d.polygon([(42 * s, 30 * s), (52 * s, 24 * s), (52 * s, 42 * s), (42 * s, 36 * s)], fill=(255, 255, 255, 255))
    if mode in (Mode.PAUSED, Mode.FAILING_CLOSED):
        d.line((12 * s, 52 * s, 52 * s, 12 * s), fill=(255, 255, 255, 255), width=max(2, int(5 * s)))
    return img
