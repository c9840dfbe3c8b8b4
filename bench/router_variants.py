"""The leaner router, change by change, in one interleaved run.

One KServe replica (the bench specialist, grpc.aio with dynamic batching) and one router process per
variant, each variant adding one change to the previous one:

- ``baseline``: one ModelInfer per routed text, bookkeeping on the request's path, no gc.freeze;
- ``+coalesce``: concurrent calls to the replica merged (``router.coalesce``);
- ``+defer``: accounting, ledger, escalation log and metrics booked after the answer is sent;
- ``+gc.freeze``: the objects alive after start-up moved to the permanent generation;
- ``+uvloop``: the router on uvloop's event loop (not the default: see the README);

plus the bare echo server for reference. Every round runs each variant's jobs (one request at a time
for p50 latency, then 32 concurrent unary callers and one 32-deep InferStream for requests/s) in a
shuffled order, so background load hits them alike; figures are medians over rounds.

``python -m bench.router_variants [--rounds 5] [--seconds 3] [--out FILE.json]``
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path
from typing import Any

from bench.echo import PING
from bench.loadgen import ROUTER_INFER, ROUTER_STREAM, LoadGenerator, LoadJob
from bench.procs import ServerHost
from bench.stats import percentile
from bench.suites.common import (
    SPECIALIST_DOMAIN,
    bench_policy_yaml,
    clinc_texts,
    deployment_record,
    model_dir,
    router_request,
    single_specialist_policy,
)
from bench.suites.tax import specialist

VARIANTS: dict[str, dict[str, Any]] = {
    "baseline": {"coalesce": False, "defer_accounting": False, "freeze_gc": False},
    "+coalesce": {"coalesce": True, "defer_accounting": False, "freeze_gc": False},
    "+defer": {"coalesce": True, "defer_accounting": True, "freeze_gc": False},
    "+gc.freeze": {"coalesce": True, "defer_accounting": True, "freeze_gc": True},
    "+uvloop": {"coalesce": True, "defer_accounting": True, "freeze_gc": True, "event_loop": "uvloop"},
}


def _policy(deployment: str, model: str, price: float, coalesce: bool) -> str:
    policy = single_specialist_policy(deployment, model, SPECIALIST_DOMAIN, price)
    policy.setdefault("router", {})["coalesce"] = {"enabled": coalesce}
    return bench_policy_yaml(policy)


def run(rounds: int = 5, seconds: float = 3.0, registry: Path | None = None) -> dict[str, Any]:
    """Measure every variant in interleaved rounds; returns the figures and a table."""
    registry = (registry or Path(".edgefleet/models")).resolve()
    deployment, model, price = specialist(Path("edgefleet.yaml"), registry)
    texts = clinc_texts(SPECIALIST_DOMAIN, 150)
    payloads = [router_request(t, SPECIALIST_DOMAIN) for t in texts]
    spec = {"models": [{"deployment": deployment, "dir": str(model_dir(registry, model))}]}
    figures: dict[str, dict[str, list[float]]] = {
        v: {"p50_ms": [], "unary_rps": [], "stream_rps": []} for v in [*VARIANTS, "echo"]
    }
    hosts: list[ServerHost] = []
    with (
        ServerHost("bench.services:build_replicas", spec) as replicas,
        ServerHost("bench.services:build_echo", {}) as echo,
    ):
        record = deployment_record(registry, deployment, model, price, replicas[deployment])
        addresses = {"echo": echo["echo"]}
        try:
            for name, options in VARIANTS.items():
                router_spec = {
                    "deployments": [record],
                    "routers": {name: _policy(deployment, model, price, options["coalesce"])},
                    **{k: v for k, v in options.items() if k != "coalesce"},
                }
                host = ServerHost("bench.services:build_routers", router_spec)
                hosts.append(host)
                addresses[name] = host.__enter__()[name]
            with LoadGenerator() as lg:
                order = [*VARIANTS, "echo"]
                for r in range(rounds):
                    random.Random(r).shuffle(order)
                    for name in order:
                        method = PING if name == "echo" else ROUTER_INFER
                        single = lg.run(
                            LoadJob(
                                addresses[name],
                                method,
                                payloads,
                                max_requests=300,
                                max_seconds=seconds,
                                warmup=50 if r == 0 else 5,
                            )
                        )
                        unary = lg.run(
                            LoadJob(
                                addresses[name],
                                method,
                                payloads,
                                concurrency=32,
                                max_requests=10**6,
                                max_seconds=seconds,
                                warmup=0,
                            )
                        )
                        figures[name]["p50_ms"].append(percentile(single.latencies_ms, 50))
                        figures[name]["unary_rps"].append(unary.rps)
                        if name != "echo":
                            stream = lg.run(
                                LoadJob(
                                    addresses[name],
                                    ROUTER_STREAM,
                                    payloads,
                                    streaming=True,
                                    router_stream=True,
                                    concurrency=32,
                                    max_requests=10**6,
                                    max_seconds=seconds,
                                    warmup=0,
                                )
                            )
                            figures[name]["stream_rps"].append(stream.rps)
        finally:
            for host in hosts:
                host.close()
    medians = {
        v: {k: (statistics.median(xs) if xs else None) for k, xs in f.items()} for v, f in figures.items()
    }
    rows = []
    previous: dict[str, Any] | None = None
    for name in [*VARIANTS, "echo"]:
        m = medians[name]
        delta = (
            f"{m['p50_ms'] - previous['p50_ms']:+.3f} ms, {m['unary_rps'] / previous['unary_rps'] - 1:+.0%} unary rps"
            if previous is not None and name != "echo"
            else ""
        )
        rows.append([name, m["p50_ms"], m["unary_rps"], m["stream_rps"], delta])
        previous = m
    return {
        "rounds": rounds,
        "seconds": seconds,
        "medians": medians,
        "header": ["variant", "p50 ms (1 in flight)", "unary rps (32)", "stream rps (32)", "vs previous"],
        "rows": rows,
    }


def main() -> int:
    """Run and print the table (and write JSON with --out)."""
    parser = argparse.ArgumentParser(prog="python -m bench.router_variants", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--registry", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = run(args.rounds, args.seconds, args.registry)
    print(" | ".join(result["header"]))
    for row in result["rows"]:
        print(" | ".join(f"{x:.3f}" if isinstance(x, float) else str(x) for x in row))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
