"""router.fleet_view: a stale copy of the fleet turns the router's health NOT_SERVING."""

from __future__ import annotations

from router.fleet_view import FleetViewWatch, fleet_view_status


class Source:
    """A fleet source with a view age (remote_view) or without (an in-memory fleet)."""

    def __init__(self, synced: float | None, remote: bool = True, error: str | None = None) -> None:
        self.synced_unix = synced
        self.remote_view = remote
        self.last_error = error


def test_status_by_age() -> None:
    assert fleet_view_status(Source(100.0), 30.0, now=120.0).status == "ok"
    stale = fleet_view_status(Source(100.0, error="RayActorError: gone"), 30.0, now=145.0)
    assert stale.degraded and stale.age_s == 45.0
    assert "45 s" in stale.reason and "RayActorError" in stale.reason and "last known fleet" in stale.reason
    assert not fleet_view_status(Source(100.0, remote=False), 30.0, now=1000.0).degraded  # StaticFleet
    assert fleet_view_status(Source(None), 30.0, now=1.0).status == "ok"


async def test_watch_flips_health_on_transitions_only() -> None:
    calls: list[bool] = []
    now = [100.0]

    async def set_serving(serving: bool) -> None:
        calls.append(serving)

    source = Source(100.0)
    watch = FleetViewWatch(source, 10.0, set_serving, clock=lambda: now[0])
    assert not (await watch.check()).degraded and calls == []
    now[0] = 111.0
    assert (await watch.check()).degraded and calls == [False]
    await watch.check()
    assert calls == [False]  # no repeat
    source.synced_unix = 111.0  # the control plane answered again
    assert not (await watch.check()).degraded and calls == [False, True]
    assert watch.interval_s == 1.0 and FleetViewWatch(source, 2.0, set_serving).interval_s == 0.5
