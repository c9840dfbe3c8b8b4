"""Messages the background workers post to the app (the only way I/O reaches the UI)."""

from __future__ import annotations

from textual.message import Message

from protos.edgefleet.v1 import fleet_pb2


class SnapshotReceived(Message):
    """A new fleet snapshot arrived on the watch stream."""

    def __init__(self, snapshot: fleet_pb2.FleetSnapshot, received_at: float) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.received_at = received_at
        """time.perf_counter() when the worker got it (for latency measurements)."""


class ConnectionChanged(Message):
    """The watch stream connected, or broke and a reconnection is scheduled."""

    def __init__(self, connected: bool, error: str = "", retry_in_s: float = 0.0, attempt: int = 0) -> None:
        super().__init__()
        self.connected = connected
        self.error = error
        self.retry_in_s = retry_in_s
        self.attempt = attempt


class ActionFinished(Message):
    """An operator action (scale, drain, undrain, reload) completed or failed."""

    def __init__(self, action: str, ok: bool, message: str) -> None:
        super().__init__()
        self.action = action
        self.ok = ok
        self.message = message
