"""The coroutines run in Textual workers: the watch loop and one-shot actions.

They never touch widgets; they only post messages (tui.messages) to the app.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from textual.message import Message

from protos.edgefleet.v1 import fleet_pb2
from tui.backoff import Backoff
from tui.client import FleetClient, FleetClientError
from tui.messages import ActionFinished, ConnectionChanged, SnapshotReceived


class MessageTarget(Protocol):
    """What the workers need from the app."""

    client: FleetClient
    backoff: Backoff
    min_interval_ms: int

    def post_message(self, message: Message) -> bool:
        """Queue a message for the app."""
        ...


def describe_error(error: BaseException) -> str:
    """A one-line, traceback-free description for the banner or a notification."""
    if isinstance(error, FleetClientError):
        return str(error)
    return f"{type(error).__name__}: {error}"


async def watch_forever(app: MessageTarget) -> None:
    """Follow WatchFleet; on any failure post a ConnectionChanged and retry after a capped backoff."""
    while True:
        connected = False
        try:
            async for snapshot in app.client.watch(app.min_interval_ms):
                received_at = time.perf_counter()
                if not connected:
                    connected = True
                    app.backoff.reset()
                    app.post_message(ConnectionChanged(True))
                app.post_message(SnapshotReceived(snapshot, received_at))
            error = "the watch stream ended"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - anything else must become a banner, not a traceback
            error = describe_error(exc)
        delay = app.backoff.next_delay()
        app.post_message(ConnectionChanged(False, error=error, retry_in_s=delay, attempt=app.backoff.attempt))
        await asyncio.sleep(delay)


async def run_action(
    app: MessageTarget, title: str, call: Callable[[], Coroutine[Any, Any, fleet_pb2.ActionResult]]
) -> None:
    """Run one action and post its result (or its error) as an ActionFinished."""
    try:
        result = await call()
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported to the operator as a notification
        app.post_message(ActionFinished(title, False, describe_error(exc)))
        return
    app.post_message(ActionFinished(title, result.ok, result.message or ("done" if result.ok else "refused")))
