"""The desktop front end: a system tray icon (pystray) and global hotkeys (pynput).

Thread contract: pystray owns the main thread (``Icon.run``); the pipeline runs in its own
thread; hotkeys in pynput's listener thread. Menu clicks and hotkeys only *send commands*
to the pipeline. The pipeline hands immutable status/settings snapshots to ``_on_change``,
which only drops them in a one-slot mailbox: a tray thread of ours takes the newest and
updates the icon and the settings file, so the video never waits for the desktop (an X
call that blocks would otherwise stall the frames).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

from livecam import settings as settings_mod
from livecam.errors import LivecamError
from livecam.live import LivePipeline, Mode, Status, set_values
from livecam.settings import Settings
from tray import menu as menu_mod
from tray.icons import icon_image

log = logging.getLogger(__name__)

# What the tray and hotkeys change and write back to the settings file. Command-line
# overrides (camera, size, ...) are never written: they hold for one run only.
PERSISTED = ("effect", "strength", "anonymize", "privacy_screen", "presenter")


class TrayApp:
    def __init__(self, pipeline: LivePipeline, settings_path: Path | None = None):
        self.pipeline = pipeline
        self.settings_path = settings_path or settings_mod.default_path()
        self._icon = None
        self._last_mode: Mode | None = None
        self._last_settings = pipeline.settings
        self.notifications: list[str] = []
        self._mail: tuple[Status, Settings] | None = None
        self._mail_ready = threading.Event()
        self._closing = False
        self._quit_lock = threading.Lock()
        self._updater = threading.Thread(target=self._update_loop, name="livecam-tray-update", daemon=True)
        self._updater.start()
        pipeline.add_listener(self._on_change)

    # -- menu as data ---------------------------------------------------------------------
    def items(self) -> tuple[menu_mod.Item, ...]:
        return menu_mod.menu(self.pipeline.status, self.pipeline.settings)

    def activate(self, item: menu_mod.Item) -> None:
        """What a click on ``item`` does: send its command, or the tray's own action."""
        if item.command is not None:
            self.pipeline.send(item.command)
        elif item.action == "preview":
            self.pipeline.send(set_values(preview=not self.pipeline.settings.preview))
        elif item.action == "open-settings":
            self.open_settings()
        elif item.action == "quit":
            self.quit()

    def open_settings(self) -> None:
        path = self.settings_path
        if not path.exists():
            settings_mod.save(settings_mod.load(path), path)
        opener = {"win32": None, "darwin": ["open"]}.get(sys.platform, ["xdg-open"])
        try:
            if opener is None:
                os.startfile(str(path))  # type: ignore[attr-defined]  # Windows only
            else:
                subprocess.Popen([*opener, str(path)])
        except OSError as e:
            log.warning("cannot open %s (%s); edit it with any text editor", path, e)

    def quit(self) -> None:
        """Stop the pipeline and the icon; safe from any thread, and more than once (menu, signal,
        and the watcher of a pipeline that ended may all ask)."""
        with self._quit_lock:
            if self._closing:
                return
            self._closing = True
        self.pipeline.stop()
        self._mail_ready.set()
        if self._icon is not None:
            self._icon.stop()

    # -- pipeline -> tray -----------------------------------------------------------------
    def _on_change(self, status: Status, settings: Settings) -> None:
        """Called in the pipeline thread: leave the newest snapshot, never block."""
        self._mail = (status, settings)
        self._mail_ready.set()

    def _update_loop(self) -> None:
        while True:
            self._mail_ready.wait()
            self._mail_ready.clear()
            if self._closing:
                return
            mail, self._mail = self._mail, None
            if mail is not None:
                try:
                    self._apply(*mail)
                except Exception:  # a desktop hiccup must not end the tray
                    log.exception("tray update failed")

    def flush(self, timeout: float = 2.0) -> None:
        """Wait until the newest snapshot has been applied (for tests)."""
        import time

        end = time.monotonic() + timeout
        while (self._mail is not None or self._mail_ready.is_set()) and time.monotonic() < end:
            time.sleep(0.02)

    def _apply(self, status: Status, settings: Settings) -> None:
        self._persist(settings)
        if status.mode is not self._last_mode:
            if status.mode is Mode.FAILING_CLOSED:
                self._notify(f"livecam is covering the whole picture: {status.reason}")
            self._last_mode = status.mode
        icon = self._icon
        if icon is not None:
            icon.icon = icon_image(status.mode)
            icon.title = menu_mod.state_label(status)
            icon.update_menu()

    def _persist(self, settings: Settings) -> None:
        changed = {k: getattr(settings, k) for k in PERSISTED if getattr(settings, k) != getattr(self._last_settings, k)}
        self._last_settings = settings
        if not changed:
            return
        try:
            on_disk = settings_mod.load(self.settings_path)
            settings_mod.save(on_disk.replace(**changed), self.settings_path)
        except (OSError, LivecamError) as e:
            log.warning("could not save settings to %s: %s", self.settings_path, e)

    def _notify(self, message: str) -> None:
        self.notifications.append(message)
        icon = self._icon
        if icon is not None and getattr(icon, "HAS_NOTIFICATION", False):
            try:
                icon.notify(message, "livecam")
            except Exception as e:  # notifications are a nicety: never stop the video for one
                log.debug("notification failed: %s", e)

    # -- pystray --------------------------------------------------------------------------
    def _pystray_menu(self, pystray):
        def build(items):
            out = []
            for it in items:
                if it.label == "-":
                    out.append(pystray.Menu.SEPARATOR)
                elif it.submenu:
                    out.append(pystray.MenuItem(it.label, pystray.Menu(lambda it=it: build(self._find(it.label).submenu))))
                else:
                    out.append(pystray.MenuItem(
                        it.label, lambda icon, _item, it=it: self.activate(self._find(it.label)),
                        checked=(lambda _i, it=it: bool(self._find(it.label).checked)) if it.checked is not None else None,
                        radio=it.radio, enabled=it.enabled))
            return out

        return pystray.Menu(lambda: build(self.items()))

    def _find(self, label: str) -> menu_mod.Item:
        return menu_mod.find(self.items(), label)

    def run(self) -> None:
        """Show the icon and run the tray's event loop on this (the main) thread until Quit."""
        pystray = import_pystray()
        status = self.pipeline.status
        self._icon = pystray.Icon("livecam", icon_image(status.mode), menu_mod.state_label(status),
                                  menu=self._pystray_menu(pystray))
        if not getattr(self._icon, "HAS_MENU", True):
            log.info("this tray backend has no menu: use the hotkeys, or install an AppIndicator/GTK tray "
                     "(see the README)")
        _size_xorg_window(self._icon)
        if self._closing:  # asked to quit while starting up
            return
        self._icon.run()  # pystray's default setup shows the icon


