"""Measure the offline STAND-IN: classify round trip over real HTTP vs. the bare model.

``python -m bench.standin_latency [--registry DIR] [--n 200] [--latency-ms 0]`` starts a
stand-in on 127.0.0.1:0 backed by the registry's generalist, sends `n` classify calls
through :class:`HostedClient` (sequentially, after a warm-up) and prints p50/p95 of
the round trip next to the bare in-process ``TextModel.classify`` time, so the
HTTP + JSON overhead of the hosted path is visible.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from edgefleet.policy.schema import HostedConfig, StandInConfig
from edgefleet.stats import percentiles
from router.hosted.client import HostedClient
from standin.server import StandInServer

TEXTS = [
    "what is the weather like in new york today",
    "set a timer for ten minutes",
    "how many tentacles does an octopus have",
    "transfer 100 dollars from checking to savings",
]


def _summary(samples_ms: list[float]) -> str:
    p50, p95 = percentiles(samples_ms, (50, 95))
    return f"p50 {p50:.2f} ms, p95 {p95:.2f} ms (n={len(samples_ms)})"


def _time_sync(call: Callable[[str], object], n: int) -> list[float]:
    samples = []
    for i in range(n):
        started = time.perf_counter()
        call(TEXTS[i % len(TEXTS)])
        samples.append((time.perf_counter() - started) * 1000.0)
    return samples


async def _time_client(client: HostedClient, labels: list[str], n: int) -> list[float]:
    samples = []
    for i in range(n):
        started = time.perf_counter()
        await client.classify(TEXTS[i % len(TEXTS)], labels, timeout_s=30)
        samples.append((time.perf_counter() - started) * 1000.0)
    return samples


async def run(registry: Path, n: int, latency_ms: float) -> None:
    """Run the measurement and print it."""
    server = StandInServer.from_registry(registry, StandInConfig(latency_ms=latency_ms))
    labels = list(server.model.labels)
    _time_sync(lambda text: server.model.classify([text]), 10)  # warm-up
    bare = _time_sync(lambda text: server.model.classify([text]), n)
    client = HostedClient(
        HostedConfig(name="bench", stand_in=StandInConfig(), timeout_ms=30000), base_url=server.start()
    )
    try:
        await _time_client(client, labels, 10)  # warm-up: connection, caches
        over_http = await _time_client(client, labels, n)
    finally:
        await client.aclose()
        server.stop()
    bare += _time_sync(lambda text: server.model.classify([text]), n)  # again, after: load varies
    print(
        f"STAND-IN backing model {server.identity.backing_model}, {len(labels)} labels, "
        f"latency_ms={latency_ms}"
    )
    print(f"  bare TextModel.classify:            {_summary(bare)}")
    print(f"  HostedClient.classify over HTTP:    {_summary(over_http)}")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    from fleet.models.registry import default_registry

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--registry", type=Path, default=None)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    asyncio.run(run(args.registry or default_registry(), args.n, args.latency_ms))


if __name__ == "__main__":
    main()
