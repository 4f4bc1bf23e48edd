"""The tray menu as data: pure functions of (status, settings), tested without a desktop.

Each ``Item`` carries the ``Command`` it sends to the pipeline (or a local action name for
things the tray does itself: preview, open settings, quit) and whether it shows checked.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from typing import Sequence

from livecam import live
from livecam.effects import Effect
from livecam.live import Command, Mode, Status
from livecam.settings import Settings

STRENGTHS = {"light": 0.5, "normal": 1.0, "strong": 2.0, "maximum": 4.0}
DELAYS = {"None (video calls)": 0.0, "0.25 s": 0.25, "0.5 s (streaming)": 0.5, "1 s": 1.0, "2 s": 2.0}

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
    effects = tuple(Item(e.value.capitalize(), live.set_values(effect=e), checked=settings.effect is e, radio=True)
                    for e in Effect)
    strengths = tuple(Item(name.capitalize(), live.set_values(strength=v), checked=settings.strength == v, radio=True)
                      for name, v in STRENGTHS.items())
    delays = tuple(Item(name, live.set_values(delay_s=v), checked=settings.delay_s == v, radio=True)
                   for name, v in DELAYS.items())
    return (
        Item(state_label(status), enabled=False),
        Item(f"Camera: {status.camera or 'starting'}", enabled=False),
        SEPARATOR,
        Item("Anonymize faces", live.toggle("anonymize"), checked=settings.anonymize),
        Item("Privacy screen (cover everything)", live.toggle("privacy_screen"), checked=settings.privacy_screen),
        Item("Presenter mode (keep main face visible)", live.toggle("presenter"), checked=settings.presenter),
        Item("Keep visible", submenu=keep_menu(status, settings)),
        Item("Effect", submenu=effects),
        Item("Strength", submenu=strengths),
        Item("Delay (look ahead)", submenu=delays),
        SEPARATOR,
        Item("Show preview", action="preview"),
        Item("Open settings file", action="open-settings"),
        SEPARATOR,
        Item("Quit", action="quit"),
    )


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
