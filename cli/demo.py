"""``edgefleet demo``: start the local fleet, route a CLINC150 sample through the
router, print a summary table, stop everything, exit 0 (non-zero on failure). The terminal shows
progress and the summary only; logs and Ray's output go to the fleet log (:mod:`cli.fleet_log`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

from rich.console import Console
from rich.table import Table

from cli.demo_generate import stream_prompts
from cli.demo_squad import answer_questions
from cli.fleet_log import fleet_log_path, output_to_log
from cli.workload import Summary, clinc_sample, send_all, summarise
from client import AsyncEdgeFleetClient
from edgefleet.logfmt import LogFormat

console = Console()


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo; returns the process exit code."""
    global console
    if args.requests < 1:
        console.print("[red]--requests must be at least 1[/]")
        return 2
    log_format: LogFormat = getattr(args, "log_format", "text")
    path = fleet_log_path()
    with output_to_log(path, log_format) as terminal:
        logging.getLogger().setLevel(logging.INFO)
        console = Console(file=terminal)
        try:
            code = asyncio.run(_demo(args.config, args.requests, args.concurrency, log_format))
        except Exception as exc:
            logging.getLogger("edgefleet.demo").exception("demo failed")
            console.print(f"[red]demo failed:[/] {type(exc).__name__}: {exc}")
            code = 1
        console.print(f"fleet log: {path}")
        return code


async def _demo(config: str, n: int, concurrency: int, log_format: LogFormat = "text") -> int:
    from cli.supervisor import running_fleet

    samples = clinc_sample(n)
    t0 = time.monotonic()
    with console.status("starting the fleet (Ray head + simulated nodes, replicas, stand-in, router)..."):
        cm = running_fleet(config, log_format=log_format)
        fleet = await cm.__aenter__()
    try:
        console.print(f"fleet up in {time.monotonic() - t0:.1f}s; router {fleet.router_address}")
        for name, url in fleet.hosted_urls.items():
            console.print(f"hosted tier [bold]{name}[/]: [yellow]offline STAND-IN[/] at {url}")
        # The router's totals include earlier runs (the durable ledger): this run is the difference.
        before = await _hosted_equivalent(fleet.router_address)
        with console.status(
            f"routing {len(samples)} CLINC150 test requests "
            f"({sum(s.intent == 'oos' for s in samples)} out of scope)..."
        ):
            t1 = time.monotonic()
            outcomes = await send_all(fleet.router_address, samples, concurrency=concurrency)
            wall = time.monotonic() - t1
        after = await _hosted_equivalent(fleet.router_address)
        summary = summarise(outcomes, after - before)
        _print_summary(summary, wall)
        errors = [o.error for o in outcomes if o.error]
        chat = next(
            (r.name for r in fleet.policy.routes if r.task == "generate" and r.retrieval is None), None
        )
        if chat is not None:
            console.rule(f"generation: route {chat} (edge LLM, hosted fallback)")
            streamed = await stream_prompts(fleet.router_address, chat, console)
            errors += [f"generate: {s.error}" for s in streamed if s.error]
        qa = next(
            (r.name for r in fleet.policy.routes if r.task == "generate" and r.retrieval is not None), None
        )
        if qa is not None:
            console.rule(f"questions on SQuAD (report split): route {qa} (retrieval, edge LLM or hosted)")
            answered = await answer_questions(fleet.router_address, qa, console)
            errors += [f"squad: {a.error}" for a in answered if a.error]
        if errors:
            console.print(f"[red]{len(errors)} request(s) failed[/], first: {errors[0]}")
            return 1
        return 0
    finally:
        with console.status("stopping the fleet..."):
            await cm.__aexit__(None, None, None)
        console.print("fleet stopped")


async def _hosted_equivalent(address: str) -> float:
    """What the router's traffic so far would have cost all-hosted (its running total)."""
    async with AsyncEdgeFleetClient(address) as ef:
        snap = await ef.fleet.get(timeout_s=10)
    return float(snap.traffic.hosted_equivalent_usd)


def _print_summary(s: Summary, wall_s: float) -> None:
    table = Table(title=f"EdgeFleet demo: {s.requests} CLINC150 test requests through the router")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("answered at the edge", f"{s.edge_share:.1%}")
    table.add_row("answered by the hosted tier (stand-in)", f"{s.hosted_share:.1%}")
    table.add_row("escalated", f"{s.escalated_share:.1%}")
    table.add_row("accuracy (all, oos as a label)", f"{s.accuracy:.3f}")
    table.add_row("in-scope accuracy", f"{s.inscope_accuracy:.3f}")
    table.add_row("out-of-scope recall", f"{s.oos_recall:.3f}")
    table.add_row("total cost", f"${s.cost_usd:.6f}")
    table.add_row("cost if all hosted", f"${s.all_hosted_cost_usd:.6f}")
    ratio = s.cost_usd / s.all_hosted_cost_usd if s.all_hosted_cost_usd else float("nan")
    table.add_row("cost vs all hosted", f"{ratio:.1%}")
    table.add_row("latency p50 / p95 (client side)", f"{s.p50_ms:.1f} / {s.p95_ms:.1f} ms")
    table.add_row("throughput", f"{s.requests / wall_s:.0f} req/s")
    table.add_row("errors", str(s.errors))
    console.print(table)
