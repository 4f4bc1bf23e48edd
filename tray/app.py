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
import time
from pathlib import Path
from typing import Any, Callable

from livecam import settings as settings_mod
from livecam.errors import LivecamError
from livecam.live import LivePipeline, Mode, Status, set_values
from livecam.settings import TRAY_KEYS, Settings
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
        self._mail: tuple[Status, Settings] | None = None
        self._mail_ready = threading.Event()
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
        end = time.monotonic() + timeout
        while (self._mail is not None or self._mail_ready.is_set()) and time.monotonic() < end:
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
        changed = {k: getattr(settings, k) for k in TRAY_KEYS if getattr(settings, k) != getattr(self._last_settings, k)}
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
            self._notifications = _dbus_notifications_available() if "gi.repository" in sys.modules else True
            if not self._notifications:
                log.info("no desktop notification service: state changes show on the tray icon only")
        return self._notifications

    # -- pystray --------------------------------------------------------------------------
    def _pystray_menu(self, pystray):
        """The real pystray menu, rebuilt from ``items()`` each time it opens. pystray calls an action
        with (icon, item) and a ``checked`` with (item): each callback takes exactly those (pystray
        refuses callables with more parameters, defaults included)."""
        def click(label: str):
            return lambda icon, item: self.activate(self._find(label))

        def is_checked(label: str):
            return lambda item: bool(self._find(label).checked)

        def submenu(label: str):
            return lambda: build(self._find(label).submenu)

        def build(items):
            out = []
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
        if hasattr(self._icon, "_window"):  # xorg backend: show it from this thread, before the loop
            # pystray's default shows the icon from a setup thread through its event loop's one-slot
            # hand-over, and under load the request was sometimes never answered: no icon at all (CI).
            # With the loop's thread recorded first, pystray runs the show here, synchronously.
            self._icon._thread = threading.current_thread()
            self._icon.visible = True
        self._icon.run(setup=self._show)

    def _show(self, icon) -> None:
        """pystray's setup callback (its own thread): show the icon, then bring it up to date."""
        if not icon.visible:
            icon.visible = True
        if not hasattr(icon, "_window"):  # GTK/AppIndicator: nothing is logged when no tray takes the icon
            threading.Thread(target=_say_if_no_tray_host, name="livecam-tray-host", daemon=True).start()
        if getattr(icon, "_notifier", None) is not None and not self._can_notify():
            # pystray's GTK backend closes its last notification over D-Bus when it stops, whether it
            # sent one or not; with no notification service that raises and ends livecam with an error
            icon._notifier = _NoNotifier()
        if self.signal_handler is not None and "gi.repository" in sys.modules:
            # pystray's GTK/AppIndicator backends reset Ctrl+C to "kill at once" when their loop starts
            # (an unfinished recording): put ours back, from the main thread the loop runs on
            from gi.repository import GLib

            def reinstall() -> bool:
                import signal

                for sig in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(sig, self.signal_handler)
                return False

            GLib.idle_add(reinstall)
        self._shown.set()
        if self._mail is None and self._last_applied is not None:
            self._mail = self._last_applied
        self._mail_ready.set()


class _NoNotifier:
    """Stands in for pystray's D-Bus notifier where the desktop has no notification service."""

    def notify(self, *args) -> None:
        pass

    def hide(self) -> None:
        pass


def _dbus_notifications_available() -> bool:
    """org.freedesktop.Notifications is running or can be started on the session bus."""
    try:
        from gi.repository import Gio, GLib

        bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
        name = "org.freedesktop.Notifications"

        def ask(method: str, args):
            return bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", method,
                                 args, None, Gio.DBusCallFlags.NONE, 2000, None).unpack()[0]

        return bool(ask("NameHasOwner", GLib.Variant("(s)", (name,)))) or name in ask("ListActivatableNames", None)
    except Exception as e:  # no session bus at all
        log.debug("cannot ask D-Bus for a notification service: %s", e)
        return False


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


class _NoTrayHostOnce(logging.Filter):
    """pystray's xorg backend logs "Failed to dock icon" with a traceback on every icon change when
    the desktop has no tray host (18 in 20 s). Say it once, in a line a user can act on, then
    drop the repeats; the video keeps running either way."""

    def __init__(self):
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


def import_pystray():
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
    import socket

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

    def handler(*_) -> None:  # Python-level route: never quit inside a signal handler
        threading.Thread(target=quit_then_exit, name="livecam-tray-quit", daemon=True).start()

    for sig in wanted:
        signal.signal(sig, handler)
    app.signal_handler = handler

    def wait_for_signal(keep_open=tx) -> None:  # holds the socket CPython writes to: closing it frees the fd
        while True:
            data = rx.recv(64)
            if not data or wanted & set(data):
                break
        quit_then_exit()

    threading.Thread(target=wait_for_signal, name="livecam-tray-signals", daemon=True).start()


def run_tray(settings: Settings, outputs, settings_path: Path | None = None) -> int:
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
