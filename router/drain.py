"""Finishing what was accepted: the deadlines of the requests in flight, so that a graceful
shutdown waits for them (and no longer than the latest of them), and the time kept at the end of
each request's deadline to get its answer back to the caller.

Shutdown order (:meth:`router.server.RouterServer.stop`): health NOT_SERVING first, then stop
accepting, then wait for the requests in flight up to the latest deadline among them
(:meth:`Inflight.wait_idle`), then close.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable

SHUTDOWN_MARGIN_S = 0.5  # beyond the latest deadline: time to write the last answers


def reserve_s(reserve_ms: float, budget_ms: float) -> float:
    """Seconds kept at the end of a `budget_ms` request for answering it: ``router.response_reserve_ms``,
    at most a tenth of the budget."""
    return max(0.0, min(reserve_ms, budget_ms / 10.0)) / 1000.0


class Inflight:
    """The requests in flight and their deadlines (on ``time.monotonic``, whatever clock routes)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._deadlines: dict[int, float] = {}
        self._ids = itertools.count()
        self._idle: asyncio.Event | None = None

    def __len__(self) -> int:
        return len(self._deadlines)

    def add(self, budget_s: float) -> int:
        """A request with `budget_s` to go starts; returns its token for :meth:`remove`."""
        token = next(self._ids)
        self._deadlines[token] = self._clock() + max(0.0, budget_s)
        if self._idle is not None:
            self._idle.clear()
        return token

    def remove(self, token: int) -> None:
        """The request of `token` is done (answered, failed or cancelled)."""
        self._deadlines.pop(token, None)
        if not self._deadlines and self._idle is not None:
            self._idle.set()

    def latest_deadline_s(self) -> float:
        """Seconds until the latest deadline of the requests in flight (0 when none)."""
        if not self._deadlines:
            return 0.0
        return max(0.0, max(self._deadlines.values()) - self._clock())

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no request is in flight, at most `timeout_s`; True when none is left."""
        if not self._deadlines:
            return True
        if self._idle is None:
            self._idle = asyncio.Event()
        try:
            async with asyncio.timeout(max(0.0, timeout_s)):
                await self._idle.wait()
        except TimeoutError:
            return not self._deadlines
        return True
