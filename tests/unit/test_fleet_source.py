"""router.fleet_source: the StaticFleet in-memory fleet source."""

from __future__ import annotations

import asyncio

import pytest

from fleet.errors import UnknownDeployment, UnknownNode
from router.fleet_source import FleetSource, StaticFleet
from tests.unit.router_fakes import make_state


async def test_static_fleet_actions_bump_the_version() -> None:
    fleet: FleetSource = StaticFleet(make_state())
    assert (await fleet.state()).version == 1
    assert "desired replicas 5" in await fleet.scale("generalist", 5)
    st = await fleet.state()
    assert st.version == 2 and st.deployment("generalist").desired == 5  # type: ignore[union-attr]
    assert "drained" in await fleet.drain("node-1")
    assert (await fleet.state()).node("n1").drained  # type: ignore[union-attr]
    assert "undrained" in await fleet.drain("n1", undrain=True)
    assert await fleet.apply_policy("version: 1") == "policy applied"
    with pytest.raises(UnknownDeployment):
        await fleet.scale("nope", 1)
    with pytest.raises(UnknownNode):
        await fleet.drain("nope")


async def test_static_fleet_watch_wakes_on_change_and_times_out() -> None:
    fleet = StaticFleet(make_state())
    waiter = asyncio.create_task(fleet.watch(1, timeout_s=10))
    await asyncio.sleep(0)
    fleet.set_state(make_state(version=1))  # same version: raised to 2
    assert (await asyncio.wait_for(waiter, 5)).version == 2
    assert (await fleet.watch(2, timeout_s=0.01)).version == 2  # timeout: the latest
