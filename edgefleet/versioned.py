"""A value with a version number that async waiters can follow (no polling, no sleeps)."""

from __future__ import annotations

import asyncio
import time
from typing import Any


class Versioned:
    """A state holder whose waiters wake on every new version."""

    def __init__(self) -> None:
        self.current: Any = None
        self.synced_unix: float | None = None  # when the value was last published or confirmed
        self._changed = asyncio.Event()

    def publish(self, state: Any) -> None:
        """Make `state` current and wake every waiter."""
        self.current = state
        self.synced_unix = time.time()
        self._changed.set()
        self._changed = asyncio.Event()

    def confirm(self) -> None:
        """The source said the current value is still current (e.g. a long-poll timed out)."""
        self.synced_unix = time.time()

    async def wait_newer(self, after_version: int, timeout_s: float | None) -> Any:
        """The current value once its ``version`` exceeds `after_version` (or on timeout)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self.current is None or self.current.version <= after_version:
            changed = self._changed
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            try:
                await asyncio.wait_for(changed.wait(), left)
            except TimeoutError:
                break
        return self.current
