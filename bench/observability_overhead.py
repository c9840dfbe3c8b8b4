"""What Prometheus metrics and OpenTelemetry tracing add to the router's per-request cost.

One process, no network: the Router servicer's ``Infer`` (validation, the routing engine, the
answer proto) over an in-memory fleet whose edge replica answers at once, so the figure is the
router's own CPU time per request. Three configurations -- ``off`` (no metrics, no tracing),
``metrics`` (the default: Prometheus counters and histograms), ``metrics+tracing`` (every span
recorded and handed to a batch exporter that drops them) -- run in interleaved rounds (the order
shuffled each round), so machine noise hits all three alike; the report is the median over
rounds of each configuration's mean per-request time, and the differences to ``off``.

``python -m bench.observability_overhead [--rounds 30] [--requests 400]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Sequence
from typing import Any

from edgefleet.policy.loader import parse_policy
from edgefleet.state import DeploymentState, FleetState, NodeState, ReplicaPhase, ReplicaState
from protos.edgefleet.v1 import router_pb2
from router.accounting import Accounting
from router.auth import ApiKeys
from router.domain import EdgeOutput
from router.engine import RouterEngine
from router.fleet_source import StaticFleet
from router.metrics import RouterMetrics
from router.servicer import RouterServicer
from router.tracing import Tracing

POLICY = """
version: 1
deployments:
  - {name: domain-router, model: domain-router, price_per_call_usd: 0.000001}
  - {name: clinc-banking, model: clinc-banking, price_per_call_usd: 0.000002}
routes:
  - {name: intents, task: classify, domain_model: domain-router, specialists: {banking: [clinc-banking]},
     targets: [clinc-banking], min_confidence: 0.5}
"""
LABELS = {"domain-router": ["banking", "oos"], "clinc-banking": ["balance", "transfer", "oos"]}


class _InstantEdge:
    """An edge replica that answers at once (confident in its first label)."""

    async def infer(
        self,
        address: str,
        model: str,
        version: str,
        texts: Sequence[str],
        task: str,
        timeout_s: float,
        **kw: Any,
    ) -> list[EdgeOutput]:
        n = len(LABELS[model])
        probs = (0.9,) + (0.1 / (n - 1),) * (n - 1)
        return [EdgeOutput(None, probs, None, device="CPU") for _ in texts]

    async def aclose(self) -> None:
        return None


class _DropExporter:
    """A span exporter that drops what it gets (the cost of recording, not of shipping)."""

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _state() -> FleetState:
    deployments = [
        DeploymentState(
            name,
            name,
            "1",
            "FP32",
            1,
            1,
            [
                ReplicaState(
                    f"{name}-0", name, "n1", "node", "CPU", f"127.0.0.1:{9000 + i}", ReplicaPhase.READY
                )
            ],
            price_per_call_usd=0.000001,
            task="classify",
            labels=labels,
        )
        for i, (name, labels) in enumerate(LABELS.items())
    ]
    return FleetState(1, time.time() * 1000.0, [NodeState("n1", "node", "127.0.0.1")], deployments, [])


def _servicer(metrics: bool, tracing: bool) -> tuple[RouterServicer, Tracing]:
    trace = Tracing(exporter=_DropExporter(), batch=True) if tracing else Tracing()
    engine = RouterEngine(
        parse_policy(POLICY),
        StaticFleet(_state()),
        _InstantEdge(),
        {},
        accounting=Accounting(None),
        rng=random.Random(0),
        metrics=RouterMetrics() if metrics else None,
        tracing=trace,
    )
    return RouterServicer(engine, lambda: ApiKeys()), trace


class _Context:
    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),)

    def time_remaining(self) -> float:
        return 5.0


async def _round(servicer: RouterServicer, requests: int) -> float:
    msg = router_pb2.InferRequest(task="classify", text="what is my checking account balance")
    context: Any = _Context()
    start = time.perf_counter()
    for _ in range(requests):
        await servicer.Infer(msg, context)
    return (time.perf_counter() - start) / requests * 1e6


async def measure(rounds: int, requests: int) -> dict[str, float]:
    """Median over `rounds` of each configuration's mean microseconds per request."""
    configs = {"off": (False, False), "metrics": (True, False), "metrics+tracing": (True, True)}
    servicers = {name: _servicer(*flags) for name, flags in configs.items()}
    for servicer, _ in servicers.values():  # warm-up
        await _round(servicer, requests // 4 or 1)
    samples: dict[str, list[float]] = {name: [] for name in configs}
    order = list(configs)
    rng = random.Random(7)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            samples[name].append(await _round(servicers[name][0], requests))
    for _, tracing in servicers.values():
        tracing.shutdown()
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    """Print the per-request cost of each configuration and the overheads."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    result = asyncio.run(measure(args.rounds, args.requests))
    base = result["off"]
    for name, us in result.items():
        print(f"{name:16s} {us:8.1f} us/request  (+{us - base:6.1f} us, {us / base - 1:+.1%})")


if __name__ == "__main__":
    main()
