"""fleet.ray_adapter.fleet_source.RayFleetSource over a fake ControllerClient (no Ray started)."""

from __future__ import annotations

import asyncio
import contextlib
import copy

from edgefleet.state import FleetState
from fleet.ray_adapter.fleet_source import RayFleetSource
from tests.unit.router_fakes import make_state


class FakeController:
    """The ControllerClient surface: a long-poll get_state plus actions."""

    def __init__(self) -> None:
        self.state = make_state()
        self.changed = asyncio.Event()
        self.fail_polls = 0
        self.polls = 0
        self.epochs: list[str] = []

    async def get_state(self, min_version: int = 0, timeout_s: float = 0, epoch: str = "") -> FleetState:
        self.polls += 1
        self.epochs.append(epoch)
        if epoch and epoch != self.state.epoch:  # as the controller: another epoch answers at once
            timeout_s = 0
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


async def test_a_restarted_controller_is_followed_with_versions_that_only_go_up() -> None:
    ctl = FakeController()
    ctl.state.epoch = "first"
    ctl.state.version = 7
    source = RayFleetSource(ctl, poll_timeout_s=5.0, retry_s=0.01)
    await source.start()
    try:
        assert (await source.state()).version == 7 and source.epoch == "first"
        ctl.state.epoch = "second"  # Ray restarted the controller: its versions start again
        ctl.state.version = 1
        ctl.state.events = ["adopted 2 running replica(s)"]
        ctl.changed.set()
        state = await source.watch(7, timeout_s=5)
        assert state.version == 8 and state.events == ["adopted 2 running replica(s)"]
        assert source.epoch == "second" and source.restarts_seen == 1
        ctl.bump()  # remote 2 -> local 9
        assert (await source.watch(8, timeout_s=5)).version == 9
        assert ctl.epochs[-1] == "second"  # long-polls name the epoch they know
    finally:
        await source.aclose()
