"""A modal showing one request's whole route trace: each step, target, outcome, reason, ms."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from protos.edgefleet.v1 import common_pb2, fleet_pb2
from tui import format as fmt


class TraceScreen(ModalScreen[None]):
    """Escape or q closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,enter", "close", "Close")]

    def __init__(self, trace: fleet_pb2.RequestTrace) -> None:
        super().__init__()
        self.trace = trace

    def compose(self) -> ComposeResult:
        """Summary on top, the steps in a table below."""
        trace = self.trace
        served = trace.served_by
        tier = (
            "hosted"
            + (" (stand-in)" if served.stand_in else "")
            + (" REPLAY" if fmt.is_replay(trace.trace) else "")
            if served.tier == common_pb2.HOSTED
            else "edge"
        )
        retrieval, verdict = fmt.retrieval_line(trace.trace), fmt.verdict_line(trace.trace)
        extra: list[tuple[str, str] | str] = []
        if retrieval:
            extra += [("Retrieval ", "dim"), f"{retrieval}\n"]
        if verdict:
            extra += [("Verdict ", "dim"), f"{verdict}\n"]
        summary = Text.assemble(
            ("Request ", "bold"),
            (trace.request_id, "bold"),
            f"  {fmt.clock(trace.unix_ms)} UTC\n",
            ("Text    ", "dim"),
            f"{trace.text}\n",
            ("Answer  ", "dim"),
            (trace.label or "–", "bold"),
            f"  confidence {trace.confidence:.2f}\n",
            ("Route   ", "dim"),
            f"{trace.route or '–'}  domain {trace.domain or '–'}\n",
            *extra,
            ("Served  ", "dim"),
            f"{served.model}:{served.version} on {served.node or '–'} {served.device or ''} [{tier}]\n",
            ("Total   ", "dim"),
            f"{fmt.ms(trace.latency_ms)} ms  cost {fmt.usd(trace.cost_usd)}",
        )
        with Vertical(id="trace-dialog"):
            yield Static(summary, id="trace-summary")
            yield DataTable(id="trace-steps", cursor_type="row", zebra_stripes=True)
            yield Static("[b]Esc[/b] close", id="trace-hint")
        yield Footer()

    def on_mount(self) -> None:
        """Fill the steps table."""
        table: DataTable[str | Text] = self.query_one("#trace-steps", DataTable)
        table.add_columns("#", "Target", "Outcome", "ms", "Reason")
        for index, step in enumerate(self.trace.trace, start=1):
            table.add_row(
                str(index),
                Text(step.target),
                fmt.outcome_text(step.outcome),
                Text(fmt.ms(step.ms), justify="right"),
                Text(step.reason),
            )
        table.focus()

    def action_close(self) -> None:
        """Back to the dashboard."""
        self.dismiss(None)
