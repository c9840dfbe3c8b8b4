"""Suite `throughput`: the highest sustained routed requests/s against a bare gRPC echo on the
same cores, and tail latency at 50% and 80% of saturation.

Closed-loop concurrency sweeps (unary and one bidirectional stream with a window) for the router
(domain given, one specialist, never escalating) and for the echo server; then open-loop runs of
routed unary calls at 50% and 80% of the routed unary saturation rate.
"""

from __future__ import annotations

from typing import Any

from bench.echo import PING, PING_STREAM
from bench.loadgen import KSERVE_INFER, ROUTER_INFER, ROUTER_STREAM, LoadGenerator, LoadJob, LoadResult
from bench.procs import ServerHost
from bench.stats import SweepPoint, knee_concurrency, percentile, ratio, saturation
from bench.suites.common import (
    SPECIALIST_DOMAIN,
    bench_policy_yaml,
    clinc_texts,
    deployment_record,
    kserve_request,
    model_dir,
    router_request,
    single_specialist_policy,
)
from bench.suites.tax import specialist

THREADED = "threaded-replica"  # the same model on the thread-pool KServe server, for comparison
TOPOLOGY = (
    "server processes: KServe replica of the specialist (grpc.aio with dynamic batching, and the same model on "
    "the thread-pool server beside it, in the same process), router (StaticFleet -> that replica), echo server; "
    "the load generator is one separate process (grpc.aio, one channel, pre-serialised requests). All share "
    "the machine's cores: what the echo server gets is what the router + replica get."
)


def _point(concurrency: int, result: LoadResult) -> SweepPoint:
    return SweepPoint(
        concurrency=concurrency,
        requests=len(result.latencies_ms),
        errors=result.errors,
        seconds=result.seconds,
        rps=result.rps,
        p50_ms=percentile(result.latencies_ms, 50),
        p99_ms=percentile(result.latencies_ms, 99),
    )


def _concurrency(point: SweepPoint | None) -> int | None:
    return None if point is None else point.concurrency


def _sweeps(
    lg: LoadGenerator,
    templates: dict[str, LoadJob],
    levels: list[int],
    max_requests: int,
    max_seconds: float,
    errors: dict[str, str],
) -> dict[str, list[SweepPoint]]:
    """Closed-loop sweeps, level by level across the series (interleaved, so a change in background
    load affects every series alike instead of biasing one)."""
    points: dict[str, list[SweepPoint]] = {name: [] for name in templates}
    for i, level in enumerate(levels):
        for name, template in templates.items():
            job = LoadJob(
                **{
                    **template.__dict__,
                    "concurrency": level,
                    "max_requests": max_requests,
                    "max_seconds": max_seconds,
                    "warmup": template.warmup if i == 0 else 0,
                }
            )
            result = lg.run(job)
            if result.first_error:
                errors.setdefault(name, result.first_error)
            points[name].append(_point(level, result))
    return points


