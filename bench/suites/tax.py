"""Suite `tax`: what each hop costs, batch 1, one request at a time.

(a) bare grpc.aio echo round trip, (b) in-process OpenVINO ``TextModel.classify``, (c) KServe v2
``ModelInfer`` to the replica serving that specialist, (d) a routed ``Router/Infer`` (domain given,
one route -> that specialist, never escalating), (e) a Ray actor holding the same TextModel.

router_tax = p50(d) / (p50(a) + p50(c)): a routed call is a client->router hop plus a
router->replica call, so 1.0 means the router's own logic is free. ray_vs_grpc = p50(e) / p50(c).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.echo import PING
from bench.loadgen import KSERVE_INFER, ROUTER_INFER, LoadGenerator, LoadJob
from bench.procs import Probe, ServerHost
from bench.stats import ratio, summarize
from bench.suites.common import (
    LATENCY_HEADER,
    SPECIALIST_DOMAIN,
    bench_policy_yaml,
    clinc_texts,
    deployment_record,
    in_registry,
    kserve_request,
    latency_table_row,
    model_dir,
    router_request,
    single_specialist_policy,
)

ORDER = ["a_echo", "b_in_process", "c_kserve", "d_routed", "e_ray_actor"]
TOPOLOGY = (
    "three server processes (spawned): echo server; KServe replica (fleet.serving.kserve_server.serve_kserve, gRPC "
    "thread pool) serving the specialist; router (router.server.serve, grpc.aio) with a StaticFleet pointing at "
    "that replica. The client is a fourth process (bench load generator, grpc.aio, raw pre-serialised bytes, "
    "one request at a time). (b) runs in the bench process; (e) runs a Ray driver in its own process "
    "(ray.init local, num_cpus=2) calling an actor (a Ray worker process) with ray.get per call. "
    "All five paths are measured in interleaved rounds, so background load hits them alike."
)


def specialist(policy_path: Path, registry: Path, domain: str = SPECIALIST_DOMAIN) -> tuple[str, str, float]:
    """(deployment, model, price) of the first specialist for `domain` in the policy whose model is
    in the registry (the one the router tries first)."""
    from edgefleet.policy.loader import load_policy

    policy = load_policy(policy_path)
    listed: list[str] = []
    for route in policy.routes:
        for name in route.specialists.get(domain, []):
            dep = policy.deployment(name)
            listed.append(dep.model)
            if in_registry(registry, dep.model):
                return dep.name, dep.model, dep.price_per_call_usd
    raise ValueError(
        f"{policy_path}: no specialist for domain {domain!r} is in registry {registry} "
        f"(listed: {listed or 'none'}); run `edgefleet models build`"
    )


class InProcessModel:
    """(b): the specialist's TextModel in this process, timed call by call."""

    def __init__(self, model_path: str, texts: list[str], warmup: int) -> None:
        from fleet.models.manifest import load_bundle
        from fleet.serving.runtime import TextModel

        self.model = TextModel.load(load_bundle(Path(model_path)))
        self.texts = texts
        for i in range(warmup):
            self.model.classify([texts[i % len(texts)]])

    def measure(self, n: int, offset: int = 0) -> list[float]:
        """Latencies (ms) of `n` calls of ``classify([text])``."""
        out: list[float] = []
        for i in range(n):
            text = self.texts[(offset + i) % len(self.texts)]
            t0 = time.perf_counter()
            self.model.classify([text])
            out.append((time.perf_counter() - t0) * 1000.0)
        return out


