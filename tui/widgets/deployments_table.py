"""Deployments with their replicas: placement, device, inference precision, rps, p50/p95, error
rate, queue depth."""

from __future__ import annotations

from collections import deque

from rich.text import Text

from protos.edgefleet.v1 import fleet_pb2
from tui import format as fmt
from tui.widgets.fleet_table import FleetTable, Row

HISTORY_POINTS = 30


class DeploymentsTable(FleetTable):
    """A row per deployment (key `dep:NAME`) followed by a row per replica (key `rep:NAME:ID`)."""

    COLUMNS = (
        ("name", "Deployment"),
        ("ready", "Ready"),
        ("trend", "Trend"),
        ("rps", "req/s"),
        ("p50", "p50ms"),
        ("p95", "p95ms"),
        ("err", "Err"),
        ("queue", "Queue"),
        ("where", "Version / where"),
    )

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._rps_history: dict[str, deque[float]] = {}

    def show(self, snapshot: fleet_pb2.FleetSnapshot) -> None:
        """Refresh from a snapshot (and extend each deployment's rps trend)."""
        rows: list[Row] = []
        for dep in snapshot.deployments:
            replicas = list(dep.replicas)
            rps = sum(r.stats.rps for r in replicas)
            history = self._rps_history.setdefault(dep.name, deque(maxlen=HISTORY_POINTS))
            history.append(rps)
            weight = sum(r.stats.rps for r in replicas) or 1.0
            p50 = sum(r.stats.p50_ms * r.stats.rps for r in replicas) / weight
            p95 = max((r.stats.p95_ms for r in replicas), default=0.0)
            err = sum(r.stats.error_rate * r.stats.rps for r in replicas) / weight
            short = dep.ready < dep.desired
            rows.append(
                (
                    f"dep:{dep.name}",
                    [
                        Text(dep.name, style="bold"),
                        Text(f"{dep.ready}/{dep.desired}", style="yellow" if short else "green"),
                        Text(fmt.sparkline_text(history, 8), style="cyan"),
                        f"{rps:.1f}",
                        fmt.ms(p50),
                        fmt.ms(p95),
                        _error_text(err),
                        str(sum(r.stats.queue_depth for r in replicas)),
                        _version_text(dep),
                    ],
                )
            )
            for replica in replicas:
                stats = replica.stats
                state_style = "green" if replica.state == "ready" else "yellow"
                rows.append(
                    (
                        f"rep:{dep.name}:{replica.replica_id}",
                        [
                            Text(" └ " + fmt.truncate(replica.replica_id, 21), style="dim"),
                            Text(replica.state, style=state_style),
                            "",
                            f"{stats.rps:.1f}",
                            fmt.ms(stats.p50_ms),
                            fmt.ms(stats.p95_ms),
                            _error_text(stats.error_rate),
                            str(stats.queue_depth),
                            _where_text(replica, dep.precision_policy, dep.version),
                        ],
                    )
                )
        self.sync_rows(rows)

    def selected_deployment(self) -> str | None:
        """The deployment under the cursor (a replica row selects its deployment)."""
        key = self.selected_key
        if key is None:
            return None
        return key.split(":", 2)[1]


def model_version(dep: fleet_pb2.Deployment) -> str:
    """'v3' when the model is named like the deployment, else 'model:v3'."""
    version = f"v{dep.version}" if dep.version[:1].isdigit() else dep.version
    return version if dep.model in ("", dep.name) else f"{dep.model}:{version}"


def _where_text(replica: fleet_pb2.Replica, policy: str, version: str = "") -> Text:
    """'store-1 · CPU bf16': node, device and (once reported) the inference precision; for LLM
    replicas also tokens/s, time to first token p50/p95 and requests waiting."""
    where = Text(f"{replica.node_name} · {replica.device}")
    if replica.version and replica.version != version:  # a rollout: old and new serve side by side
        where = Text.assemble((f"{replica.version} ", "magenta"), where)
    if replica.inference_precision:
        where.append_text(Text(" ") + fmt.precision_text(replica.inference_precision, policy))
    stats = replica.stats
    if stats.tokens_per_s or stats.ttft_p50_ms:  # an LLM replica: generation speed
        where.append_text(
            Text(
                f" · {stats.tokens_per_s:.0f} tok/s · TTFT {stats.ttft_p50_ms:.0f}/{stats.ttft_p95_ms:.0f} ms"
                + (f" · {stats.waiting} waiting" if stats.waiting else ""),
                style="cyan",
            )
        )
    return where


def _version_text(dep: fleet_pb2.Deployment) -> Text:
    """'v3 INT8', plus the precision policy when it is not auto: 'v4 FP32 f32', plus a canary in
    progress: 'v3 INT8 · canary v4 10%'."""
    policy = dep.precision_policy
    canary = dep.canary_version
    return Text.assemble(
        model_version(dep),
        " ",
        (dep.precision, "bold"),
        (f" {policy}" if policy not in ("", "auto") else "", "dim"),
        (f" · canary {canary} {dep.canary_share:.0%}" if canary else "", "bold magenta"),
    )


def _error_text(rate: float) -> Text:
    style = "bold red" if rate >= 0.05 else "yellow" if rate >= 0.01 else ""
    return Text(f"{100 * rate:.1f}%", style=style, justify="right")
