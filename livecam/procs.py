"""Helper processes that must not outlive the livecam process that started them."""

from __future__ import annotations

import os
import threading
import time


def end_with_parent(code: int = 0) -> None:
    """Exit this process (``os._exit(code)``) once the process that started it is gone: its parent changes
    when it dies, however it died (``kill -9``, the OOM killer). Checked twice a second, in a daemon thread."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(code)

    threading.Thread(target=watch, daemon=True, name="livecam-end-with-parent").start()
