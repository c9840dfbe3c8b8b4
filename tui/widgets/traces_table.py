"""A live list of recent requests (snapshot.recent); Enter opens the whole trace."""

from __future__ import annotations

from rich.text import Text

from protos.edgefleet.v1 import common_pb2, fleet_pb2
from tui import format as fmt
from tui.widgets.fleet_table import FleetTable, Row


class TracesTable(FleetTable):
    """Newest first; the row key is the request id."""

    COLUMNS = (
        ("time", "Time"),
        ("tier", "Tier"),
        ("label", "Answer"),
        ("conf", "Conf"),
        ("ms", "ms"),
        ("cost", "Cost"),
        ("served", "Served by"),
        ("text", "Text"),
    )

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._traces: dict[str, fleet_pb2.RequestTrace] = {}

    def show(self, snapshot: fleet_pb2.FleetSnapshot) -> None:
        """Refresh from a snapshot."""
        self._traces = {}
        rows: list[Row] = []
        for trace in snapshot.recent:
            # A batch request (or a client reusing ids) yields several traces with one request_id.
            key, n = trace.request_id, 1
            while key in self._traces:
                n += 1
                key = f"{trace.request_id}#{n}"
            self._traces[key] = trace
            served = trace.served_by
            hosted = served.tier == common_pb2.HOSTED
            tier = Text("hosted" if hosted else "edge", style="magenta" if hosted else "green")
            escalated = any(step.outcome == "escalate" for step in trace.trace)
            rows.append(
                (
                    key,
                    [
                        fmt.clock(trace.unix_ms),
                        tier + Text("↑", style="yellow") if escalated else tier,
                        fmt.truncate(trace.label, 22),
                        f"{trace.confidence:.2f}",
                        Text(fmt.ms(trace.latency_ms), justify="right"),
                        fmt.usd(trace.cost_usd),
                        fmt.truncate(served.model + (" (stand-in)" if served.stand_in else ""), 30),
                        fmt.truncate(trace.text, 48),
                    ],
                )
            )
        self.sync_rows(rows)

    def selected_trace(self) -> fleet_pb2.RequestTrace | None:
        """The trace under the cursor."""
        key = self.selected_key
        return None if key is None else self._traces.get(key)
