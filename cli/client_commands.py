"""CLI commands that talk to a running router (or only read files):
``infer``, ``policy check``, ``tui``, ``bench``, ``spend``."""

from __future__ import annotations

import argparse
import sys

from google.protobuf import json_format

from cli.runstate import api_key, client_tls, router_address


def infer(args: argparse.Namespace) -> int:
    """Send one request to the router (client SDK) and print the response as JSON."""
    from client import EdgeFleetClient, EdgeFleetError

    texts: list[str] = args.text
    address = router_address(args.router)
    with EdgeFleetClient(address, api_key=api_key(args.api_key), tls=client_tls(args)) as ef:
        try:
            resp = ef.infer(
                texts[0] if len(texts) == 1 else texts,
                task=args.task,
                domain=args.domain,
                route=args.route,
                max_latency_ms=args.max_latency_ms,
                max_cost_usd=args.max_cost_usd,
                min_confidence=args.min_confidence,
                timeout_s=args.timeout,
            )
        except EdgeFleetError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    assert resp.raw is not None
    print(json_format.MessageToJson(resp.raw, preserving_proto_field_name=True))
    return 0


def policy_check(args: argparse.Namespace) -> int:
    """Validate a policy file; print every issue with its key path and line."""
    from edgefleet.errors import PolicyError
    from edgefleet.policy import load_policy

    try:
        policy = load_policy(args.file)
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(
        f"{args.file}: OK ({len(policy.deployments)} deployments, {len(policy.routes)} routes, "
        f"{len(policy.hosted)} hosted endpoints, {len(policy.fleet.simulated_nodes)} simulated nodes)"
    )
    return 0


def tui(args: argparse.Namespace) -> int:
    """Run the operator dashboard against a router's Fleet service."""
    from tui.app import run_tui

    if args.demo:
        run_tui(None, demo=True)
    else:
        run_tui(router_address(args.router), api_key=api_key(args.api_key), tls=client_tls(args))
    return 0


def bench(args: argparse.Namespace) -> int:
    """Run benchmark suites and write results.json, report.md and plots."""
    from pathlib import Path

    from bench.runner import run_bench
    from cli.bench_fleet import BUILDER

    run_bench(args.suites or None, Path(args.out), tiny=args.tiny, fleet_builder=BUILDER)
    return 0


def spend(args: argparse.Namespace) -> int:
    """Print spend per day, route and tier from the durable ledger."""
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from edgefleet.errors import PolicyError
    from edgefleet.policy import load_policy
    from router.ledger import spend_report

    path = args.ledger
    if path is None:
        try:
            path = load_policy(args.config).router.ledger
        except PolicyError as exc:
            print(exc, file=sys.stderr)
            return 1
        if path is None:
            print(f"{args.config}: router.ledger is not set: spend is kept in memory only", file=sys.stderr)
            return 1
    if not Path(path).is_file():
        print(f"no ledger at {path} yet (nothing answered)", file=sys.stderr)
        return 1
    rows = spend_report(Path(path), days=args.days)
    table = Table(title=f"Spend from {path} (last {args.days} days, UTC)")
    for col in ("day", "route", "tier", "requests", "cost USD", "shadow USD"):
        table.add_column(col, justify="right" if col in ("requests", "cost USD", "shadow USD") else "left")
    for day, route, tier, n, cost, shadow in rows:
        table.add_row(day, route, tier, str(n), f"{cost:.6f}", f"{shadow:.6f}")
    total = sum(r[4] for r in rows)
    Console().print(table)
    print(f"total {total:.6f} USD over {sum(r[3] for r in rows)} requests")
    return 0