def run(ctx: Any) -> dict[str, Any]:
    """Measure (a)-(e) and the two ratios."""
    registry = ctx.models_dir()
    deployment, model, price = specialist(ctx.policy_file(), registry)
    path = model_dir(registry, model)
    n = ctx.size(40, 1000)
    rounds = ctx.size(2, 4)
    warmup = ctx.size(10, 100)
    texts = clinc_texts(SPECIALIST_DOMAIN, ctx.size(20, 150))
    echo_payloads = [router_request(t, SPECIALIST_DOMAIN) for t in texts]
    lat: dict[str, list[float]] = {k: [] for k in ORDER}
    errors: dict[str, int] = dict.fromkeys(("a_echo", "c_kserve", "d_routed"), 0)
    first_errors: dict[str, str] = {}
    replica_spec = {"models": [{"deployment": deployment, "dir": str(path)}]}
    ray_probe = Probe(
        "fleet.ray_adapter.latency_probe:ActorLatencyProbe",
        {"model_path": str(path), "texts": texts, "warmup": warmup},
        start_timeout_s=ctx.size(180.0, 300.0),
    )
    ray_probe.start()  # Ray starts while the gRPC servers do
    try:
        with (
            ServerHost("bench.services:build_echo", {}) as echo,
            ServerHost("bench.services:build_replicas", replica_spec) as replicas,
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
            kserve_payloads = [kserve_request(record["model"], record["version"], t) for t in texts]
            with ServerHost("bench.services:build_routers", router_spec) as routers, LoadGenerator() as lg:
                jobs = {
                    "a_echo": LoadJob(echo["echo"], PING, echo_payloads),
                    "c_kserve": LoadJob(replicas[deployment], KSERVE_INFER, kserve_payloads),
                    "d_routed": LoadJob(routers["bench"], ROUTER_INFER, echo_payloads),
                }
                in_process = InProcessModel(str(path), texts, warmup)
                ray_info = ray_probe.wait_ready()
                per_round = max(1, n // rounds)
                for r in range(rounds):
                    for key, job in jobs.items():
                        job.max_requests = per_round
                        job.max_seconds = ctx.size(10.0, 60.0)
                        job.warmup = warmup if r == 0 else 5
                        result = lg.run(job)
                        lat[key] += result.latencies_ms
                        errors[key] += result.errors
                        if result.first_error:
                            first_errors.setdefault(key, result.first_error)
                    lat["b_in_process"] += in_process.measure(per_round, r * per_round)
                    lat["e_ray_actor"] += ray_probe.call("measure", per_round, r * per_round)
    finally:
        ray_probe.close()
    s = {k: summarize(v) for k, v in lat.items()}
    p50 = {k: v["p50_ms"] for k, v in s.items()}
    router_tax = ratio(p50["d_routed"], p50["a_echo"] + p50["c_kserve"])
    names = {
        "a_echo": "(a) bare grpc.aio echo",
        "b_in_process": "(b) in-process OpenVINO classify",
        "c_kserve": "(c) KServe v2 ModelInfer to the replica",
        "d_routed": "(d) routed Router/Infer (domain given)",
        "e_ray_actor": "(e) Ray actor call (ray.get)",
    }
    order = ORDER
    return {
        "topology": TOPOLOGY,
        "specialist": {
            "deployment": deployment,
            "model": model,
            "version": record["version"],
            "precision": record["precision"],
            "domain": SPECIALIST_DOMAIN,
        },
        "latency": {k: s[k] for k in order},
        "errors": errors,
        "first_errors": first_errors,
        "router_tax": router_tax,
        "router_tax_p99": ratio(s["d_routed"]["p99_ms"], s["a_echo"]["p99_ms"] + s["c_kserve"]["p99_ms"]),
        "router_overhead_ms": p50["d_routed"] - p50["c_kserve"] - p50["a_echo"],
        "ray_vs_grpc": ratio(p50["e_ray_actor"], p50["c_kserve"]),
        "kserve_vs_in_process": ratio(p50["c_kserve"], p50["b_in_process"]),
        "overhead_vs_in_process_ms": {
            k: p50[k] - p50["b_in_process"] for k in ("c_kserve", "d_routed", "e_ray_actor")
        },
        "ray_vs_grpc_overhead": ratio(
            p50["e_ray_actor"] - p50["b_in_process"], p50["c_kserve"] - p50["b_in_process"]
        ),
        "ray_init_s": ray_info.get("ray_init_s"),
        "goal_router_tax_max": 1.25,
        "tables": [
            (
                "Latency per path, batch 1, one request at a time",
                LATENCY_HEADER,
                [latency_table_row(names[k], lat[k]) for k in order],
            ),
            (
                "Ratios",
                ["ratio", "value", "meaning"],
                [
                    ["router_tax", router_tax, "p50 routed / (p50 echo + p50 KServe); goal <= 1.25"],
                    [
                        "ray_vs_grpc",
                        ratio(p50["e_ray_actor"], p50["c_kserve"]),
                        "p50 Ray actor / p50 KServe gRPC",
                    ],
                    [
                        "kserve_vs_in_process",
                        ratio(p50["c_kserve"], p50["b_in_process"]),
                        "p50 KServe / p50 in-process inference",
                    ],
                    [
                        "ray_vs_grpc_overhead",
                        ratio(
                            p50["e_ray_actor"] - p50["b_in_process"], p50["c_kserve"] - p50["b_in_process"]
                        ),
                        "(p50 Ray - p50 in-process) / (p50 KServe - p50 in-process): the transport costs alone",
                    ],
                ],
            ),
        ],
        "notes": [
            (
                f"{n} requests per gRPC path in {rounds} interleaved rounds after {warmup} warm-up calls; "
                f"texts: {len(texts)} CLINC150 test queries of domain {SPECIALIST_DOMAIN}."
            ),
            (
                "router_overhead_ms = p50(d) - p50(c) - p50(a): the router's own work per request "
                "(validation, route match, replica choice, proto conversion, accounting)."
            ),
        ],
    }