def _size_xorg_window(icon) -> None:
    """pystray's xorg backend creates a 1x1 window and relies on the tray host to honour its
    minimum-size hint; hosts such as trayer keep it 1 px wide, so size it before docking. This
    runs in the main thread before the event loop starts, so the X connection is never used by
    two threads at once (pystray's setup callback runs in a thread of its own: resizing there
    raced the event loop and once broke it with an X BadDrawable error)."""
    window = getattr(icon, "_window", None)
    if window is not None and hasattr(window, "configure"):
        try:
            window.configure(width=24, height=24)
            icon._display.flush()
        except Exception as e:  # an X error here only leaves the icon small
            log.debug("could not size the tray icon window: %s", e)


def import_pystray():
    try:
        import pystray
    except Exception as e:  # pystray connects to the desktop at import time
        raise LivecamError(f"the tray needs a desktop session ({type(e).__name__}: {e}); "
                           "run `livecam run` instead, or start it from your desktop") from None
    return pystray


def run_tray(settings: Settings, args) -> int:
    """``livecam tray``: the pipeline in its thread, hotkeys, and the tray icon on the main thread."""
    from livecam import live
    from tray.hotkeys import Hotkeys

    import_pystray()  # fail before opening any device
    pipeline = live.start_from_camera(settings, args)
    app = TrayApp(pipeline, getattr(args, "config", None))
    hotkeys = Hotkeys(settings.hotkeys, pipeline.send)
    import signal

    def quit_from_signal(*_) -> None:
        # The handler runs in the main thread, which may be inside the X event loop holding the X
        # connection's (non-reentrant) lock: quitting here deadlocked now and then (a desktop test run
        # never stopped on SIGTERM). Quit from another thread, as the menu and hotkeys do.
        threading.Thread(target=app.quit, name="livecam-tray-quit", daemon=True).start()

    signal.signal(signal.SIGTERM, quit_from_signal)
    signal.signal(signal.SIGINT, quit_from_signal)  # Ctrl+C the same way, not as an exception inside Xlib

    def close_icon_when_pipeline_ends() -> None:
        pipeline.wait()
        app.quit()

    threading.Thread(target=close_icon_when_pipeline_ends, name="livecam-tray-watch", daemon=True).start()
    try:
        app.run()
    finally:
        hotkeys.stop()
        pipeline.stop()
        pipeline.wait(10)
    if pipeline.error is not None:
        raise LivecamError(f"the live pipeline stopped: {pipeline.error}")
    return 0
