"""What clients that are slow on purpose (or broken) may hold of ``--serve``'s web server.

A client holds a connection by never finishing its request: headers sent a byte at a time, or a body announced
and never sent. aiohttp has no limit for either by itself beyond its 75 s keep-alive. The guard bounds both in
time and in number, so that the page and the stream stay open to a normal viewer under a thousand of them:

* headers: a connection must send a whole request head within ``HEADER_S`` (aiohttp's keep-alive timer, which
  runs from the connection's start, set to it); and at most ``MAX_WAITING`` connections may wait for their head
  at once: a new one closes the oldest (a normal client sends its head at once, so it is never the oldest);
* bodies: a body is read within ``BODY_S`` (else 408), and at most ``MAX_BODIES`` are read at once (else 503).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

HEADER_S = 5.0
BODY_S = 5.0
MAX_WAITING = 64
MAX_BODIES = 16


class ConnectionGuard:
    """Attach to a runner's low-level server (``attach``) once it is set up; call ``begun`` for every request
    (a middleware) and read bodies with ``body``. Runs on the server's event loop only."""

    def __init__(self, max_waiting: int = MAX_WAITING, max_bodies: int = MAX_BODIES, body_s: float = BODY_S):
        self.max_waiting, self.max_bodies, self.body_s = max_waiting, max_bodies, body_s
        self._waiting: dict[Any, None] = {}  # connections with no request yet, oldest first
        self._bodies = 0
        self.closed = 0  # connections closed for waiting too long or too many

    def attach(self, server: Any) -> None:
        """Hook ``server`` (``web.AppRunner.server``): its ``connection_made`` / ``connection_lost``, which every
        connection's protocol calls, also keep the list of connections still waiting for a request head."""
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: Any, transport: Any) -> None:
            made(handler, transport)
            self._waiting[handler] = None
            while len(self._waiting) > self.max_waiting:
                oldest = next(iter(self._waiting))
                del self._waiting[oldest]
                self.closed += 1
                oldest.force_close()

        def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
            self._waiting.pop(handler, None)
            lost(handler, exc)

        server.connection_made, server.connection_lost = connection_made, connection_lost

    def begun(self, request: web.Request) -> None:
        """``request``'s head is in: its connection no longer counts as waiting."""
        self._waiting.pop(request.protocol, None)

    async def body(self, request: web.Request) -> bytes:
        """The request's body, read within ``body_s``; raises 408 (too slow) or 503 (too many at once)."""
        if self._bodies >= self.max_bodies:
            raise web.HTTPServiceUnavailable(text="too many requests at once; try again\n")
        self._bodies += 1
        try:
            return await asyncio.wait_for(request.read(), self.body_s)
        except asyncio.TimeoutError:
            raise web.HTTPRequestTimeout(text=f"the request body did not arrive within {self.body_s:g} s\n") from None
        finally:
            self._bodies -= 1
