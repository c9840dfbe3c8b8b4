"""The dashboard, driven by Textual's pilot, against the REAL router gRPC server.

`router.server.serve` runs on 127.0.0.1:0 over a `StaticFleet` (no Ray) with the fake edge and
hosted callers of tests/unit/router_fakes.py; the app talks to it through the real
`GrpcFleetClient`, and test traffic goes through the router's own `Router` service.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from bench.tui_harness import wait_until
from protos.edgefleet.v1 import common_pb2, router_pb2, router_pb2_grpc
from router.fleet_source import StaticFleet
from router.server import RouterServer, serve
from tests.unit.router_fakes import FakeEdge, FakeHosted, make_policy, make_state
from tui.app import EdgeFleetApp, create_app
from tui.backoff import Backoff
from tui.client import GrpcFleetClient
from tui.widgets.confirm_screen import ConfirmScreen
from tui.widgets.connection_banner import ConnectionBanner
from tui.widgets.deployments_table import DeploymentsTable
from tui.widgets.nodes_table import NodesTable
from tui.widgets.scale_screen import ScaleScreen
from tui.widgets.trace_screen import TraceScreen
from tui.widgets.traces_table import TracesTable

pytestmark = pytest.mark.integration
SIZE = (160, 48)  # the grid layout: every panel visible at once
WAIT_S = 20.0  # bound of every poll: generous, the suite shares 2 cores (not a timed assertion)
DEPLOYMENTS = ("domain-router", "clinc-banking", "generalist", "embedder")
# request id -> text; by the scripted fakes: banking specialist, generalist, escalated to hosted
REQUESTS = {
    "tui-balance": "what is my balance",
    "tui-flight": "book a flight to rome",
    "tui-transfer": "transfer money to my savings",
}


@dataclass
class RouterFleet:
    """Starts real routers over in-memory fleets; `close()` stops every one still running."""

    running: list[RouterServer] = field(default_factory=list)

    async def start(self, fleet: StaticFleet, port: int = 0) -> RouterServer:
        """A router on 127.0.0.1:`port` (0: any free port) serving `fleet`, fake edge and hosted."""
        server = await serve(
            make_policy(), fleet, {"big": FakeHosted()}, f"127.0.0.1:{port}", edge=FakeEdge()
        )
        self.running.append(server)
        return server

    async def stop(self, server: RouterServer) -> None:
        """Stop one router (its open WatchFleet streams are cancelled at once)."""
        self.running.remove(server)
        await server.stop(grace=0)

    async def close(self) -> None:
        """Stop whatever is still running."""
        while self.running:
            await self.stop(self.running[-1])


@dataclass
class Router:
    """One running router, its fleet, and the fleet of routers it belongs to."""

    routers: RouterFleet
    server: RouterServer
    fleet: StaticFleet


@pytest.fixture
async def router() -> AsyncIterator[Router]:
    """A router over the test fleet state (two nodes, four deployments, two replicas each)."""
    routers = RouterFleet()
    try:
        fleet = StaticFleet(make_state())
        yield Router(routers, await routers.start(fleet), fleet)
    finally:
        await routers.close()


@asynccontextmanager
async def dashboard(address: str) -> AsyncIterator[tuple[EdgeFleetApp, Pilot[Any]]]:
    """The app over a real GrpcFleetClient, quick snapshots and quick reconnects, first snapshot shown."""
    client = GrpcFleetClient(address, timeout_s=5.0)
    app = create_app(client, min_interval_ms=50, backoff=Backoff(initial_s=0.05, cap_s=0.2, jitter=0.0))
    async with app.run_test(size=SIZE) as pilot:
        await until_version(pilot, app, 1)
        await pilot.pause()
        yield app, pilot


async def until(pilot: Pilot[Any], predicate: Callable[[], object], what: str) -> None:
    """Let the app run until `predicate()` holds (bounded poll with pilot.pause(), no sleeps).

    Stops early when the app has exited: run_test then re-raises the error that ended it.
    """
    await wait_until(pilot, lambda: predicate() or not pilot.app.is_running, timeout_s=WAIT_S, what=what)
    assert pilot.app.is_running, f"the app exited while waiting for {what}"


async def until_version(pilot: Pilot[Any], app: EdgeFleetApp, version: int) -> None:
    """Until the app has rendered a snapshot of at least `version`."""
    await until(
        pilot, lambda: app.snapshot is not None and app.snapshot.version >= version, f"snapshot v{version}"
    )


def cell(table: DataTable[Any], row: str, column: str) -> str:
    """A cell's plain text."""
    return str(table.get_cell(row, column))


