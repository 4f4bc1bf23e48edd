"""pystray's backends and their workarounds, in one place: a pystray upgrade is checked here.

Everything that reaches into pystray's private attributes (``_window``, ``_thread``, ``_notifier``,
``_display``), X11 and D-Bus queries, and the choice of backend.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any, Callable

from livecam.errors import LivecamError

log = logging.getLogger(__name__)


def show_before_loop(icon: Any) -> None:
    """xorg backend: show the icon from this (the loop's) thread, before the loop.

    pystray's default shows the icon from a setup thread through its event loop's one-slot
    hand-over, and under load the request was sometimes never answered: no icon at all (CI).
    With the loop's thread recorded first, pystray runs the show here, synchronously."""
    if hasattr(icon, "_window"):
        icon._thread = threading.current_thread()
        icon.visible = True


def on_shown(icon: Any, can_notify: Callable[[], bool], signal_handler: Callable | None) -> None:
    """pystray's setup callback (its own thread): make sure the icon is visible, and patch the
    GTK/AppIndicator backends where they would end livecam or keep quiet."""
    if not icon.visible:
        icon.visible = True
    if not hasattr(icon, "_window"):  # GTK/AppIndicator: nothing is logged when no tray takes the icon
        threading.Thread(target=_say_if_no_tray_host, name="livecam-tray-host", daemon=True).start()
    if getattr(icon, "_notifier", None) is not None and not can_notify():
        # pystray's GTK backend closes its last notification over D-Bus when it stops, whether it
        # sent one or not; with no notification service that raises and ends livecam with an error
        icon._notifier = _NoNotifier()
    if signal_handler is not None and "gi.repository" in sys.modules:
        # pystray's GTK/AppIndicator backends reset Ctrl+C to "kill at once" when their loop starts
        # (an unfinished recording): put ours back, from the main thread the loop runs on
        from gi.repository import GLib

        def reinstall() -> bool:
            import signal

            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal_handler)
            return False

        GLib.idle_add(reinstall)


class _NoNotifier:
    """Stands in for pystray's D-Bus notifier where the desktop has no notification service."""

    def notify(self, *args: object) -> None:
        pass

    def hide(self) -> None:
        pass


def dbus_notifications_available() -> bool:
    """org.freedesktop.Notifications is running or can be started on the session bus."""
    try:
        from gi.repository import Gio, GLib

        bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
        name = "org.freedesktop.Notifications"

        def ask(method: str, args: Any) -> Any:
            return bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", method,
                                 args, None, Gio.DBusCallFlags.NONE, 2000, None).unpack()[0]

        return bool(ask("NameHasOwner", GLib.Variant("(s)", (name,)))) or name in ask("ListActivatableNames", None)
    except Exception as e:  # no session bus at all
        log.debug("cannot ask D-Bus for a notification service: %s", e)
        return False


def size_xorg_window(icon: Any) -> None:
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


class _NoTrayHostOnce(logging.Filter):
    """pystray's xorg backend logs "Failed to dock icon" with a traceback on every icon change when
    the desktop has no tray host (18 in 20 s). Say it once, in a line a user can act on, then
    drop the repeats; the video keeps running either way."""

    def __init__(self) -> None:
        super().__init__()
        self.told = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() != "Failed to dock icon":
            return True
        if self.told:
            return False
        self.told = True
        record.msg, record.args, record.exc_info, record.exc_text = NO_TRAY_HOST, (), None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


NO_TRAY_HOST = ("no system tray on this desktop: the icon cannot be shown; livecam keeps running "
                "(hotkeys work, Ctrl+C stops) and the icon appears if a tray starts")


def tray_host_present() -> bool | None:
    """Whether something on this desktop can show a tray icon: an XEmbed system tray (the
    ``_NET_SYSTEM_TRAY_S<screen>`` selection has an owner) or a StatusNotifier host (AppIndicator's
    D-Bus watcher). None when it cannot be told."""
    try:
        from Xlib import X, display

        d = display.Display()
        try:
            atom = d.intern_atom(f"_NET_SYSTEM_TRAY_S{d.get_default_screen()}")
            if d.get_selection_owner(atom) != X.NONE:
                return True
        finally:
            d.close()
    except Exception as e:  # no X server (Wayland only) or no python-xlib: ask D-Bus alone
        log.debug("cannot ask X11 for a system tray: %s", e)
    try:
        from gi.repository import Gio, GLib

        bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
        owner = bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner",
                              GLib.Variant("(s)", ("org.kde.StatusNotifierWatcher",)), None, Gio.DBusCallFlags.NONE,
                              2000, None).unpack()[0]
        return bool(owner)
    except Exception as e:  # no session bus: an XEmbed tray was the only way, and there is none
        log.debug("cannot ask D-Bus for a StatusNotifier host: %s", e)
        return False


def _say_if_no_tray_host(grace_s: float = 3.0) -> None:
    """Once, a few seconds after start-up (a panel may still be starting): the same line the xorg
    backend's filter gives, on the backends that say nothing themselves."""
    time.sleep(grace_s)
    if tray_host_present() is False:
        log.warning("%s", NO_TRAY_HOST)


def import_pystray() -> Any:  # the pystray module (it has no type hints)
    """pystray with the best backend this desktop has: AppIndicator, then GTK (both with a menu), then
    plain X11 (an icon without a menu). pystray tries them itself but stops at the first that fails
    with anything but ImportError: PyGObject without the AppIndicator typelib raises ValueError, so
    each is tried here in turn."""
    import importlib

    chosen = os.environ.get("PYSTRAY_BACKEND")
    order = [chosen] if chosen else ([None, "gtk", "xorg"] if sys.platform.startswith("linux") else [None])
    errors = []
    for backend in order:
        if backend:
            os.environ["PYSTRAY_BACKEND"] = backend
        try:
            pystray = importlib.import_module("pystray")
            break
        except Exception as e:  # pystray connects to the desktop at import time
            errors.append(f"{type(e).__name__}: {e}")
            sys.modules.pop("pystray", None)
        finally:
            if backend and not chosen:
                os.environ.pop("PYSTRAY_BACKEND", None)
    else:
        raise LivecamError(f"the tray needs a desktop session ({errors[-1]}); "
                           "run `livecam run` instead, or start it from your desktop")
    logger = logging.getLogger("pystray._base")
    if not any(isinstance(f, _NoTrayHostOnce) for f in logger.filters):
        logger.addFilter(_NoTrayHostOnce())
    log.debug("tray backend: %s", pystray.Icon.__module__)
    return pystray
