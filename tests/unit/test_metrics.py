"""The router's Prometheus metrics: label values, what a routed request moves, the scrape-time
gauges (circuit breakers per deployment, replicas by state, fleet view age)."""

from __future__ import annotations

import random

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from edgefleet.openai_serve import OpenAIError
from router.accounting import Accounting
from router.domain import InferInput
from router.engine import RouterEngine
from router.errors import InvalidRequest, Unavailable
from router.estimates import Estimates
from router.fleet_source import StaticFleet
from router.ledger import LedgerEntry
from router.metrics import RouterMetrics, RouterStateCollector, outcome_label, task_label, tier_label
from tests.unit.generate_fakes import gen_engine, gen_input
from tests.unit.router_fakes import FakeEdge, FakeHosted, make_policy, make_state


def _samples(metrics: RouterMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _value(metrics: RouterMetrics, name: str, **labels: str) -> float:
    return _samples(metrics).get((name, tuple(sorted(labels.items()))), 0.0)


def _engine(hosted: FakeHosted | None = None) -> tuple[RouterEngine, RouterMetrics, StaticFleet]:
    metrics = RouterMetrics()
    fleet = StaticFleet(make_state())
    engine = RouterEngine(
        make_policy(),
        fleet,
        FakeEdge(),
        {"big": hosted or FakeHosted()},
        accounting=Accounting(None),
        estimates=Estimates(),
        rng=random.Random(0),
        metrics=metrics,
    )
    return engine, metrics, fleet


def test_label_values_are_bounded() -> None:
    assert task_label("classify") == "classify" and task_label("anything a caller sends") == "other"
    assert tier_label([]) == "none" and tier_label(["edge", "edge"]) == "edge"
    assert tier_label(["edge", "hosted"]) == "mixed"
    assert outcome_label(None) == "ok" and outcome_label(Unavailable("x")) == "unavailable"
    assert outcome_label(OpenAIError(404, "no such model")) == "not_found"
    assert outcome_label(OpenAIError(418, "teapot")) == "internal"
    assert outcome_label(RuntimeError("bug")) == "internal"


async def test_an_edge_answer_moves_the_request_counter_and_the_latency_histogram() -> None:
    engine, metrics, _ = _engine()
    await engine.infer(InferInput("r1", "classify", ("what is my balance",)))
    assert _value(metrics, "edgefleet_router_requests_total", route="intents", task="classify", tier="edge",
                  outcome="ok") == 1  # fmt: skip
    assert (
        _value(metrics, "edgefleet_router_request_duration_seconds_count", route="intents", task="classify")
        == 1
    )
    edge_spend = _value(metrics, "edgefleet_router_spend_usd_total", kind="edge")
    assert edge_spend == pytest.approx(0.00001 + 0.00002)  # domain detection and the specialist
    assert _value(metrics, "edgefleet_router_hosted_equivalent_usd_total") > edge_spend


async def test_an_escalation_counts_its_reason_and_the_hosted_spend() -> None:
    engine, metrics, _ = _engine()
    await engine.infer(InferInput("r1", "classify", ("please transfer money, unsure",)))
    samples = _samples(metrics)
    escalations = {k[1]: v for k, v in samples.items() if k[0] == "edgefleet_router_escalations_total"}
    assert escalations and all(dict(labels)["route"] == "intents" for labels in escalations)
    assert _value(metrics, "edgefleet_router_requests_total", route="intents", task="classify", tier="hosted",
                  outcome="ok") == 1  # fmt: skip
    assert _value(metrics, "edgefleet_router_spend_usd_total", kind="hosted") > 0


async def test_a_failed_request_is_counted_with_its_status_and_no_tier() -> None:
    engine, metrics, _ = _engine(FakeHosted(down=True))
    engine.targets.edge.fail["clinc-banking"] = Unavailable("down")  # type: ignore[attr-defined]
    engine.targets.edge.fail["generalist"] = Unavailable("down")  # type: ignore[attr-defined]
    with pytest.raises(Unavailable):
        await engine.infer(InferInput("r1", "classify", ("what is my balance",)))
    assert _value(metrics, "edgefleet_router_requests_total", route="intents", task="classify", tier="none",
                  outcome="unavailable") == 1  # fmt: skip


def test_rejected_requests_have_no_route() -> None:
    metrics = RouterMetrics()
    metrics.rejected("bogus-task", InvalidRequest("bad"))
    assert _value(metrics, "edgefleet_router_requests_total", route="none", task="other", tier="none",
                  outcome="invalid_argument") == 1  # fmt: skip


def test_shadow_spend_is_apart_and_not_in_the_hosted_equivalent() -> None:
    metrics = RouterMetrics()
    metrics.ledger_entry(LedgerEntry("r", "intents", "classify", "hosted", "big", 0.5, shadow=True,
                                     hosted_equivalent_usd=0.5))  # fmt: skip
    assert _value(metrics, "edgefleet_router_spend_usd_total", kind="shadow") == 0.5
    assert _value(metrics, "edgefleet_router_spend_usd_total", kind="hosted") == 0
    assert _value(metrics, "edgefleet_router_hosted_equivalent_usd_total") == 0


async def test_a_generation_counts_tokens_by_tier_and_time_to_first_token() -> None:
    engine, _, _ = gen_engine()
    metrics = RouterMetrics()
    engine.metrics = metrics
    engine.accounting.attach_metrics(metrics)
    async for _ in engine.generate(gen_input()):
        pass
    assert _value(metrics, "edgefleet_router_requests_total", route="chat", task="generate", tier="edge",
                  outcome="ok") == 1  # fmt: skip
    assert _value(metrics, "edgefleet_router_tokens_total", tier="edge", kind="completion") > 0
    assert _value(metrics, "edgefleet_router_time_to_first_token_seconds_count", route="chat") == 1


async def test_state_gauges_count_breakers_per_deployment_not_per_replica() -> None:
    engine, metrics, fleet = _engine()
    collector = RouterStateCollector(engine, {"big": FakeHosted(circuit_state="open")}, clock=lambda: 1000.0)
    metrics.registry.register(collector)
    replica = make_state().deployments[1].replicas[0]
    for _ in range(3):  # the breaker opens after 3 consecutive failures
        engine.estimates.begin(replica.replica_id)
        engine.estimates.end(replica.replica_id, 1.0, ok=False)
    fleet.synced_unix = 990.0
    await collector.refresh()
    samples = _samples(metrics)
    dep = replica.deployment
    assert (
        samples[("edgefleet_router_circuit_breakers", (("state", "open"), ("target", dep), ("tier", "edge")))]
        == 1
    )
    assert (
        samples[
            ("edgefleet_router_circuit_breakers", (("state", "closed"), ("target", dep), ("tier", "edge")))
        ]
        == 1
    )
    assert samples[("edgefleet_router_circuit_breakers", (("state", "open"), ("target", "hosted:big"),
                                                          ("tier", "hosted")))] == 1  # fmt: skip
    assert samples[("edgefleet_fleet_replicas", (("deployment", dep), ("state", "ready")))] == 2
    assert samples[("edgefleet_router_fleet_view_age_seconds", ())] == 10.0
    assert samples[("edgefleet_router_inflight_requests", ())] == 0
    labels = {dict(k[1]).get("target") for k in samples if k[0] == "edgefleet_router_circuit_breakers"}
    assert replica.replica_id not in labels


async def test_degraded_answers_and_the_deferred_queue_are_exported() -> None:
    hosted = FakeHosted(down=True)
    engine, metrics, _ = _engine(hosted)
    metrics.registry.register(RouterStateCollector(engine, {"big": hosted}))
    await engine.infer(InferInput("r1", "classify", ("transfer money",)))
    assert _value(metrics, "edgefleet_router_degraded_answers_total", reason="hosted_unavailable") == 1
    assert _value(metrics, "edgefleet_router_deferred_escalations") == 0