async def move_cursor_to(pilot: Pilot[Any], table: DataTable[Any], row_key: str) -> None:
    """Press up to the first row, then down until the row `row_key` is under the cursor."""
    for _ in range(table.row_count):
        await pilot.press("up")
    for _ in range(table.row_count):
        if table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == row_key:
            return
        await pilot.press("down")
    raise AssertionError(f"row {row_key!r} not reachable with the cursor")


async def send(address: str, *requests: router_pb2.InferRequest) -> None:
    """Route `requests` one after the other through the router's Router service."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = router_pb2_grpc.RouterStub(channel)
        for request in requests:
            await stub.Infer(request, timeout=10)


async def test_fleet_state_fills_the_tables(router: Router) -> None:
    state = await router.fleet.state()
    async with dashboard(router.server.address) as (app, _):
        nodes = app.query_one(NodesTable)
        assert nodes.row_keys == [n.name for n in state.nodes] == ["node-0", "node-1"]
        assert [cell(nodes, name, "health") for name in nodes.row_keys] == ["ok", "ok"]
        deployments = app.query_one(DeploymentsTable)
        expected = [
            key
            for dep in state.deployments
            for key in (f"dep:{dep.name}", *(f"rep:{dep.name}:{r.replica_id}" for r in dep.replicas))
        ]
        assert deployments.row_keys == expected
        assert [d.name for d in state.deployments] == list(DEPLOYMENTS)
        for name in DEPLOYMENTS:
            assert cell(deployments, f"dep:{name}", "ready") == "2/2"
            assert cell(deployments, f"rep:{name}:{name}-1", "where") == "node-1 · CPU"
        assert app.snapshot is not None and app.snapshot.version == state.version
        assert [h.name for h in app.snapshot.hosted] == ["big"]
        assert app.connected is True


async def test_routed_requests_show_in_traffic_and_traces(router: Router) -> None:
    async with dashboard(router.server.address) as (app, pilot):
        traces = app.query_one(TracesTable)
        assert traces.row_count == 0
        async with grpc.aio.insecure_channel(router.server.address) as channel:
            stub = router_pb2_grpc.RouterStub(channel)
            for request_id, text in REQUESTS.items():
                reply = await stub.Infer(
                    router_pb2.InferRequest(request_id=request_id, task="classify", text=text), timeout=10
                )
                assert reply.request_id == request_id and reply.results
        await until(
            pilot,
            lambda: app.snapshot is not None and app.snapshot.traffic.requests == len(REQUESTS),
            what="traffic counted",
        )
        await until(pilot, lambda: traces.row_count == len(REQUESTS), "traces listed")
        assert set(traces.row_keys) == set(REQUESTS)
        traffic = app.snapshot.traffic if app.snapshot else None
        assert traffic is not None and (traffic.edge, traffic.hosted) == (2, 1)
        headline = app.query_one("#traffic-headline", Static)
        assert f"{len(REQUESTS)} requests" in str(headline.render())
        assert cell(traces, "tui-balance", "label") == "balance"
        assert cell(traces, "tui-transfer", "tier").startswith("hosted")

        await pilot.press("4")
        assert app.focused is traces
        await move_cursor_to(pilot, traces, "tui-transfer")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TraceScreen), "trace screen")
        screen = app.screen
        assert isinstance(screen, TraceScreen)
        assert screen.trace.request_id == "tui-transfer"
        assert screen.trace.served_by.tier == common_pb2.HOSTED
        steps: DataTable[Any] = screen.query_one("#trace-steps", DataTable)
        assert steps.row_count == len(screen.trace.trace) >= 3  # domain, specialist, ..., hosted
        targets = [str(steps.get_row_at(index)[1]) for index in range(steps.row_count)]
        assert targets == [step.target for step in screen.trace.trace]
        assert any(step.outcome == "escalate" for step in screen.trace.trace)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, TraceScreen), "trace closed")


async def test_traces_list_the_newest_request_first(router: Router) -> None:
    async with dashboard(router.server.address) as (app, pilot):
        traces = app.query_one(TracesTable)
        await send(
            router.server.address,
            *(
                router_pb2.InferRequest(request_id=rid, task="classify", text=text)
                for rid, text in REQUESTS.items()
            ),
        )
        await until(pilot, lambda: traces.row_count == len(REQUESTS), "traces listed")
        assert traces.row_keys == list(reversed(REQUESTS))


async def test_a_batch_request_does_not_crash_the_traces_list(router: Router) -> None:
    async with dashboard(router.server.address) as (app, pilot):
        traces = app.query_one(TracesTable)
        texts = list(REQUESTS.values())[:2]
        await send(
            router.server.address, router_pb2.InferRequest(request_id="batch", task="classify", texts=texts)
        )
        await until(pilot, lambda: traces.row_count == len(texts), "one trace per text")
        assert app.is_running


async def test_scale_a_deployment_with_confirmation(router: Router) -> None:
    async with dashboard(router.server.address) as (app, pilot):
        deployments = app.query_one(DeploymentsTable)
        await pilot.press("2")
        await move_cursor_to(pilot, deployments, "dep:generalist")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ScaleScreen), "scale dialog")
        app.screen.query_one(Input).value = ""
        await pilot.press("5")
        assert router.fleet.actions == []  # nothing happens before the count is confirmed
        await pilot.press("enter")
        await until(pilot, lambda: router.fleet.actions != [], "scale reached the fleet")
        assert router.fleet.actions == [("scale", "generalist", "5")]
        generalist = (await router.fleet.state()).deployment("generalist")
        assert generalist is not None and generalist.desired == 5
        await until(
            pilot,
            lambda: cell(deployments, "dep:generalist", "ready") == "2/5",
            what="new desired count shown",
        )
        await until(pilot, lambda: any(title == "Scale" for _, title, _ in app.notices), "notice")
        assert ("information", "Scale", "generalist: desired replicas 5") in app.notices
        assert cell(deployments, "dep:clinc-banking", "ready") == "2/2"


async def test_drain_a_node_with_confirmation(router: Router) -> None:
    async with dashboard(router.server.address) as (app, pilot):
        nodes = app.query_one(NodesTable)
        await pilot.press("1")
        await move_cursor_to(pilot, nodes, "node-1")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirm dialog")
        await pilot.press("n")  # declined: nothing reaches the fleet
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "dialog closed")
        assert router.fleet.actions == []
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirm dialog")
        await pilot.press("y")
        await until(pilot, lambda: router.fleet.actions != [], "drain reached the fleet")
        assert router.fleet.actions == [("drain", "node-1")]
        await until(pilot, lambda: cell(nodes, "node-1", "health") == "drained", "drained shown")
        assert cell(nodes, "node-0", "health") == "ok"
        await until(pilot, lambda: any(title == "Drain" for _, title, _ in app.notices), "notice")
        assert ("information", "Drain", "node node-1 drained") in app.notices


async def test_reconnects_to_a_router_restarted_on_the_same_port(router: Router) -> None:
    port = router.server.port
    async with dashboard(router.server.address) as (app, pilot):
        banner = app.query_one(ConnectionBanner)
        assert not banner.display
        await router.routers.stop(router.server)  # the router goes away...
        await until(pilot, lambda: banner.display, "unreachable banner")
        assert app.connected is False
        assert "Router unreachable" in str(banner.render())
        assert router.server.address in str(banner.render())
        await until(pilot, lambda: app.backoff.attempt >= 2, "retries with backoff")

        restarted_state = make_state(version=100)  # ...and a new one comes back on the same port
        restarted_state.nodes[0].health = "stale"
        restarted = StaticFleet(restarted_state)
        await router.routers.start(restarted, port)
        await until(pilot, lambda: not banner.display, "reconnected")
        assert app.connected is True
        await until_version(pilot, app, 100)
        nodes = app.query_one(NodesTable)
        await until(pilot, lambda: cell(nodes, "node-0", "health") == "stale", "fresh data")
        assert any(message.startswith("Reconnected") for _, _, message in app.notices)
