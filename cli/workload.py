"""A CLINC150 request workload sent through the router over gRPC, and its summary.

Used by ``edgefleet demo`` (and usable from the benchmarks): a seeded sample of the
test split with out-of-scope queries mixed in, sent with bounded concurrency.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

from client import AsyncEdgeFleetClient, EdgeFleetError
from edgefleet.stats import percentile


@dataclass(frozen=True)
class Sample:
    """One labelled request: the text, its gold intent ("oos" when out of scope) and domain."""

    text: str
    intent: str
    domain: str


@dataclass(frozen=True)
class Outcome:
    """What the router answered for one sample (or the error it gave)."""

    sample: Sample
    label: str
    tier: str
    model: str
    cost_usd: float
    latency_ms: float
    escalated: bool
    error: str = ""


def clinc_sample(n: int, *, oos_share: float = 0.2, seed: int = 7) -> list[Sample]:
    """A seeded sample of CLINC150 `test` (in scope) and `oos_test` (out of scope)."""
    from factory.data import load_clinc150

    data = load_clinc150()
    rng = random.Random(seed)
    n_oos = round(n * oos_share)
    inscope = rng.sample(list(data.test), n - n_oos)
    oos = rng.sample(list(data.oos_test), n_oos)
    samples = [Sample(t, i, data.intent_to_domain[i]) for t, i in inscope]
    samples += [Sample(t, "oos", "oos") for t, _ in oos]
    rng.shuffle(samples)
    return samples


async def send_all(
    address: str, samples: list[Sample], *, concurrency: int = 8, timeout_s: float = 30.0
) -> list[Outcome]:
    """Send every sample as one Infer call (at most `concurrency` in flight), with the client SDK."""
    sem = asyncio.Semaphore(concurrency)
    async with AsyncEdgeFleetClient(address, timeout_s=timeout_s) as ef:

        async def one(i: int, s: Sample) -> Outcome:
            async with sem:
                t0 = time.perf_counter()
                try:
                    resp = await ef.infer(s.text, task="classify", request_id=f"demo-{i}")
                except EdgeFleetError as exc:
                    ms = (time.perf_counter() - t0) * 1000
                    return Outcome(s, "", "ERROR", "", 0.0, ms, False, str(exc))
                ms = (time.perf_counter() - t0) * 1000
                r = resp.results[0]
                tier = r.served_by.tier.value
                return Outcome(s, r.label or "", tier, r.served_by.model, r.cost_usd, ms, r.escalated)

        return list(await asyncio.gather(*(one(i, s) for i, s in enumerate(samples))))


@dataclass(frozen=True)
class Summary:
    """The demo's headline numbers."""

    requests: int
    errors: int
    edge_share: float
    hosted_share: float
    escalated_share: float
    accuracy: float
    inscope_accuracy: float
    oos_recall: float
    cost_usd: float
    all_hosted_cost_usd: float
    p50_ms: float
    p95_ms: float


def summarise(outcomes: list[Outcome], all_hosted_cost_usd: float) -> Summary:
    """Headline numbers over the outcomes (accuracy against the gold labels)."""
    n = len(outcomes)
    ok = [o for o in outcomes if not o.error]
    inscope = [o for o in ok if o.sample.intent != "oos"]
    oos = [o for o in ok if o.sample.intent == "oos"]

    def share(xs: list[Outcome]) -> float:
        return len(xs) / n if n else 0.0

    return Summary(
        requests=n,
        errors=n - len(ok),
        edge_share=share([o for o in ok if o.tier == "EDGE"]),
        hosted_share=share([o for o in ok if o.tier == "HOSTED"]),
        escalated_share=share([o for o in ok if o.escalated]),
        accuracy=sum(o.label == o.sample.intent for o in ok) / n if n else 0.0,
        inscope_accuracy=sum(o.label == o.sample.intent for o in inscope) / max(1, len(inscope)),
        oos_recall=sum(o.label == "oos" for o in oos) / max(1, len(oos)),
        cost_usd=sum(o.cost_usd for o in ok),
        all_hosted_cost_usd=all_hosted_cost_usd,
        p50_ms=percentile([o.latency_ms for o in ok], 50, empty=0.0),
        p95_ms=percentile([o.latency_ms for o in ok], 95, empty=0.0),
    )