def run(ctx: Any) -> dict[str, Any]:
    """Sweep, find saturation, probe 50% and 80% of it."""
    registry = ctx.models_dir()
    deployment, model, price = specialist(ctx.policy_file(), registry)
    path = model_dir(registry, model)
    levels = ctx.size([1, 4], [1, 2, 4, 8, 16, 32, 64])
    max_requests = ctx.size(60, 6000)
    max_seconds = ctx.size(2.0, 5.0)
    open_seconds = ctx.size(1.5, 6.0)
    texts = clinc_texts(SPECIALIST_DOMAIN, ctx.size(20, 150))
    payloads = [router_request(t, SPECIALIST_DOMAIN) for t in texts]
    first_errors: dict[str, str] = {}
    with (
        ServerHost("bench.services:build_echo", {}) as echo,
        ServerHost(
            "bench.services:build_replicas",
            {
                "models": [
                    {"deployment": deployment, "dir": str(path)},
                    {"deployment": THREADED, "dir": str(path), "threaded": True},
                ]
            },
        ) as replicas,
    ):
        record = deployment_record(registry, deployment, model, price, replicas[deployment])
        router_spec = {
            "deployments": [record],
            "routers": {
                "bench": bench_policy_yaml(
                    single_specialist_policy(deployment, model, SPECIALIST_DOMAIN, price)
                )
            },
        }
        with ServerHost("bench.services:build_routers", router_spec) as routers, LoadGenerator() as lg:
            router_addr = routers["bench"]
            kserve_payloads = [kserve_request(record["model"], record["version"], t) for t in texts]
            templates = {
                "routed_unary": LoadJob(router_addr, ROUTER_INFER, payloads, warmup=ctx.size(10, 200)),
                "routed_stream": LoadJob(
                    router_addr,
                    ROUTER_STREAM,
                    payloads,
                    streaming=True,
                    router_stream=True,
                    warmup=ctx.size(10, 200),
                ),
                "kserve_unary": LoadJob(
                    replicas[deployment], KSERVE_INFER, kserve_payloads, warmup=ctx.size(10, 200)
                ),
                "kserve_threaded_unary": LoadJob(
                    replicas[THREADED], KSERVE_INFER, kserve_payloads, warmup=ctx.size(10, 200)
                ),
                "echo_unary": LoadJob(echo["echo"], PING, payloads, warmup=ctx.size(10, 200)),
                "echo_stream": LoadJob(
                    echo["echo"], PING_STREAM, payloads, streaming=True, warmup=ctx.size(10, 200)
                ),
            }
            sweeps = _sweeps(lg, templates, levels, max_requests, max_seconds, first_errors)
            sat = {name: saturation(points) for name, points in sweeps.items()}
            unary_sat = sat["routed_unary"]
            loaded: dict[str, Any] = {}
            if unary_sat is not None:
                for share in (0.5, 0.8):
                    rate = unary_sat.rps * share
                    job = LoadJob(
                        router_addr,
                        ROUTER_INFER,
                        payloads,
                        rate=rate,
                        concurrency=512,
                        max_requests=max(20, int(rate * open_seconds)),
                        max_seconds=open_seconds,
                        warmup=0,
                    )
                    result = lg.run(job)
                    p50, p99 = percentile(result.latencies_ms, 50), percentile(result.latencies_ms, 99)
                    loaded[f"at_{int(share * 100)}pct"] = {
                        "offered_rps": rate,
                        "achieved_rps": result.rps,
                        "requests": len(result.latencies_ms),
                        "errors": result.errors,
                        "p50_ms": p50,
                        "p99_ms": p99,
                        "p99_over_p50": ratio(p99, p50),
                        "first_error": result.first_error,
                    }
    best = {name: (s.rps if s is not None else float("nan")) for name, s in sat.items()}
    routed_rps = max(best["routed_unary"], best["routed_stream"])
    echo_rps = max(best["echo_unary"], best["echo_stream"])
    rows = [
        [name, p.concurrency, p.requests, p.errors, p.rps, p.p50_ms, p.p99_ms]
        for name, points in sweeps.items()
        for p in points
    ]
    load_rows = [
        [k, v["offered_rps"], v["achieved_rps"], v["p50_ms"], v["p99_ms"], v["p99_over_p50"]]
        for k, v in loaded.items()
    ]
    return {
        "topology": TOPOLOGY,
        "method": (
            f"closed loop: each concurrency level runs until {max_requests} requests or {max_seconds} s, "
            "levels interleaved across the series; "
            "saturation = the level with the highest requests/s and <= 1% errors. Open loop at 50% / 80% "
            "of routed unary saturation, latency counted from the scheduled send time."
        ),
        "sweeps": {name: [p.as_dict() for p in points] for name, points in sweeps.items()},
        "saturation": {name: (s.as_dict() if s is not None else None) for name, s in sat.items()},
        "knee_concurrency": {name: knee_concurrency(points) for name, points in sweeps.items()},
        "routed_rps": routed_rps,
        "echo_rps": echo_rps,
        "routed_vs_echo": ratio(routed_rps, echo_rps),
        "routed_unary_vs_echo_unary": ratio(best["routed_unary"], best["echo_unary"]),
        "routed_stream_vs_echo_stream": ratio(best["routed_stream"], best["echo_stream"]),
        "stream_vs_unary_routed": ratio(best["routed_stream"], best["routed_unary"]),
        "kserve_rps": best["kserve_unary"],
        "routed_vs_kserve": ratio(best["routed_unary"], best["kserve_unary"]),
        "kserve_vs_echo": ratio(best["kserve_unary"], best["echo_unary"]),
        "kserve_threaded_rps": best["kserve_threaded_unary"],
        "kserve_aio_vs_threaded": ratio(best["kserve_unary"], best["kserve_threaded_unary"]),
        "under_load": loaded,
        "p99_over_p50_at_50pct": loaded.get("at_50pct", {}).get("p99_over_p50"),
        "p99_over_p50_at_80pct": loaded.get("at_80pct", {}).get("p99_over_p50"),
        "first_errors": first_errors,
        "tables": [
            (
                "Saturation",
                ["series", "requests/s", "at concurrency"],
                [[n, best[n], _concurrency(sat[n])] for n in sweeps],
            ),
            (
                "Ratios",
                ["ratio", "value"],
                [
                    ["routed_vs_echo (best mode each)", ratio(routed_rps, echo_rps)],
                    ["routed unary / echo unary", ratio(best["routed_unary"], best["echo_unary"])],
                    ["routed stream / echo stream", ratio(best["routed_stream"], best["echo_stream"])],
                    [
                        "routed unary / direct KServe unary (the router's own throughput cost)",
                        ratio(best["routed_unary"], best["kserve_unary"]),
                    ],
                    ["direct KServe unary / echo unary", ratio(best["kserve_unary"], best["echo_unary"])],
                    [
                        "KServe grpc.aio + dynamic batching / thread-pool server (same model)",
                        ratio(best["kserve_unary"], best["kserve_threaded_unary"]),
                    ],
                ],
            ),
            (
                "Routed unary under open-loop load",
                ["load", "offered rps", "achieved rps", "p50 ms", "p99 ms", "p99/p50"],
                load_rows,
            ),
            (
                "Sweep",
                ["series", "concurrency", "requests", "errors", "requests/s", "p50 ms", "p99 ms"],
                rows,
            ),
        ],
        "notes": [
            (
                "routed_vs_echo compares the whole routed path (router + model inference) with a bare gRPC hop: it is "
                "dominated by the model; routed_vs_kserve isolates the router (same model, called directly)."
            ),
            (
                "InferStream: one bidirectional stream, `concurrency` requests in flight (window); unary: "
                "`concurrency` concurrent callers on one channel."
            ),
            (
                "The load generator is Python too: at the echo server's saturation, it can be the bottleneck; "
                "the ratio then understates the router's relative cost, never overstates it."
            ),
        ],
    }
