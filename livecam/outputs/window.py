"""The preview window, in a process of its own: ``python -m livecam.outputs.window TITLE``.

OpenCV's window toolkit (Qt in the opencv-python wheels) and the tray's GTK cannot share one
process: "Show preview" from a GTK tray crashed the whole app. The window therefore lives in a
child process that owns it alone; the parent pipes it frames (``PreviewSink``) and never waits
for it. Protocol on stdin: for each frame, height and width as two little-endian uint32, then
``height * width * 3`` bytes of BGR. The child exits when stdin closes, or when the user closes
the window (exit code 0), or if it cannot open a window (exit code 3, the reason on stderr).
"""

from __future__ import annotations

import struct
import sys
from typing import BinaryIO

HEADER = struct.Struct("<II")


def _read_exact(stream: BinaryIO, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = stream.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def main(argv: list[str] | None = None) -> int:
    import cv2
    import numpy as np

    title = (argv or sys.argv[1:] or ["livecam preview"])[0]
    stdin = sys.stdin.buffer
    shown = False
    while True:
        head = _read_exact(stdin, HEADER.size)
        if head is None:
            return 0
        h, w = HEADER.unpack(head)
        data = _read_exact(stdin, h * w * 3)
        if data is None:
            return 0
        try:
            cv2.imshow(title, np.frombuffer(data, np.uint8).reshape(h, w, 3))
            cv2.waitKey(1)
            if shown and cv2.getWindowProperty(title, cv2.WND_PROP_VISIBLE) < 1:
                return 0  # closed by the user
            shown = True
        except cv2.error as e:
            print(f"cannot show the preview window (no display?): {e.msg.strip()}", file=sys.stderr)
            return 3


if __name__ == "__main__":
    sys.exit(main())
