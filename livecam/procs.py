"""Helper processes that must not outlive the livecam process that started them, and the priority of helper
threads."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

log = logging.getLogger(__name__)


def end_with_parent(code: int = 0) -> None:
    """Exit this process (``os._exit(code)``) once the process that started it is gone: its parent changes
    when it dies, however it died (``kill -9``, the OOM killer). Checked twice a second, in a daemon thread."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(code)

    threading.Thread(target=watch, daemon=True, name="livecam-end-with-parent").start()


def lower_thread_priority(niceness: int) -> None:
    """Make the calling thread yield the CPU to capture and output (Linux: per-thread nice; elsewhere nothing).

    On a 2-core machine the detection threads (faces, text) otherwise delay frames on their way to the virtual
    camera; they are asynchronous, so running them a little later costs nothing."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
        except OSError as e:  # not allowed here: keep going at normal priority
            log.debug("could not lower the priority of thread %s: %s", threading.current_thread().name, e)
