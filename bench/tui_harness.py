"""Helpers for driving the dashboard in tests and scripts (pilot polling, demo clients)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from tui.app import EdgeFleetApp, create_app
from tui.backoff import Backoff
from tui.demo import build_demo_snapshot
from tui.memory_client import MemoryFleetClient


async def wait_until(
    pilot: Pilot[Any], predicate: Callable[[], object], timeout_s: float = 5.0, what: str = "condition"
) -> None:
    """Let the app run until `predicate()` is truthy; fail after `timeout_s` (bounded poll, no sleeps)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await pilot.pause(0.01)


def demo_app(
    *, unreachable: bool = False, backoff: Backoff | None = None, **options: Any
) -> tuple[EdgeFleetApp, MemoryFleetClient]:
    """An app over a MemoryFleetClient holding the fixed demo snapshot (no demo driver: static data)."""
    client = MemoryFleetClient(build_demo_snapshot(), address="memory")
    client.unreachable = unreachable
    app = create_app(
        client,
        min_interval_ms=0,
        backoff=backoff or Backoff(initial_s=0.01, cap_s=0.05, jitter=0.0),
        **options,
    )
    return app, client


async def wait_for_snapshot(pilot: Pilot[Any], app: EdgeFleetApp, min_version: int = 1) -> None:
    """Wait until the app has rendered a snapshot of at least `min_version`."""
    await wait_until(
        pilot,
        lambda: app.snapshot is not None and app.snapshot.version >= min_version,
        what=f"snapshot v{min_version}",
    )
    await pilot.pause()
