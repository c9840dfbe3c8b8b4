"""Traffic: requests/s sparkline, edge vs hosted share, latency, escalations, spend and savings;
then the control plane: rollouts and autoscaling in progress, and its recent events."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Sparkline, Static

from protos.edgefleet.v1 import fleet_pb2
from tui import format as fmt


class TrafficPanel(VerticalScroll):
    """A sparkline over the last minute of requests/s, then the accounting figures."""

    _shape: tuple[int, int, bool] = (-1, -1, False)

    def compose(self) -> ComposeResult:
        """Headline, sparkline, figures."""
        yield Static("Waiting for traffic…", id="traffic-headline")
        yield Sparkline([], id="traffic-sparkline")
        yield Static("", id="traffic-figures")

    def show(self, snapshot: fleet_pb2.FleetSnapshot) -> None:
        """Refresh from a snapshot."""
        traffic = snapshot.traffic
        history = list(traffic.rps_history)
        peak = max(history, default=0.0)
        headline = Text.assemble(
            ("Requests/s ", "bold"),
            (f"{traffic.rps:.1f}", "bold cyan"),
            f"  peak {peak:.1f} over {len(history)} s  ·  {traffic.requests:,} requests",
        )
        self.query_one("#traffic-headline", Static).update(headline, layout=False)
        self.query_one("#traffic-sparkline", Sparkline).data = history or [0.0]
        # The figures only change height when the number of hosted endpoints, reasons or control-plane
        # lines changes, or the offline line comes or goes.
        offline = bool(fmt.degraded_summary(snapshot.degraded))
        shape = (
            len(snapshot.hosted),
            len(fmt.escalation_rows(dict(traffic.escalations))) + 100 * len(control_plane_lines(snapshot)),
            offline,
        )
        self.query_one("#traffic-figures", Static).update(
            traffic_figures(snapshot), layout=shape != self._shape
        )
        self._shape = shape


def _share_bar(edge: int, total: int, width: int = 30) -> Text:
    filled = round(width * edge / total) if total else 0
    return Text.assemble(("█" * filled, "green"), ("█" * (width - filled), "magenta"))


def traffic_figures(snapshot: fleet_pb2.FleetSnapshot) -> RenderableType:
    """Everything below the sparkline, as one Rich renderable."""
    traffic = snapshot.traffic
    answered = traffic.edge + traffic.hosted
    split = Table.grid(padding=(0, 1))
    split.add_column(style="dim", no_wrap=True)
    split.add_column(justify="right", no_wrap=True)
    split.add_column(no_wrap=True)
    split.add_row("Edge", f"{traffic.edge:,}", Text(fmt.ratio_percent(traffic.edge, answered), style="green"))
    split.add_row(
        "Hosted", f"{traffic.hosted:,}", Text(fmt.ratio_percent(traffic.hosted, answered), style="magenta")
    )
    split.add_row("Errors", f"{traffic.errors:,}", fmt.ratio_percent(traffic.errors, traffic.requests))
    split.add_row("p50 / p95", f"{fmt.ms(traffic.p50_ms)}", f"/ {fmt.ms(traffic.p95_ms)} ms")

    money = Table.grid(padding=(0, 1))
    money.add_column(style="dim", no_wrap=True)
    money.add_column(justify="right", no_wrap=True)
    money.add_row("Spend so far", fmt.usd(traffic.spend_usd))
    money.add_row("All-hosted cost", fmt.usd(traffic.hosted_equivalent_usd))
    saved_share = fmt.ratio_percent(traffic.saved_usd, traffic.hosted_equivalent_usd)
    money.add_row(
        Text("Spend avoided", style="bold"),
        Text(f"{fmt.usd(traffic.saved_usd)} ({saved_share})", style="bold green"),
    )

    escalations = Table.grid(padding=(0, 1))
    escalations.add_column(style="dim", no_wrap=True)
    escalations.add_column(justify="right", no_wrap=True)
    for label, count in fmt.escalation_rows(dict(traffic.escalations)):
        escalations.add_row(label, f"{count:,}")

    columns = Table.grid(padding=(0, 3))
    columns.add_row(_titled("Answered", split), _titled("Escalations", escalations))
    hosted_lines = [
        Text.assemble(
            ("Hosted ", "dim"),
            (h.name, "bold"),
            f" {h.model} ",
            ("[STAND-IN] " if h.stand_in else "", "yellow"),
            (f"[REPLAY {h.replay}] " if h.replay else "", "yellow"),
            ("circuit ", "dim"),
            (h.circuit or "?", "green" if h.circuit in ("", "closed") else "bold red"),
        )
        for h in snapshot.hosted
    ]
    bar = Text.assemble(("edge ", "green"), _share_bar(traffic.edge, answered), (" hosted", "magenta"))
    parts: list[RenderableType] = [bar, Text(""), columns, Text(""), _titled("Spend", money)]
    if traffic.generation.requests:
        parts += [Text(""), _titled("Generation", generation_figures(traffic.generation))]
    offline = fmt.degraded_summary(snapshot.degraded)
    if offline:  # offline mode: degraded answers and the deferred-escalation queue
        style = "bold black on yellow" if snapshot.degraded.active else "yellow"
        hosted_lines.append(Text(offline, style=style))
    control = control_plane_lines(snapshot)
    tail: list[RenderableType] = [Text(""), _titled("Control plane", Group(*control))] if control else []
    return Group(*parts, *hosted_lines, *tail)


EVENTS_SHOWN = 6


def control_plane_lines(snapshot: fleet_pb2.FleetSnapshot) -> list[Text]:
    """Rollouts and autoscaling per deployment, then the controller's last events (autoscale
    decisions, canary verdicts, adoptions after a restart...)."""
    lines: list[Text] = []
    for dep in snapshot.deployments:
        if dep.rollout:
            style = "magenta" if dep.canary_version else "dim"
            lines.append(Text.assemble((f"{dep.name} rollout ", "bold"), (dep.rollout, style)))
        if dep.autoscale:
            lines.append(Text.assemble((f"{dep.name} autoscale ", "bold"), (dep.autoscale, "cyan")))
    lines += [
        Text(event, style="dim", overflow="ellipsis", no_wrap=True)
        for event in snapshot.events[-EVENTS_SHOWN:]
    ]
    return lines


def generation_figures(g: fleet_pb2.Generation) -> RenderableType:
    """Answers and output tokens at the edge vs hosted, retractions and cancellations."""
    tokens = g.edge_completion_tokens + g.hosted_completion_tokens
    table = Table.grid(padding=(0, 1))
    table.add_column(style="dim", no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_row(
        "Answers edge / hosted", f"{g.edge:,} / {g.hosted:,}", fmt.ratio_percent(g.edge, g.edge + g.hosted)
    )
    table.add_row(
        "Tokens out edge / hosted",
        f"{g.edge_completion_tokens:,} / {g.hosted_completion_tokens:,}",
        Text(fmt.ratio_percent(g.edge_completion_tokens, tokens), style="green"),
    )
    table.add_row("Retracted / cancelled", f"{g.retractions:,} / {g.cancelled:,}", "")
    bar = Text.assemble(
        ("edge tokens ", "green"), _share_bar(g.edge_completion_tokens, tokens), (" hosted", "magenta")
    )
    return Group(bar, table)


def _titled(title: str, body: RenderableType) -> RenderableType:
    return Group(Text(title, style="bold underline"), body)
