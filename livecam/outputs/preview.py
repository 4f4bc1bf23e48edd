"""``--preview`` and the tray's "Show preview": a window drawn by a child process of its own."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from typing import IO, cast

import numpy as np

from livecam.errors import DeviceError
from livecam.mailbox import Mailbox
from livecam.outputs.base import Closing

log = logging.getLogger(__name__)


class PreviewSink(Closing):
    """A window showing the output, drawn by a child process (``livecam.outputs.window``) that owns the
    window toolkit alone. Frames go through a pipe from a sender thread with a one-frame mailbox:
    ``send`` never blocks the video; a slow window just skips frames. Frames wider than
    ``max_width`` are scaled down first (a preview, not a second output)."""

    def __init__(self, title: str = "livecam preview", max_width: int = 960):
        self.title = title
        self.max_width = max_width
        self._proc = subprocess.Popen([sys.executable, "-m", "livecam.outputs.window", title], stdin=subprocess.PIPE,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._stdin, self._stderr = cast(IO[bytes], self._proc.stdin), cast(IO[bytes], self._proc.stderr)  # pipes
        self._mail: Mailbox[np.ndarray] = Mailbox()
        self._thread = threading.Thread(target=self._pump, name="livecam-preview", daemon=True)
        self._thread.start()

    def send(self, frame_bgr: np.ndarray) -> None:
        if self._proc.poll() is not None:
            raise DeviceError(self._ended())
        self._mail.put(frame_bgr)

    def _pump(self) -> None:
        import cv2

        from livecam.outputs.window import HEADER

        while True:
            frame = self._mail.take()
            if frame is None or self._mail.closed:
                return
            h, w = frame.shape[:2]
            if w > self.max_width:
                frame = cv2.resize(frame, (self.max_width, round(h * self.max_width / w)), interpolation=cv2.INTER_AREA)
            try:
                self._stdin.write(HEADER.pack(frame.shape[0], frame.shape[1]))
                self._stdin.write(np.ascontiguousarray(frame).tobytes())
                self._stdin.flush()
            except (BrokenPipeError, OSError, ValueError):  # the window process ended: send() says why
                return

    def _ended(self) -> str:
        code = self._proc.returncode
        if code == 0:
            return "the preview window was closed"
        err = [ln.strip() for ln in (self._stderr.read() or b"").decode(errors="replace").splitlines() if ln.strip()]
        if code == 3 and err:  # our own one-line reason
            return err[-1]
        detail = err[0] if err else f"exit code {code}"  # e.g. Qt: "qt.qpa.xcb: could not connect to display"
        return f"cannot show the preview window (no display?): {detail}"

    def close(self) -> None:
        if self._mail.closed:
            return
        self._mail.close()
        try:
            self._stdin.close()
        except OSError:
            pass
        try:
            self._proc.wait(3)
        except Exception:  # a window process that hangs is not worth waiting for
            self._proc.kill()
