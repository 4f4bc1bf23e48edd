"""The tray's process lifecycle: start the pipeline, hotkeys and icon; quit on signals; exit past stuck threads."""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from livecam.errors import LivecamError
from livecam.outputs import Outputs
from livecam.settings import Settings
from livecam.tray.app import TrayApp
from livecam.tray.backend import import_pystray

log = logging.getLogger(__name__)


def _quit_on_signals(app: TrayApp, exit_now: Callable[[], None], loop_done: threading.Event) -> None:
    """SIGTERM and Ctrl+C quit the tray from a helper thread, and the process exits even if the
    tray's X event loop does not notice.

    A Python signal handler only runs when the main thread runs Python code, and the main thread
    sits in the X event loop's blocking read: when the kernel hands the signal to another thread
    (torch and OpenCV start many), that read is not interrupted and the handler waits for the next
    X event, which may never come. CPython writes every signal number to the wakeup socket from its
    C-level handler at once, whatever thread receives it; a thread waiting on the socket quits.
    Quitting stays off the main thread, which may hold the X connection's non-reentrant lock. If
    the event loop has not ended 5 s later (seen in CI: the icon's window destroyed, the loop still
    waiting), this thread finishes the shutdown itself (``exit_now``: hotkeys, pipeline, output file,
    then exit). GLib's main loop (the GTK and AppIndicator backends) takes the wakeup socket over
    while it runs; there the Python handlers installed here do the same, from the main thread."""
    import signal

    rx, tx = socket.socketpair()
    tx.setblocking(False)
    signal.set_wakeup_fd(tx.fileno())
    wanted = {int(signal.SIGTERM), int(signal.SIGINT)}
    once = threading.Lock()

    def quit_then_exit() -> None:
        if not once.acquire(blocking=False):
            return  # the other route got here first
        app.quit()
        if loop_done.wait(5):
            return
        log.debug("the tray event loop did not end after quit; finishing from the signal thread")
        exit_now()

    def handler(*_: object) -> None:  # Python-level route: never quit inside a signal handler
        threading.Thread(target=quit_then_exit, name="livecam-tray-quit", daemon=True).start()

    for sig in wanted:
        signal.signal(sig, handler)
    app.signal_handler = handler

    # keep_open holds the socket CPython writes to: closing it would free the fd
    def wait_for_signal(keep_open: socket.socket = tx) -> None:
        while True:
            data = rx.recv(64)
            if not data or wanted & set(data):
                break
        quit_then_exit()

    threading.Thread(target=wait_for_signal, name="livecam-tray-signals", daemon=True).start()


def run_tray(settings: Settings, outputs: Outputs, settings_path: Path | None = None) -> int:
    """``livecam tray``: the pipeline in its thread, hotkeys, and the tray icon on the main thread."""
    from livecam import live

    import_pystray()  # fail before opening any device
    pipeline = live.start_from_camera(settings, outputs)
    app = TrayApp(pipeline, settings_path)
    hotkeys = live.start_hotkeys(settings, pipeline.send)  # the same registration as `livecam run`
    finished = threading.Lock()
    done: list[bool] = []

    def finish() -> None:
        """Stop hotkeys and pipeline (which closes the outputs); once, from whichever thread gets here first."""
        with finished:
            if done:
                return
            if hotkeys is not None:
                hotkeys.stop()
            pipeline.stop()
            pipeline.wait(10)
            done.append(True)

    failed: list[str] = []  # the tray's own error, if its event loop raised

    def exit_now() -> None:
        """Leave at once (past threads that would keep the process alive), with the usual error line and code."""
        finish()
        if pipeline.error is not None:
            failed.append(f"the live pipeline stopped: {pipeline.error}")
        if failed:
            print(f"livecam: error: {failed[-1]}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(2 if failed else 0)

    loop_done = threading.Event()
    _quit_on_signals(app, exit_now, loop_done)

    def close_icon_when_pipeline_ends() -> None:
        pipeline.wait()
        app.quit()

    threading.Thread(target=close_icon_when_pipeline_ends, name="livecam-tray-watch", daemon=True).start()
    try:
        app.run()
    except Exception as e:  # the desktop side failed: stop everything, say it in one line, leave
        log.debug("tray event loop failed", exc_info=True)
        failed.append(f"the tray stopped: {type(e).__name__}: {e}")
    finally:
        loop_done.set()
        finish()
    if failed:
        exit_now()
    _exit_past_stuck_threads(exit_now)
    if pipeline.error is not None:
        raise LivecamError(f"the live pipeline stopped: {pipeline.error}")
    return 0


def _exit_past_stuck_threads(exit_now: Callable[[], None], grace_s: float = 2.0) -> None:
    """Everything of ours is stopped; a desktop library thread that is not a daemon can still be
    waiting on X (pystray's setup thread on an icon that never showed, seen in CI) and would keep
    the process alive for ever after SIGTERM. Give such threads ``grace_s``, then exit anyway."""
    deadline = time.monotonic() + grace_s
    for t in threading.enumerate():
        if t is not threading.current_thread() and not t.daemon:
            t.join(max(0.0, deadline - time.monotonic()))
    stuck = [t.name for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon]
    if stuck:
        log.debug("exiting past threads that did not end: %s", ", ".join(stuck))
        exit_now()
