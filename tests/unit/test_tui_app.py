"""Pilot-driven tests of the dashboard over the in-memory FleetClient."""

from __future__ import annotations

from collections.abc import AsyncIterator

from textual.widgets import DataTable, Input, Tabs

from bench.tui_harness import demo_app, wait_for_snapshot, wait_until
from protos.edgefleet.v1 import fleet_pb2
from tui.app import create_app
from tui.backoff import Backoff
from tui.memory_client import MemoryFleetClient
from tui.widgets.confirm_screen import ConfirmScreen
from tui.widgets.connection_banner import ConnectionBanner
from tui.widgets.deployments_table import DeploymentsTable
from tui.widgets.nodes_table import NodesTable
from tui.widgets.scale_screen import ScaleScreen
from tui.widgets.trace_screen import TraceScreen
from tui.widgets.traces_table import TracesTable


async def test_first_snapshot_fills_every_panel() -> None:
    app, client = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_snapshot(pilot, app)
        nodes = app.query_one(NodesTable)
        assert nodes.row_keys == [n.name for n in client.snapshot.nodes]
        deployments = app.query_one(DeploymentsTable)
        assert "dep:clinc-banking" in deployments.row_keys
        assert any(key.startswith("rep:clinc-banking:") for key in deployments.row_keys)
        assert app.query_one(TracesTable).row_count == len(client.snapshot.recent)
        assert isinstance(app.focused, NodesTable)


async def test_live_updates_change_cells_in_place() -> None:
    app, client = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_snapshot(pilot, app)
        nodes = app.query_one(NodesTable)
        await pilot.press("down", "down")
        client.update(lambda snap: setattr(snap.nodes[3], "cpu_percent", 97.0))
        await wait_until(pilot, lambda: str(nodes.get_cell("kiosk-3", "cpu")) == "97%", what="cpu update")
        assert nodes.selected_node() == "store-2"  # the cursor stayed where it was


async def test_keys_and_mouse_switch_panels() -> None:
    app, _ = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_snapshot(pilot, app)
        assert app.query_one("#panel-tabs", Tabs).display
        await pilot.press("2")
        assert app.active_panel == "deployments"
        assert isinstance(app.focused, DeploymentsTable)
        assert app.query_one("#panel-deployments").display and not app.query_one("#panel-nodes").display
        await pilot.press("4")
        assert isinstance(app.focused, TracesTable)
        await pilot.click("#tab-traffic")
        await pilot.pause()
        assert app.active_panel == "traffic"
        assert app.query_one("#panel-traffic").display


async def test_large_terminal_shows_every_panel_in_a_grid() -> None:
    app, _ = demo_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for_snapshot(pilot, app)
        assert not app.query_one("#panel-tabs", Tabs).display
        for name in ("nodes", "deployments", "traffic", "traces"):
            assert app.query_one(f"#panel-{name}").display, name
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert app.query_one("#panel-tabs", Tabs).display
        assert not app.query_one("#panel-traces").display


async def test_selecting_a_request_opens_its_trace() -> None:
    app, client = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_snapshot(pilot, app)
        await pilot.press("4", "down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TraceScreen), what="trace screen")
        screen = app.screen
        assert isinstance(screen, TraceScreen)
        assert screen.trace.request_id == client.snapshot.recent[1].request_id
        steps: DataTable[object] = screen.query_one("#trace-steps", DataTable)
        assert steps.row_count == len(client.snapshot.recent[1].trace)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, TraceScreen), what="trace closed")


async def test_scale_asks_for_a_count_then_scales() -> None:
    app, client = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_snapshot(pilot, app)
        await pilot.press("2", "down", "down", "down")  # a replica row of clinc-banking
        assert app.query_one(DeploymentsTable).selected_deployment() == "clinc-banking"
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, ScaleScreen), what="scale dialog")
        app.screen.query_one(Input).value = ""
        await pilot.press("4", "enter")
        await wait_until(pilot, lambda: ("scale", "clinc-banking", "4") in client.actions, what="scale call")
        await wait_until(pilot, lambda: app.notices and app.notices[-1][1] == "Scale", what="notice")
        deployments = app.query_one(DeploymentsTable)
        await wait_until(
            pilot,
            lambda: str(deployments.get_cell("dep:clinc-banking", "ready")) == "4/4",
            what="ready 4/4 shown",
        )


async def test_scale_can_be_cancelled_and_rejects_bad_counts() -> None:
    app, client = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_snapshot(pilot, app)
        await pilot.press("2", "s")
        await wait_until(pilot, lambda: isinstance(app.screen, ScaleScreen), what="scale dialog")
        app.screen.query_one(Input).value = "999"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ScaleScreen)  # still open, with an error line
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ScaleScreen), what="dialog closed")
        assert client.actions == []


async def test_drain_then_undrain_a_node_with_confirmation() -> None:
    app, client = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_snapshot(pilot, app)
        await pilot.press("1", "down")  # store-1
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm dialog")
        await pilot.press("n")
        await pilot.pause()
        assert client.actions == []
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm dialog")
        await pilot.press("y")
        nodes = app.query_one(NodesTable)
        await wait_until(pilot, lambda: str(nodes.get_cell("store-1", "health")) == "drained", what="drained")
        assert client.actions == [("drain", "store-1")]
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm dialog")
        assert "Undrain" in app.screen.question  # type: ignore[attr-defined]
        await pilot.press("y")
        await wait_until(pilot, lambda: str(nodes.get_cell("store-1", "health")) == "healthy", what="healthy")
        assert client.actions[-1] == ("undrain", "store-1")


