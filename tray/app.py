"""The desktop front end: the tray icon (pystray) and its menu; menu clicks -> commands, status -> icon.

pystray's backend workarounds are in ``backend.py`` (a pystray upgrade is checked there), the
process lifecycle (signals, start, shutdown) in ``lifecycle.py``.

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
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from livecam import settings as settings_mod
from livecam.mailbox import Mailbox
from livecam.errors import LivecamError
from livecam.live import LivePipeline, Mode, Status, set_values
from livecam.settings import TRAY_KEYS, Settings
from livecam.tray import backend
from livecam.tray import menu as menu_mod
from livecam.tray.icons import icon_image

log = logging.getLogger(__name__)

# What the tray and hotkeys change and write back to the settings file. Command-line
# overrides (camera, size, ...) are never written: they hold for one run only; nor is the
# session state (anonymize, privacy screen, presenter mode): every start anonymizes.

# A failure of the same kind is notified at most once in this many seconds.
NOTICE_GAP_S = 60.0


class TrayApp:
    def __init__(self, pipeline: LivePipeline, settings_path: Path | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.pipeline = pipeline
        self._clock = clock
        self._noticed: dict[str, float] = {}
        self.settings_path = settings_path or settings_mod.default_path()
        self._icon: Any = None  # a pystray.Icon once run() builds it (pystray has no type hints)
        self._shown = threading.Event()  # the icon is on screen: from now on other threads may change it
        self._last_applied: tuple[Status, Settings] | None = None
        self._last_mode: Mode | None = None
        self._last_settings = pipeline.settings
        self.notifications: list[str] = []
        self._mail: Mailbox[tuple[Status, Settings]] = Mailbox()  # the newest snapshot not applied yet
        self._sent: tuple[Status, Settings] | None = None  # the newest snapshot left, and the newest applied
        self._done: tuple[Status, Settings] | None = None
        self._closing = False
        self._quit_lock = threading.Lock()
        self.signal_handler: Callable | None = None  # set by _quit_on_signals
        self._notifications: bool | None = None  # a notification service exists (asked once)
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
            settings_mod.save(settings_mod.load(path, missing_ok=True), path)
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
        self._mail.close()
        if self._icon is not None:
            self._icon.stop()

    # -- pipeline -> tray -----------------------------------------------------------------
    def _on_change(self, status: Status, settings: Settings) -> None:
        """Called in the pipeline thread: leave the newest snapshot, never block."""
        self._sent = (status, settings)
        self._mail.put(self._sent)

    def _update_loop(self) -> None:
        while True:
            mail = self._mail.take()
            if mail is None or self._closing:
                return
            try:
                self._apply(*mail)
            except Exception:  # a desktop hiccup must not end the tray
                log.exception("tray update failed")
            self._done = mail

    def flush(self, timeout: float = 2.0) -> None:
        """Wait until the newest snapshot has been applied (for tests)."""
        end = time.monotonic() + timeout
        while self._done is not self._sent and not self._closing and time.monotonic() < end:
            time.sleep(0.02)

    def _apply(self, status: Status, settings: Settings) -> None:
        self._last_applied = (status, settings)
        self._persist(settings)
        if status.mode is not self._last_mode:
            if status.mode is Mode.FAILING_CLOSED:
                self._notify_failing(status)
            self._last_mode = status.mode
        # pystray's xorg backend hands each change to its event loop and waits for the answer on one
        # queue shared by all threads: changing the icon while its own setup thread is still showing it
        # could leave the icon never drawn (seen in CI). Changes wait until the icon is shown.
        icon = self._icon if self._shown.is_set() else None
        if icon is not None:
            icon.icon = icon_image(status.mode)
            icon.title = menu_mod.state_label(status)
            icon.update_menu()

    def _persist(self, settings: Settings) -> None:
        changed = {k: getattr(settings, k) for k in TRAY_KEYS
                   if getattr(settings, k) != getattr(self._last_settings, k)}
        self._last_settings = settings
        if not changed:
            return
        try:
            on_disk = settings_mod.load(self.settings_path, missing_ok=True)
            settings_mod.save(on_disk.replace(**changed), self.settings_path)
        except (OSError, LivecamError) as e:
            log.warning("could not save settings to %s: %s", self.settings_path, e)

    def _notify_failing(self, status: Status) -> None:
        """One notification per kind of failure per ``NOTICE_GAP_S``: a detector that keeps falling behind
        under load must not raise a notification every few seconds (the frame is covered each time
        anyway; the icon still shows every change)."""
        kind = status.kind
        now = self._clock()
        last = self._noticed.get(kind)
        if last is not None and now - last < NOTICE_GAP_S:
            log.debug("notification held back (same failure %.0f s ago): %s", now - last, status.reason)
            return
        self._noticed[kind] = now
        self._notify(f"livecam is covering the whole picture: {status.reason}")

    def _notify(self, message: str) -> None:
        self.notifications.append(message)
        icon = self._icon
        if icon is not None and getattr(icon, "HAS_NOTIFICATION", False) and self._can_notify():
            try:
                icon.notify(message, "livecam")
            except Exception as e:  # notifications are a nicety: never stop the video for one
                log.debug("notification failed: %s", e)

    def _can_notify(self) -> bool:
        """Whether the desktop has a notification service. pystray's GTK/AppIndicator backends send
        notifications over D-Bus from their event loop, and a missing service there (a minimal
        desktop) raised out of the loop and ended the tray; so ask the bus once, first."""
        if self._notifications is None:
            self._notifications = backend.dbus_notifications_available() if "gi.repository" in sys.modules else True
            if not self._notifications:
                log.info("no desktop notification service: state changes show on the tray icon only")
        return self._notifications

    # -- pystray --------------------------------------------------------------------------
    def _pystray_menu(self, pystray: Any) -> Any:
        """The real pystray menu, rebuilt from ``items()`` each time it opens. pystray calls an action
        with (icon, item) and a ``checked`` with (item): each callback takes exactly those (pystray
        refuses callables with more parameters, defaults included)."""
        def click(label: str) -> Callable[[Any, Any], None]:
            return lambda icon, item: self.activate(self._find(label))

        def is_checked(label: str) -> Callable[[Any], bool]:
            return lambda item: bool(self._find(label).checked)

        def submenu(label: str) -> Callable[[], list[Any]]:
            return lambda: build(self._find(label).submenu)

        def build(items: Sequence[menu_mod.Item]) -> list[Any]:
            out: list[Any] = []
            for it in items:
                if it.label == "-":
                    out.append(pystray.Menu.SEPARATOR)
                elif it.submenu:
                    out.append(pystray.MenuItem(it.label, pystray.Menu(submenu(it.label))))
                else:
                    out.append(pystray.MenuItem(it.label, click(it.label),
                                                checked=is_checked(it.label) if it.checked is not None else None,
                                                radio=it.radio, enabled=it.enabled))
            return out

        return pystray.Menu(lambda: build(self.items()))

    def _find(self, label: str) -> menu_mod.Item:
        return menu_mod.find(self.items(), label)

    def run(self) -> None:
        """Show the icon and run the tray's event loop on this (the main) thread until Quit."""
        pystray = backend.import_pystray()
        status = self.pipeline.status
        self._icon = pystray.Icon("livecam", icon_image(status.mode), menu_mod.state_label(status),
                                  menu=self._pystray_menu(pystray))
        if not getattr(self._icon, "HAS_MENU", True):
            log.info("this tray backend has no menu: use the hotkeys, or install an AppIndicator/GTK tray "
                     "(see the README)")
        backend.size_xorg_window(self._icon)
        if self._closing:  # asked to quit while starting up
            return
        backend.show_before_loop(self._icon)
        self._icon.run(setup=self._show)

    def _show(self, icon: Any) -> None:
        """pystray's setup callback (its own thread): show the icon, then bring it up to date."""
        backend.on_shown(icon, self._can_notify, self.signal_handler)
        self._shown.set()
        if self._sent is not None:  # again, unless a newer one is waiting
            self._mail.put_if_empty(self._sent)
