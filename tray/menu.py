"""The tray menu as data: pure functions of (status, settings), tested without a desktop.

Each ``Item`` carries the ``Command`` it sends to the pipeline (or a local action name for
things the tray does itself: preview, open settings, quit) and whether it shows checked.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from typing import Sequence

from livecam import live
from livecam.controls import CONTROLS, Control
from livecam.live import Command, Mode, Status
from livecam.settings import Settings

# Icon colours (RGB) for each state, readable at a glance.
STATE_COLORS = {
    Mode.ANONYMIZING: (40, 170, 70),     # green: faces are being covered
    Mode.PAUSED: (230, 150, 20),         # orange: raw camera, by choice
    Mode.PRIVACY: (40, 100, 220),        # blue: whole frame covered, by choice
    Mode.FAILING_CLOSED: (210, 40, 40),  # red: something is wrong, whole frame covered
    Mode.STARTING: (130, 130, 130),      # grey
}


@dataclass(frozen=True)
class Item:
    label: str
    command: Command | None = None
    action: str | None = None          # "preview", "open-settings", "quit" (handled by the tray)
    checked: bool | None = None        # None: not a check item
    radio: bool = False
    enabled: bool = True
    submenu: tuple["Item", ...] = field(default_factory=tuple)


SEPARATOR = Item("-")


def state_label(status: Status) -> str:
    text = f"livecam: {status.mode.value}"
    return f"{text} ({status.reason.split(':')[0]})" if status.mode is Mode.FAILING_CLOSED and status.reason else text


def menu(status: Status, settings: Settings) -> tuple[Item, ...]:
    """The state, then one item per control (``livecam.controls``: on/off as a check item, values as a
    submenu of radio items, the people kept visible as ``keep_menu``), then the tray's own actions."""
    return (
        Item(state_label(status), enabled=False),
        Item(f"Camera: {status.camera or 'starting'}", enabled=False),
        SEPARATOR,
        *(control_item(c, status, settings) for c in CONTROLS),
        SEPARATOR,
        Item("Show preview", action="preview"),
        Item("Open settings file", action="open-settings"),
        SEPARATOR,
        Item("Quit", action="quit"),
    )


def control_item(c: Control, status: Status, settings: Settings) -> Item:
    value = getattr(settings, c.key)
    if c.key == "keep":
        return Item(c.label, submenu=keep_menu(status, settings))
    if c.toggle:
        return Item(c.label, live.toggle(c.key), checked=bool(value))
    return Item(c.label, submenu=tuple(Item(label, live.set_values(**{c.key: v}), checked=value == v, radio=True)
                                       for label, v in c.choices))


def keep_menu(status: Status, settings: Settings, me: str | None = None) -> tuple[Item, ...]:
    """"Keep me visible" (enrol the face in front of the camera as the user's login name) and one check item
    per enrolled person: checked ones stay visible once recognised, everyone else is covered."""
    me = me or getpass.getuser()
    people = tuple(Item(name, live.set_values(keep=tuple(k for k in settings.keep if k != name) if name in settings.keep
                                              else (*settings.keep, name)), checked=name in settings.keep)
                   for name in status.people)
    return (Item("Keep me visible (look at the camera, alone, for 4 s)", live.keep_me_visible(me)),
            *((SEPARATOR, *people) if people else ()))


def find(items: Sequence[Item], label: str) -> Item:
    """The item (searching submenus) whose label is ``label``."""
    for it in items:
        if it.label == label:
            return it
        if it.submenu:
            try:
                return find(it.submenu, label)
            except KeyError:
                pass
    raise KeyError(label)
