"""What a user may change while livecam runs, declared once: the tray menu, the global hotkeys, the web page and
the settings file's ``[hotkeys]`` are generated from ``CONTROLS``.

A control changes one ``Settings`` field: on/off (``choices`` empty) or one of a few values (the tray shows
them as radio items, the page as a list, a hotkey cycles through them). Whether the change is saved follows
the field's scope in ``livecam.settings`` (the toggles are session state, never saved). The web page changes
only what ``web`` allows (it never names the people kept visible).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from livecam.effects import Effect
from livecam.text import Cover


@dataclass(frozen=True)
class Control:
    key: str
    """The ``Settings`` field it changes."""
    label: str
    """The tray menu's words for it (the web page's too)."""
    choices: tuple[tuple[str, Any], ...] = ()
    """(label, value) for each value it may take; empty: on/off."""
    hotkey: str | None = None
    """The ``[hotkeys]`` action that toggles it (or cycles through ``choices``), with its default ``keys``."""
    keys: str | None = None
    web: bool = True

    @property
    def toggle(self) -> bool:
        return not self.choices


CONTROLS: tuple[Control, ...] = (
    Control("anonymize", "Anonymize faces", hotkey="toggle_anonymize", keys="<ctrl>+<alt>+<shift>+a"),
    Control("privacy_screen", "Privacy screen (cover everything)", hotkey="toggle_privacy",
            keys="<ctrl>+<alt>+<shift>+p"),
    Control("presenter", "Presenter mode (keep main face visible)", hotkey="toggle_presenter",
            keys="<ctrl>+<alt>+<shift>+m"),
    Control("keep", "Keep visible", web=False),  # one item per person enrolled, and "Keep me visible"
    Control("cover", "Cover", (("Faces", (Cover.FACES,)), ("Faces and licence plates", (Cover.FACES, Cover.PLATES)),
                               ("Faces and all text", (Cover.FACES, Cover.TEXT)))),
    Control("effect", "Effect", tuple((e.value.capitalize(), e) for e in Effect), hotkey="cycle_effect",
            keys="<ctrl>+<alt>+<shift>+e"),
    Control("strength", "Strength", (("Light", 0.5), ("Normal", 1.0), ("Strong", 2.0), ("Maximum", 4.0))),
    Control("delay_s", "Delay (look ahead)", (("None (video calls)", 0.0), ("0.25 s", 0.25), ("0.5 s (streaming)", 0.5),
                                              ("1 s", 1.0), ("2 s", 2.0))),
)

DEFAULT_HOTKEYS = {c.hotkey: c.keys for c in CONTROLS if c.hotkey and c.keys}
WEB_KEYS = tuple(c.key for c in CONTROLS if c.web)


def control(key: str) -> Control:
    for c in CONTROLS:
        if c.key == key:
            return c
    raise KeyError(key)


def by_hotkey(action: str) -> Control | None:
    return next((c for c in CONTROLS if c.hotkey == action), None)


def web_table() -> list[dict[str, Any]]:
    """The web page's controls, as JSON: ``[{"key", "label", "choices": [[label, value], ...]}]``."""
    return [{"key": c.key, "label": c.label, "choices": [[label, plain(value)] for label, value in c.choices]}
            for c in CONTROLS if c.web]


def plain(value: Any) -> Any:
    """A value as the settings file writes it (enums by value, tuples as lists): the web page's choices, and
    ``livecam.settings``' own."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    return value
