"""What the tray, hotkeys and CLI may say to a running pipeline, and what it says back."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable, Sequence

from livecam.controls import Control
from livecam.faces import Faces
from livecam.settings import Settings


class Mode(enum.Enum):
    STARTING = "starting"
    ANONYMIZING = "anonymizing"
    PAUSED = "paused"              # raw camera: only by an explicit choice
    PRIVACY = "privacy screen"     # whole frame covered by choice
    FAILING_CLOSED = "failing closed"


def reason_kind(reason: str | None) -> str:
    """A reason without the detail after its ':' (e.g. an age in ms): reasons of one kind are one state."""
    return (reason or "").split(":")[0]


@dataclass(frozen=True)
class Status:
    mode: Mode = Mode.STARTING
    reason: str | None = None
    detect_hz: float = 0.0
    detector_ms: float = 0.0
    detect_size: int | None = None
    text_hz: float = 0.0
    """--cover plates/text: text checks a second lately (0: none asked)."""
    frames_out: int = 0
    camera: str = ""
    people: tuple[str, ...] = ()
    """Everyone enrolled (``livecam people``): the tray's "Keep visible" menu."""
    outputs: tuple[tuple[str, str], ...] = ()
    """Outputs that have a state of their own, as ``(name, state)``: ``--push`` connected or not."""

    @property
    def kind(self) -> str:
        """``reason_kind`` of the reason."""
        return reason_kind(self.reason)


@dataclass(frozen=True)
class FrameReport:
    """What the pipeline did with one captured frame (for benchmarks and tests)."""

    seq: int            # 0 for a frame sent while the camera is lost (not from the camera)
    index: int          # the source's frame index (replay) or seq; -1 while the camera is lost
    capture_t: float
    sent_t: float
    obscured_all: bool
    faces: Faces
    reason: str | None


@dataclass(frozen=True)
class Command:
    """A change for the pipeline thread to apply to its own settings: ``apply(settings) -> settings``."""

    name: str
    apply: Callable[[Settings], Settings]
    enrol: str | None = None
    """"Keep me visible": enrol the main face in view under this name (from a few seconds of frames) and keep it."""


STOP = Command("stop", lambda s: s)


def toggle(field_name: str) -> Command:
    return Command(f"toggle {field_name}", lambda s: s.replace(**{field_name: not getattr(s, field_name)}))


def set_values(**values: object) -> Command:
    return Command("set " + ", ".join(values), lambda s: s.replace(**values))


def keep_me_visible(name: str) -> Command:
    """Enrol the face in front of the camera as ``name`` (``livecam people``) and add it to ``keep``."""
    return Command(f"keep {name} visible", lambda s: s, enrol=name)


def cycle(field_name: str, values: Sequence[object]) -> Command:
    """The next of ``values`` after the current one (the first when it is none of them)."""
    order = list(values)

    def step(s: Settings) -> Settings:
        now = getattr(s, field_name)
        return s.replace(**{field_name: order[(order.index(now) + 1) % len(order)] if now in order else order[0]})

    return Command(f"cycle {field_name}", step)


def from_control(c: Control) -> Command:
    """What a hotkey for control ``c`` does: toggle it, or step to its next value."""
    return toggle(c.key) if c.toggle else cycle(c.key, [v for _, v in c.choices])
