"""StaticFleet and RayFleetSource (over a fake ControllerClient)."""

from __future__ import annotations

import asyncio
import contextlib
import copy

import pytest

from edgefleet.state import FleetState
from fleet.errors import UnknownDeployment, UnknownNode
from router.fleet_view import FleetSource, RayFleetSource, StaticFleet
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


class FakeController:
    """The ControllerClient surface: a long-poll get_state plus actions."""

    def __init__(self) -> None:
        self.state = make_state()
        self.changed = asyncio.Event()
        self.fail_polls = 0
        self.polls = 0

    async def get_state(self, min_version: int = 0, timeout_s: float = 0) -> FleetState:
        self.polls += 1
        if self.fail_polls:
            self.fail_polls -= 1
            raise RuntimeError("controller restarting")
        if self.state.version <= min_version and timeout_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), timeout_s)
        self.changed.clear()
        return copy.deepcopy(self.state)

    def bump(self) -> None:
        self.state.version += 1
        self.changed.set()

    async def scale(self, deployment: str, replicas: int) -> str:
        return f"scaled {deployment} to {replicas}"

    async def drain(self, node: str, undrain: bool = False) -> str:
        return f"drain {node} {undrain}"

    async def apply_policy(self, text: str) -> str:
        return "applied"


async def test_ray_fleet_source_keeps_a_local_copy_fresh() -> None:
    ctl = FakeController()
    source = RayFleetSource(ctl, poll_timeout_s=5.0, retry_s=0.01)
    await source.start()
    try:
        assert (await source.state()).version == 1
        polls = ctl.polls
        for _ in range(20):
            await source.state()
        assert ctl.polls - polls <= 1  # reading the state is local
        ctl.bump()
        assert (await source.watch(1, timeout_s=5)).version == 2
        ctl.fail_polls = 2
        ctl.bump()
        assert (await source.watch(2, timeout_s=5)).version == 3  # survived the failures
        assert await source.scale("g", 2) == "scaled g to 2"
        assert await source.drain("n", True) == "drain n True"
        assert await source.apply_policy("x") == "applied"
    finally:
        await source.aclose()
