"""One line on top: the source, connection state, snapshot version and time, policy, and a
warning when the router's fleet view is degraded (no word from the control plane)."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from protos.edgefleet.v1 import fleet_pb2
from tui import format as fmt


class StatusBar(Static):
    """`EdgeFleet · router ADDR · ● live · v42 00:00:05 UTC · policy edgefleet.yaml@3f9a1c07`."""

    connected: reactive[bool | None] = reactive(None)

    def __init__(self, address: str, demo: bool = False, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.address = address
        self.demo = demo
        self._snapshot_text = Text("no snapshot yet", style="dim")

    def show(self, snapshot: fleet_pb2.FleetSnapshot) -> None:
        """Take the version/time/policy of a new snapshot."""
        policy = snapshot.policy_path or "policy"
        if snapshot.policy_sha256:
            policy += "@" + snapshot.policy_sha256[:8]
        self._snapshot_text = Text.assemble(
            f"v{snapshot.version} ",
            (fmt.clock(snapshot.unix_ms), "bold"),
            " UTC",
            (" · ", "dim"),
            policy,
        )
        if snapshot.fleet_status == "degraded":
            self._snapshot_text.append_text(
                Text.assemble(
                    (" · ", "dim"),
                    (f" fleet view DEGRADED, {snapshot.fleet_view_age_s:.0f} s old ", "bold white on red"),
                )
            )
        self.refresh_text()

    def watch_connected(self) -> None:
        """Redraw when the connection changes."""
        self.refresh_text()

    def refresh_text(self) -> None:
        """Compose the line."""
        if self.connected is None:
            state = Text("○ connecting", style="yellow")
        elif self.connected:
            state = Text("● live", style="bold green")
        else:
            state = Text("✕ offline", style="bold red")
        source = (
            Text(" DEMO DATA ", style="bold black on yellow") if self.demo else Text(f"router {self.address}")
        )
        self.update(  # one fixed-height line: no layout pass needed
            Text.assemble(
                ("EdgeFleet", "bold"),
                (" · ", "dim"),
                source,
                (" · ", "dim"),
                state,
                (" · ", "dim"),
                self._snapshot_text,
            ),
            layout=False,
        )
