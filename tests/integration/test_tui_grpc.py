"""The dashboard and GrpcFleetClient against a real grpc.aio Fleet server on 127.0.0.1.

The server is a small scripted FleetServicer (fixed demo data, mutated by Scale/Drain), so this
tests the TUI's side of the wire protocol independently of the router's implementation.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import cast

import grpc
import grpc.aio
import pytest

from bench.tui_harness import wait_for_snapshot, wait_until
from protos.edgefleet.v1 import fleet_pb2, fleet_pb2_grpc
from tui.app import create_app
from tui.backoff import Backoff
from tui.client import FleetClientError, GrpcFleetClient, RouterUnavailable
from tui.demo import build_demo_snapshot
from tui.widgets.connection_banner import ConnectionBanner
from tui.widgets.deployments_table import DeploymentsTable
from tui.widgets.scale_screen import ScaleScreen

pytestmark = pytest.mark.integration


class ScriptedFleet(fleet_pb2_grpc.FleetServicer):
    """Serves one snapshot; Scale changes `desired`/`ready` and wakes the watchers."""

    def __init__(self) -> None:
        self.snapshot = build_demo_snapshot()
        self.changed = asyncio.Event()
        self.calls: list[str] = []

    def _bump(self) -> None:
        self.snapshot.version += 1
        self.changed.set()
        self.changed = asyncio.Event()

    async def GetFleet(
        self, request: fleet_pb2.GetFleetRequest, context: grpc.aio.ServicerContext
    ) -> fleet_pb2.FleetSnapshot:
        self.calls.append("GetFleet")
        return self.snapshot

    async def WatchFleet(
        self, request: fleet_pb2.WatchFleetRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[fleet_pb2.FleetEvent]:
        self.calls.append(f"WatchFleet({request.min_interval_ms})")
        while True:
            changed = self.changed
            yield fleet_pb2.FleetEvent(snapshot=self.snapshot)
            await changed.wait()

    async def Scale(
        self, request: fleet_pb2.ScaleRequest, context: grpc.aio.ServicerContext
    ) -> fleet_pb2.ActionResult:
        self.calls.append(f"Scale({request.deployment},{request.replicas})")
        found = [d for d in self.snapshot.deployments if d.name == request.deployment]
        if not found:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no deployment {request.deployment!r}")
        found[0].desired = found[0].ready = request.replicas
        self._bump()
        return fleet_pb2.ActionResult(
            ok=True, message=f"scaled to {request.replicas}", snapshot_version=self.snapshot.version
        )

    async def Drain(
        self, request: fleet_pb2.DrainRequest, context: grpc.aio.ServicerContext
    ) -> fleet_pb2.ActionResult:
        self.calls.append(f"Drain({request.node},{request.undrain})")
        return fleet_pb2.ActionResult(ok=False, message="node is the last one hosting generalist")

    async def ReloadPolicy(
        self, request: fleet_pb2.ReloadPolicyRequest, context: grpc.aio.ServicerContext
    ) -> fleet_pb2.ActionResult:
        self.calls.append("ReloadPolicy")
        return fleet_pb2.ActionResult(ok=True, message="policy reloaded")


async def start_server(servicer: ScriptedFleet, port: int = 0) -> tuple[grpc.aio.Server, int]:
    """A grpc.aio server on 127.0.0.1 (port 0: any free port)."""
    server = grpc.aio.server()
    fleet_pb2_grpc.add_FleetServicer_to_server(servicer, server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server, bound


async def test_grpc_client_calls_and_error_translation() -> None:
    servicer = ScriptedFleet()
    server, port = await start_server(servicer)
    client = GrpcFleetClient(f"127.0.0.1:{port}", timeout_s=2.0)
    try:
        snapshot = await client.get()
        assert [n.name for n in snapshot.nodes] == [n.name for n in servicer.snapshot.nodes]
        stream = cast(AsyncGenerator[fleet_pb2.FleetSnapshot, None], client.watch(min_interval_ms=250))
        first = await anext(stream)
        assert first.version == servicer.snapshot.version
        result = await client.scale("generalist", 3)
        assert result.ok and result.message == "scaled to 3"
        second = await anext(stream)
        assert [d.desired for d in second.deployments if d.name == "generalist"] == [3]
        await stream.aclose()
        refused = await client.drain("edge-head")
        assert not refused.ok
        assert (await client.reload_policy()).ok
        with pytest.raises(FleetClientError, match="NOT_FOUND"):
            await client.scale("nope", 1)
        assert "WatchFleet(250)" in servicer.calls
    finally:
        await client.close()
        await server.stop(grace=None)
    unreachable = GrpcFleetClient(f"127.0.0.1:{port}", timeout_s=1.0)
    try:
        with pytest.raises(RouterUnavailable):
            await unreachable.get()
        with pytest.raises(RouterUnavailable):
            await anext(unreachable.watch())
    finally:
        await unreachable.close()


async def test_dashboard_over_grpc_scales_and_survives_a_router_restart() -> None:
    servicer = ScriptedFleet()
    server, port = await start_server(servicer)
    client = GrpcFleetClient(f"127.0.0.1:{port}", timeout_s=2.0)
    app = create_app(client, min_interval_ms=50, backoff=Backoff(initial_s=0.05, cap_s=0.2, jitter=0.0))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_snapshot(pilot, app)
            deployments = app.query_one(DeploymentsTable)
            await pilot.press("2")
            assert deployments.selected_deployment() == "domain-router"
            await pilot.press("s")
            await wait_until(pilot, lambda: isinstance(app.screen, ScaleScreen), what="scale dialog")
            await pilot.press("backspace", "3", "enter")
            await wait_until(
                pilot,
                lambda: str(deployments.get_cell("dep:domain-router", "ready")) == "3/3",
                what="scaled deployment shown",
            )
            assert "Scale(domain-router,3)" in servicer.calls

            await server.stop(grace=None)  # the router goes away...
            banner = app.query_one(ConnectionBanner)
            await wait_until(pilot, lambda: banner.display, what="unreachable banner")
            await wait_until(pilot, lambda: app.backoff.attempt >= 2, what="retries with backoff")

            servicer = ScriptedFleet()  # ...and a fresh one comes back on the same port
            servicer.snapshot.version = 100
            server, _ = await start_server(servicer, port)
            await wait_until(pilot, lambda: not banner.display, timeout_s=10.0, what="reconnected")
            await wait_for_snapshot(pilot, app, min_version=100)
            assert str(deployments.get_cell("dep:domain-router", "ready")) == "2/2"
    finally:
        await server.stop(grace=None)
