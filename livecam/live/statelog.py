"""What the live log says about the pipeline's state: each state once, changes counted, a line a minute.

A machine too busy to keep up changes state many times a second (stalled, fine, stalled, ...): the log
says failing closed at once, any other change at most every ``LOG_GAP_S``, with the number of changes in
between, and always ends on the current state. Owned by the pipeline thread.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from livecam.live.commands import FrameReport, Mode, Status

log = logging.getLogger(__name__)

LOG_GAP_S = 2.0
"""The log says at most one state change per this many seconds (the rest are counted)."""
SUMMARY_S = 60.0
"""A line this often: frames out, the share wholly obscured, what detection could do."""


class StateLog:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._last_line = -1e9
        self._changes = 0  # state changes since the log's last line
        self._said: tuple[Mode, str] = (Mode.STARTING, "")  # the state the log said last
        self._minute_t = clock()
        self._minute = [0, 0]  # frames out, wholly obscured: since the last summary line

    def changed(self, status: Status) -> None:
        """A state change was published (``status``: the new one)."""
        self._changes += 1
        log.debug("state: %s (%s)", status.mode.value, status.reason)
        self.say(status)

    def say(self, st: Status) -> None:
        """Say the current state when it differs from the last one said, at most once per ``LOG_GAP_S``
        (failing closed after another state: at once); called on every change and every turn of the frame
        loop, so the log's last word is always the current state."""
        said = (st.mode, st.kind)
        if said == self._said:
            return
        now = self._clock()
        news = st.mode is Mode.FAILING_CLOSED and self._said[0] is not Mode.FAILING_CLOSED
        if now - self._last_line < LOG_GAP_S and not news:  # failing closed is said at once
            return
        brief = self._changes - 1  # the changes before this one, each undone within LOG_GAP_S
        more = f" ({brief} brief changes since the last line)" if brief > 0 else ""
        if st.mode is Mode.FAILING_CLOSED:
            log.warning("failing closed (whole frame obscured): %s%s", st.reason, more)
        elif self._said[0] is Mode.FAILING_CLOSED:
            log.info("%s again%s", st.mode.value, more)
        self._said, self._last_line, self._changes = said, now, 0

    def sent(self, out: FrameReport, st: Status) -> None:
        """A frame left (``out``); once a minute, one line: what the viewers got and what detection could do."""
        self._minute[0] += 1
        self._minute[1] += out.obscured_all
        now = self._clock()
        if now - self._minute_t >= SUMMARY_S:
            frames, obscured = self._minute
            log.info("last minute: %d frames out, %.1f%% wholly obscured; detection %.1f Hz at %s px, %.0f ms each",
                     frames, 100.0 * obscured / max(1, frames), st.detect_hz, st.detect_size or "?", st.detector_ms)
            self._minute_t, self._minute = now, [0, 0]
