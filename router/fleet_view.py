"""How fresh the router's view of the fleet is, and what the router says about it.

The router routes with a local copy of the controller's snapshot (``FleetSource``). When the
control plane is unreachable (the controller restarting, the Ray GCS lost) it keeps routing with
the last copy it has, but says so: past ``router.fleet_view_max_age_s`` the view is *degraded*,
the router's gRPC health (overall and ``edgefleet.v1.Router``) reports NOT_SERVING so a load
balancer can prefer a router with a fresh view, and ``GetFleet`` / the dashboard / ``edgefleet
status`` show the degraded status with the view's age. Requests are still answered.

Only sources that copy a remote state (``remote_view = True``, e.g. the Ray one) can go stale;
an in-memory ``StaticFleet`` is always current.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

OK, DEGRADED = "ok", "degraded"


@dataclass(frozen=True)
class FleetViewStatus:
    """`status` ``ok`` or ``degraded``; `age_s` of the view (-1 when unknown); `reason`."""

    status: str
    age_s: float
    reason: str = ""

    @property
    def degraded(self) -> bool:
        """True when the view is older than the bound."""
        return self.status == DEGRADED


def fleet_view_status(fleet: Any, max_age_s: float, now: float | None = None) -> FleetViewStatus:
    """The status of `fleet`'s view: degraded when it copies a remote state last confirmed more
    than `max_age_s` ago (with the source's last error in the reason, when it has one)."""
    synced = getattr(fleet, "synced_unix", None)
    if not getattr(fleet, "remote_view", False) or synced is None:
        return FleetViewStatus(OK, 0.0 if synced is None else max(0.0, (now or time.time()) - synced))
    age = max(0.0, (now if now is not None else time.time()) - float(synced))
    if age <= max_age_s:
        return FleetViewStatus(OK, age)
    error = getattr(fleet, "last_error", None)
    reason = f"no word from the control plane for {age:.0f} s (bound {max_age_s:.0f} s)"
    if error:
        reason += f": {error}"
    return FleetViewStatus(DEGRADED, age, reason + "; routing with the last known fleet")


SetHealth = Callable[[bool], Awaitable[None]]


class FleetViewWatch:
    """Checks the view's age every `interval_s` and calls `set_serving(False)` when it turns
    degraded, `set_serving(True)` when it is fresh again (transitions only, each logged)."""

    def __init__(
        self,
        fleet: Any,
        max_age_s: float,
        set_serving: SetHealth,
        *,
        interval_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.fleet = fleet
        self.max_age_s = max_age_s
        self._set_serving = set_serving
        self.interval_s = interval_s if interval_s is not None else min(1.0, max_age_s / 4)
        self._clock = clock
        self.serving = True
        self._task: asyncio.Task[None] | None = None

    def status(self) -> FleetViewStatus:
        """The view's status now."""
        return fleet_view_status(self.fleet, self.max_age_s, self._clock())

    async def check(self) -> FleetViewStatus:
        """One check: flip the health when the status changed."""
        status = self.status()
        if status.degraded and self.serving:
            self.serving = False
            log.warning("fleet view degraded: %s; health NOT_SERVING", status.reason)
            await self._set_serving(False)
        elif not status.degraded and not self.serving:
            self.serving = True
            log.info("fleet view fresh again (%.1f s old); health SERVING", status.age_s)
            await self._set_serving(True)
        return status

    def start(self) -> None:
        """Check in the background every `interval_s` (a periodic timer, not a synchronisation)."""
        if self._task is None and getattr(self.fleet, "remote_view", False):
            self._task = asyncio.get_running_loop().create_task(self._run(), name="edgefleet-fleet-view")

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:  # the watch never dies on one error
                log.exception("fleet view check failed")
            await asyncio.sleep(self.interval_s)

    async def stop(self) -> None:
        """Stop checking."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