async def test_refused_and_failed_actions_become_error_notifications() -> None:
    app, client = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_snapshot(pilot, app)
        client.fail_actions = "policy invalid: routes[0].candidates [line 12]"
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm dialog")
        await pilot.press("y")
        await wait_until(pilot, lambda: any(s == "error" for s, _, _ in app.notices), what="error notice")
        assert app.notices[-1] == (
            "error",
            "Reload policy failed",
            "policy invalid: routes[0].candidates [line 12]",
        )
        client.fail_actions = None
        client.set_unreachable(True)
        await wait_until(pilot, lambda: app.connected is False, what="disconnected")
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm dialog")
        await pilot.press("y")
        await wait_until(pilot, lambda: "UNAVAILABLE" in app.notices[-1][2], what="unreachable notice")


async def test_reconnects_after_the_router_comes_back() -> None:
    app, client = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_snapshot(pilot, app)
        banner = app.query_one(ConnectionBanner)
        assert not banner.display
        client.set_unreachable(True)
        await wait_until(pilot, lambda: banner.display, what="banner")
        assert "Router unreachable" in str(banner.render())
        assert app.connected is False
        await wait_until(pilot, lambda: client.watch_calls >= 3, what="retries")
        client.set_unreachable(False)
        client.update(lambda snap: setattr(snap.nodes[0], "health", "degraded"))
        await wait_until(pilot, lambda: not banner.display, what="banner gone")
        assert app.connected is True
        await wait_until(
            pilot,
            lambda: str(app.query_one(NodesTable).get_cell("edge-head", "health")) == "degraded",
            what="fresh data",
        )
        assert app.notices[-1][2].startswith("Reconnected")


async def test_unexpected_client_errors_become_a_banner_not_a_traceback() -> None:
    class BrokenClient(MemoryFleetClient):
        async def watch(self, min_interval_ms: int = 500) -> AsyncIterator[fleet_pb2.FleetSnapshot]:
            self.watch_calls += 1
            raise RuntimeError("decoder exploded")
            yield fleet_pb2.FleetSnapshot()  # pragma: no cover - makes this an async generator

    client = BrokenClient(fleet_pb2.FleetSnapshot())
    app = create_app(client, backoff=Backoff(initial_s=0.01, cap_s=0.02, jitter=0))
    async with app.run_test(size=(80, 24)) as pilot:
        banner = app.query_one(ConnectionBanner)
        await wait_until(pilot, lambda: client.watch_calls >= 2, what="retries")
        assert banner.display
        assert "RuntimeError: decoder exploded" in str(banner.render())
        assert app.is_running


async def test_theme_toggles_between_light_and_dark() -> None:
    app, _ = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.theme == "textual-dark"
        await pilot.press("t")
        assert app.theme == "textual-light"
        await pilot.press("t")
        assert app.theme == "textual-dark"


async def test_closing_the_app_closes_the_client() -> None:
    app, client = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_snapshot(pilot, app)
        await pilot.press("q")
    assert client.closed


async def test_snapshots_keep_rendering_while_a_dialog_is_open() -> None:
    app, client = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_snapshot(pilot, app)
        await pilot.press("2", "s")
        await wait_until(pilot, lambda: isinstance(app.screen, ScaleScreen), what="scale dialog")
        client.update(lambda snap: setattr(snap.nodes[1], "cpu_percent", 88.0))
        nodes = app._dashboard().query_one(NodesTable)
        await wait_until(pilot, lambda: str(nodes.get_cell("store-1", "cpu")) == "88%", what="cpu update")
        assert isinstance(app.screen, ScaleScreen)


async def test_dialogs_work_with_the_mouse() -> None:
    app, client = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_snapshot(pilot, app)
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm dialog")
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: client.actions == [("reload",)], what="reload call")
        await wait_until(pilot, lambda: app.notices[-1][1] == "Reload policy", what="notice")


MARKUP = "[/] [link=https://evil.example]click me[/link] [bold red]x"


async def test_request_text_and_names_are_shown_as_text_never_as_markup() -> None:
    """Rich markup in request text, a trace step or a node name neither crashes the dashboard
    (``[/]`` closes nothing) nor becomes a link: it is shown as typed."""
    app, client = demo_app()

    def inject(snap: fleet_pb2.FleetSnapshot) -> None:
        snap.recent[0].text = MARKUP
        snap.recent[0].request_id = "[/]"
        snap.recent[0].trace[0].reason = MARKUP
        snap.nodes[0].name = "[link=https://evil.example]n[/link]"

    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for_snapshot(pilot, app)
        client.update(inject)
        traces = app.query_one(TracesTable)
        await wait_until(pilot, lambda: "[/]" in traces.row_keys, what="the injected trace")
        cell = traces.get_cell("[/]", "text")
        assert MARKUP.startswith(str(cell)[:20]) and not any(
            s.style and "link" in str(s.style) for s in cell.spans
        )
        nodes = app.query_one(NodesTable)
        assert "[link=https://evil.example]n[/link]" in nodes.row_keys
        await pilot.press("4")
        traces.move_cursor(row=traces.row_keys.index("[/]"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TraceScreen), what="the trace screen")
        await pilot.press("escape")
        assert app.is_running
