"""The EdgeFleet operator dashboard: live fleet state from WatchFleet, and operator actions.

`create_app(client)` builds the app around any `FleetClient`; `run_tui(address)` is what
`edgefleet tui [--router ADDR]` calls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, ClassVar

from rich.markup import escape
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Vertical
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Tab, Tabs

from protos.edgefleet.v1 import fleet_pb2
from tui.backoff import Backoff
from tui.client import FleetClient
from tui.messages import ActionFinished, ConnectionChanged, SnapshotReceived
from tui.widgets.confirm_screen import ConfirmScreen
from tui.widgets.connection_banner import ConnectionBanner
from tui.widgets.deployments_table import DeploymentsTable
from tui.widgets.nodes_table import NodesTable
from tui.widgets.scale_screen import ScaleScreen
from tui.widgets.status_bar import StatusBar
from tui.widgets.trace_screen import TraceScreen
from tui.widgets.traces_table import TracesTable
from tui.widgets.traffic_panel import TrafficPanel
from tui.worker_tasks import run_action, watch_forever

if TYPE_CHECKING:
    from client import TlsConfig

log = logging.getLogger(__name__)
PANELS: tuple[tuple[str, str], ...] = (
    ("nodes", "Nodes"),
    ("deployments", "Deployments"),
    ("traffic", "Traffic"),
    ("traces", "Route traces"),
)
DARK_THEME, LIGHT_THEME = "textual-dark", "textual-light"


class EdgeFleetApp(App[None]):
    """Tabs at small sizes, a grid of all four panels when the terminal is at least 140x40."""

    CSS_PATH = "app.tcss"
    TITLE = "EdgeFleet"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (140, "-wide")]  # noqa: RUF012 - typed by App
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]  # noqa: RUF012 - typed by App
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(str(i), f"show_panel('{name}')", title, show=False)
            for i, (name, title) in enumerate(PANELS, start=1)
        ),
        Binding("s", "scale", "Scale"),
        Binding("d", "drain", "Drain/undrain"),
        Binding("r", "reload_policy", "Reload policy"),
        Binding("t", "toggle_theme", "Light/dark"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        client: FleetClient,
        *,
        demo: bool = False,
        min_interval_ms: int = 500,
        backoff: Backoff | None = None,
        background: Callable[[], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        super().__init__()
        self.client = client
        self.demo = demo
        self.min_interval_ms = min_interval_ms
        self.backoff = backoff or Backoff()
        self._background = background
        self._main_screen: Screen[Any] | None = None
        self.snapshot: fleet_pb2.FleetSnapshot | None = None
        self.connected: bool | None = None
        self.active_panel = "nodes"
        self.notices: list[tuple[str, str, str]] = []
        """(severity, title, message) of every notification shown, newest last (for tests)."""
        self.last_received_at: float | None = None
        """perf_counter time at which the client yielded the snapshot shown now."""
        self.render_latencies_s: list[float] = []
        """perf_counter time from a snapshot leaving the client to its widgets being updated."""
        self.theme = DARK_THEME

    def compose(self) -> ComposeResult:
        """Status line, banner, tabs, the four panels, footer."""
        yield StatusBar(self.client.address, demo=self.demo, id="status")
        yield ConnectionBanner(id="banner")
        yield Tabs(
            *(Tab(f"{i} {title}", id=f"tab-{name}") for i, (name, title) in enumerate(PANELS, start=1)),
            id="panel-tabs",
        )
        with Container(id="panels"):
            for name, title, widget in (
                ("nodes", "Nodes", NodesTable(id="nodes-table")),
                ("deployments", "Deployments", DeploymentsTable(id="deployments-table")),
                ("traffic", "Traffic", TrafficPanel(id="traffic-panel")),
                ("traces", "Route traces (Enter: open)", TracesTable(id="traces-table")),
            ):
                panel = Vertical(widget, id=f"panel-{name}", classes="panel")
                panel.border_title = title
                yield panel
        yield Footer()

    def on_mount(self) -> None:
        """Start the watch worker (and the demo driver)."""
        self._main_screen = self.screen
        self._activate("nodes")
        self.run_worker(watch_forever(self), name="watch", group="watch", exclusive=True, exit_on_error=False)
        if self._background is not None:
            self.run_worker(self._background(), name="background", group="background", exit_on_error=False)

    async def on_unmount(self) -> None:
        """Close the client."""
        try:
            await asyncio.wait_for(self.client.close(), timeout=2.0)
        except Exception:  # shutting down; nothing useful to report
            log.debug("closing the fleet client failed", exc_info=True)

    # ----------------------------------------------------------------- panels
    def _panel_widget(self, name: str) -> Widget:
        return self._dashboard().query_one(f"#panel-{name}", Vertical).children[0]

    def _activate(self, name: str) -> None:
        self.active_panel = name
        for panel_name, _ in PANELS:
            self._dashboard().query_one(f"#panel-{panel_name}").set_class(panel_name == name, "-active")
        tabs = self._dashboard().query_one("#panel-tabs", Tabs)
        if tabs.active != f"tab-{name}":
            tabs.active = f"tab-{name}"
        self._panel_widget(name).focus()

    def action_show_panel(self, name: str) -> None:
        """Keys 1-4: show (narrow) or focus (grid) a panel."""
        self._activate(name)

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        """Mouse click or arrow keys on the tab strip."""
        if event.tab.id and event.tab.id.removeprefix("tab-") != self.active_panel:
            self._activate(event.tab.id.removeprefix("tab-"))

    def on_descendant_focus(self, event: Any) -> None:
        """Keep the tab strip in step when focus moves between panels (grid mode, Tab key)."""
        for name, _ in PANELS:
            if self._panel_widget(name) is event.widget and name != self.active_panel:
                self.active_panel = name
                for panel_name, _ in PANELS:
                    self._dashboard().query_one(f"#panel-{panel_name}").set_class(
                        panel_name == name, "-active"
                    )
                self._dashboard().query_one("#panel-tabs", Tabs).active = f"tab-{name}"

    # --------------------------------------------------------------- messages
    def _shutting_down(self) -> bool:
        """True while the app exits: queued worker messages must not touch removed widgets."""
        return self._exit or self._main_screen is None or not self._main_screen.is_attached

    def _dashboard(self) -> Screen[Any]:
        """The screen holding the panels (queries must not go to a modal on top of it)."""
        assert self._main_screen is not None
        return self._main_screen

    def _not_composed_yet(self, handler: Any, message: Any) -> bool:
        """True (and `handler` re-queued) when a worker message beats the panels' mounting."""
        if self._dashboard().query(StatusBar):
            return False
        self.call_after_refresh(handler, message)
        return True

    def on_snapshot_received(self, message: SnapshotReceived) -> None:
        """Render a snapshot into every panel."""
        if self._shutting_down() or self._not_composed_yet(self.on_snapshot_received, message):
            return
        snapshot = message.snapshot
        self.snapshot = snapshot
        self._dashboard().query_one(StatusBar).show(snapshot)
        self._dashboard().query_one(NodesTable).show(snapshot)
        self._dashboard().query_one(DeploymentsTable).show(snapshot)
        self._dashboard().query_one(TrafficPanel).show(snapshot)
        self._dashboard().query_one(TracesTable).show(snapshot)
        self.last_received_at = message.received_at
        self.render_latencies_s.append(time.perf_counter() - message.received_at)
        del self.render_latencies_s[:-1000]

    def on_connection_changed(self, message: ConnectionChanged) -> None:
        """Show/hide the banner."""
        if self._shutting_down() or self._not_composed_yet(self.on_connection_changed, message):
            return
        self.connected = message.connected
        self._dashboard().query_one(StatusBar).connected = message.connected
        banner = self._dashboard().query_one(ConnectionBanner)
        if message.connected:
            if banner.has_class("-visible"):
                self.notice(f"Reconnected to {self.client.address}", title="Router")
            banner.hide()
        else:
            banner.show_problem(self.client.address, message.error, message.retry_in_s, message.attempt)

    def on_action_finished(self, message: ActionFinished) -> None:
        """Results and errors of actions become notifications."""
        if message.ok:
            self.notice(message.message, title=message.action)
        else:
            self.notice(message.message, title=f"{message.action} failed", severity="error")

    def notice(self, message: str, *, title: str = "", severity: SeverityLevel = "information") -> None:
        """Show a toast (plain text: server messages are not markup) and remember it."""
        self.notices.append((severity, title, message))
        del self.notices[:-100]
        self.notify(
            message, title=title, severity=severity, markup=False, timeout=8 if severity == "error" else None
        )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter (or click) on a recent request opens its trace."""
        if isinstance(event.data_table, TracesTable):
            trace = event.data_table.selected_trace()
            if trace is not None:
                self.push_screen(TraceScreen(trace))

    # ---------------------------------------------------------------- actions
    def _start_action(
        self, title: str, call: Callable[[], Coroutine[Any, Any, fleet_pb2.ActionResult]]
    ) -> None:
        self.run_worker(run_action(self, title, call), group="actions", exit_on_error=False)

    def action_scale(self) -> None:
        """Ask for a new replica count of the selected deployment, then scale it."""
        deployment = self._dashboard().query_one(DeploymentsTable).selected_deployment()
        if deployment is None or self.snapshot is None:
            self.notice("No deployment selected (press 2 and pick one).", severity="warning")
            return
        current = next((d.desired for d in self.snapshot.deployments if d.name == deployment), 0)

        def scale_to(replicas: int | None) -> None:
            if replicas is not None:
                self._start_action("Scale", lambda: self.client.scale(deployment, replicas))

        self.push_screen(ScaleScreen(deployment, current), scale_to)

    def action_drain(self) -> None:
        """Drain the selected node, or undrain it when it is drained; asks first."""
        node_name = self._dashboard().query_one(NodesTable).selected_node()
        node = next((n for n in self.snapshot.nodes if n.name == node_name), None) if self.snapshot else None
        if node is None:
            self.notice("No node selected (press 1 and pick one).", severity="warning")
            return
        undrain = node.drained
        if undrain:
            question = f"Undrain node [b]{escape(node.name)}[/b]? It will accept replicas again."
        else:
            question = (
                f"Drain node [b]{escape(node.name)}[/b]? Its {len(node.replicas)} replica(s) will move "
                "to other nodes."
            )

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._start_action(
                    "Undrain" if undrain else "Drain", lambda: self.client.drain(node.name, undrain=undrain)
                )

        self.push_screen(ConfirmScreen(question, "Undrain" if undrain else "Drain"), confirmed)

    def action_reload_policy(self) -> None:
        """Ask the router to re-read its policy file, after a confirmation."""
        path = (self.snapshot.policy_path if self.snapshot else "") or "the policy file"

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._start_action("Reload policy", self.client.reload_policy)

        self.push_screen(ConfirmScreen(f"Reload the policy from [b]{escape(path)}[/b]?", "Reload"), confirmed)

    def action_toggle_theme(self) -> None:
        """Switch between the light and the dark theme."""
        self.theme = LIGHT_THEME if self.theme == DARK_THEME else DARK_THEME


def create_app(client: FleetClient, **options: Any) -> EdgeFleetApp:
    """Build the dashboard around a data source (options: demo, min_interval_ms, backoff, background)."""
    return EdgeFleetApp(client, **options)


def run_tui(
    address: str | None = None,
    *,
    demo: bool = False,
    min_interval_ms: int = 500,
    api_key: str | None = None,
    tls: TlsConfig | None = None,
) -> None:
    """Run the dashboard in this terminal until the operator quits (`edgefleet tui`); `api_key` (a
    viewer or operator key; else $EDGEFLEET_API_KEY) and `tls` (CA, client certificate) reach the
    router."""
    from tui.client import DEFAULT_ROUTER_ADDRESS, GrpcFleetClient

    if demo:
        from tui.demo import build_demo_snapshot, drive_demo
        from tui.memory_client import MemoryFleetClient

        memory = MemoryFleetClient(build_demo_snapshot(), address="demo data")
        create_app(
            memory, demo=True, min_interval_ms=min_interval_ms, background=lambda: drive_demo(memory)
        ).run()
        return
    client = GrpcFleetClient(address or DEFAULT_ROUTER_ADDRESS, api_key=api_key, tls=tls)
    create_app(client, min_interval_ms=min_interval_ms).run()
