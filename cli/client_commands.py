"""CLI commands that talk to a running router (or only read files):
``infer``, ``policy check``, ``tui``, ``bench``, ``spend``."""

from __future__ import annotations

import argparse
import os
import sys

import grpc
from google.protobuf import json_format

from cli.runstate import router_address


def infer(args: argparse.Namespace) -> int:
    """Send one request to the router and print the response as JSON."""
    from protos.edgefleet.v1 import router_pb2, router_pb2_grpc

    texts: list[str] = args.text
    req = router_pb2.InferRequest(task=args.task, domain=args.domain, route=args.route)
    if len(texts) == 1:
        req.text = texts[0]
    else:
        req.texts.extend(texts)
    for name in ("max_latency_ms", "max_cost_usd", "min_confidence"):
        value = getattr(args, name)
        if value is not None:
            setattr(req.constraints, name, value)
    metadata = []
    key = args.api_key or os.environ.get("EDGEFLEET_API_KEY")
    if key:
        metadata.append(("authorization", f"Bearer {key}"))
    address = router_address(args.router)
    with grpc.insecure_channel(address) as channel:
        stub = router_pb2_grpc.RouterStub(channel)
        try:
            resp = stub.Infer(req, timeout=args.timeout, metadata=metadata)
        except grpc.RpcError as exc:
            print(f"error: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 2
    print(json_format.MessageToJson(resp, preserving_proto_field_name=True))
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

    run_tui(None if args.demo else router_address(args.router), demo=args.demo)
    return 0


def bench(args: argparse.Namespace) -> int:
    """Run benchmark suites and write results.json, report.md and plots."""
    from pathlib import Path

    from bench.runner import run_bench

    run_bench(args.suites or None, Path(args.out), tiny=args.tiny)
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
