"""Rich tables of a fleet snapshot, for ``edgefleet status``."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from protos.edgefleet.v1 import fleet_pb2
from tui.format import degraded_summary, isa_summary

EVENTS_SHOWN = 8


def render_snapshot(
    snap: fleet_pb2.FleetSnapshot, address: str, console: Console | None = None, *, http: str = ""
) -> None:
    """Print the nodes, deployments, routes and traffic of `snap` (`http`: the base URL of
    the router's OpenAI-compatible front door, when known)."""
    console = console or Console()
    console.print(f"[bold]EdgeFleet[/] router {address}  snapshot v{snap.version}  policy {snap.policy_path}")
    if snap.fleet_status == "degraded":
        console.print(
            Text.assemble(
                (f"fleet view DEGRADED ({snap.fleet_view_age_s:.0f} s old): ", "bold red"),
                snap.fleet_status_reason,
            )
        )
    if http:
        console.print(f"OpenAI-compatible API: {http}")

    isa_of = {r.node_id: isa_summary(r.isa) for d in snap.deployments for r in d.replicas if r.isa}
    nodes = Table(title="Nodes", title_justify="left")
    nodes.add_column("node", no_wrap=True)
    for col in ("health", "devices", "labels", "cpu %", "mem %", "replicas", "cpu isa"):
        nodes.add_column(col)
    for n in snap.nodes:
        devices = ", ".join(d.name + (" (sim)" if d.simulated else "") for d in n.devices)
        labels = ", ".join(
            f"{k}={v}" for k, v in sorted(n.labels.items()) if not k.startswith(("ray.io/", "edgefleet.io/"))
        )
        nodes.add_row(
            n.name,
            n.health,
            devices,
            labels,
            f"{n.cpu_percent:.0f}",
            f"{n.memory_percent:.0f}",
            str(len(n.replicas)),
            isa_of.get(n.node_id, "-"),
        )
    console.print(nodes)

    deps = Table(title="Deployments", title_justify="left")
    columns = ("deployment", "model", "version", "precision (model/policy)", "ready/desired")
    for col in (*columns, "replicas (node/device inference:state)"):
        deps.add_column(col)
    for d in snap.deployments:
        where = ", ".join(
            f"{r.node_name}/{r.device} {r.inference_precision or '?'}:{r.state}"
            + (f" v{r.version}" if r.version and r.version != d.version else "")
            for r in d.replicas
        )
        precision = f"{d.precision}/{d.precision_policy or 'auto'}"
        deps.add_row(d.name, d.model, d.version, precision, f"{d.ready}/{d.desired}", where)
    console.print(deps)
    for d in snap.deployments:
        for r in d.replicas:
            if r.detail:
                console.print(Text.assemble((r.replica_id, "yellow"), f": {r.detail}"))
    for d in snap.deployments:
        if d.canary_version or d.rollout:
            console.print(Text.assemble((f"{d.name} rollout: ", "magenta"), d.rollout))
        if d.autoscale:
            console.print(Text.assemble((f"{d.name} autoscale: ", "cyan"), d.autoscale))

    generative = [d for d in snap.deployments if d.task == "generate"]
    if generative:
        llm = Table(title="LLM replicas", title_justify="left")
        for col in (
            "replica",
            "deployment",
            "node",
            "state",
            "tokens/s",
            "TTFT p50 / p95 ms",
            "waiting",
            "context",
        ):
            llm.add_column(col)
        for d in generative:
            for rep in d.replicas:
                s = rep.stats
                llm.add_row(
                    rep.replica_id,
                    d.name,
                    rep.node_name,
                    rep.state,
                    f"{s.tokens_per_s:.0f}",
                    f"{s.ttft_p50_ms:.0f} / {s.ttft_p95_ms:.0f}",
                    str(s.waiting),
                    str(d.context_length),
                )
        console.print(llm)

    collections = [d for d in snap.deployments if d.task == "retrieve"]
    if collections:
        table = Table(title="Collections (retriever deployments)", title_justify="left")
        for col in ("deployment", "collection", "version"):
            table.add_column(col, no_wrap=True)
        for col in ("chunks", "docs", "index"):
            table.add_column(col)
        for d in collections:
            c = d.collection
            table.add_row(d.name, d.model, d.version, str(c.chunks), str(c.documents), c.index or "-")
        console.print(table)

    routes = Table(title="Routes", title_justify="left")
    for col in ("route", "task", "domains", "candidates", "min conf"):
        routes.add_column(col)
    for route in snap.routes:
        routes.add_row(
            route.name,
            route.task,
            ", ".join(route.domains),
            ", ".join(route.candidates),
            f"{route.min_confidence:.2f}",
        )
    console.print(routes)

    t = snap.traffic
    edge_share = t.edge / t.requests if t.requests else 0.0
    console.print(
        f"traffic: {t.requests} requests, {edge_share:.0%} at the edge, spend ${t.spend_usd:.6f}, "
        f"all-hosted would be ${t.hosted_equivalent_usd:.6f} (saved ${t.saved_usd:.6f})"
    )
    g = t.generation
    if g.requests:
        console.print(
            f"generation: {g.requests} answers ({g.edge} edge, {g.hosted} hosted, {g.cancelled} cancelled, "
            f"{g.retractions} retracted); tokens out at the edge {g.edge_completion_tokens}, "
            f"hosted {g.hosted_completion_tokens} (in: {g.edge_prompt_tokens} / {g.hosted_prompt_tokens})"
        )
    sh = g.shadow
    if sh.requests or sh.skipped_budget or sh.failed:
        console.print(
            f"shadow: {sh.requests} edge answers also asked of the hosted model, agreement F1 "
            f"{sh.agreement_f1:.3f}, shadow spend ${sh.spend_usd:.4f} ({sh.skipped_budget} over budget, "
            f"{sh.failed} failed)"
        )
    for h in snap.hosted:
        tag = " [yellow](STAND-IN)[/]" if h.stand_in else ""
        if h.replay:
            tag += f" [yellow](REPLAY of recorded answers: {h.replay})[/]"
        console.print(f"hosted {h.name}: {h.base_url} model={h.model} circuit={h.circuit}{tag}")
    offline = degraded_summary(snap.degraded)
    if offline:
        console.print(Text(offline, style="bold yellow" if snap.degraded.active else "yellow"))
    if snap.events:
        console.print(f"recent control-plane events (last {min(len(snap.events), EVENTS_SHOWN)}):")
        for event in list(snap.events)[-EVENTS_SHOWN:]:
            console.print(Text(f"  {event}"))
    scrape = metrics_targets(snap, http)
    if scrape:
        console.print(f"Prometheus /metrics: {', '.join(scrape)}")


def metrics_targets(snap: fleet_pb2.FleetSnapshot, http: str = "") -> list[str]:
    """Where Prometheus scrapes ``/metrics``: the router's front door (from its base URL), then
    every replica that reports an endpoint."""
    targets = [http.removesuffix("/v1").removeprefix("http://")] if http else []
    targets += [r.metrics_address for d in snap.deployments for r in d.replicas if r.metrics_address]
    return targets
