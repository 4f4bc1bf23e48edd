"""Global hotkeys (pynput): each action sends a Command to the pipeline; nothing else.

They serve ``livecam run`` and ``livecam tray`` alike, so they live with the live path, not the tray.
"""

from __future__ import annotations

import logging
from typing import Callable, Mapping

from livecam.controls import by_hotkey
from livecam.live.commands import Command, from_control

log = logging.getLogger(__name__)


class Hotkeys:
    """Registers ``bindings`` (action -> pynput hotkey string, e.g. ``<ctrl>+<alt>+<shift>+p``).

    A hotkey that cannot be registered (bad key name, Wayland, no X server) is reported once,
    with the reason; the others keep working. ``errors`` lists what failed.
    """

    def __init__(self, bindings: Mapping[str, str], send: Callable[[Command], None]):
        self.errors: list[str] = []
        self._listener = None
        try:
            from pynput import keyboard
        except Exception as e:  # pynput cannot load a backend (Wayland-only session, no display)
            self._report(f"global hotkeys are unavailable here ({e}); use the tray menu instead")
            return
        mapping = {}
        for action, keys in bindings.items():
            control = by_hotkey(action)  # the actions: livecam.controls
            if control is None:
                self._report(f"unknown hotkey action {action!r}")
                continue
            try:
                keyboard.HotKey.parse(keys)
            except ValueError as e:
                self._report(f"hotkey {keys!r} for {action} is not valid ({e}); it is off")
                continue
            command = from_control(control)
            mapping[keys] = (lambda command=command: send(command))
        if not mapping:
            return
        try:
            self._listener = keyboard.GlobalHotKeys(mapping)
            self._listener.daemon = True  # its X record call can block past stop(); never keep the process alive
            self._listener.start()
        except Exception as e:  # e.g. the X server refuses the record extension
            self._report(f"global hotkeys could not be registered ({e}); use the tray menu instead")
            self._listener = None

    def _report(self, message: str) -> None:
        self.errors.append(message)
        log.warning("%s", message)

    @property
    def active(self) -> bool:
        return self._listener is not None

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
