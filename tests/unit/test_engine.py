"""The routing engine end to end with in-memory fakes (edge, hosted, fleet)."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest

from router.accounting import Accounting
from router.domain import Constraints, InferInput
from router.engine import RouterEngine
from router.errors import DeadlineExceeded, Overloaded, TargetError, Unavailable
from router.estimates import Estimates
from router.fleet_source import StaticFleet
from tests.unit.router_fakes import FakeEdge, FakeHosted, make_policy, make_state


def _engine(
    hosted: FakeHosted | None = None, edge: FakeEdge | None = None, log: Path | None = None, **est: float
) -> tuple[RouterEngine, FakeEdge, FakeHosted, StaticFleet]:
    edge = edge or FakeEdge()
    hosted = hosted or FakeHosted()
    fleet = StaticFleet(make_state())
    engine = RouterEngine(
        make_policy(),
        fleet,
        edge,
        {"big": hosted},
        accounting=Accounting(log),
        estimates=Estimates(**est),  # type: ignore[arg-type]
        rng=random.Random(0),
    )
    return engine, edge, hosted, fleet


def _req(text: str, task: str = "classify", **constraints: float) -> InferInput:
    return InferInput("r1", task, (text,), constraints=Constraints(**constraints))


def _trace(result: object) -> list[tuple[str, str]]:
    return [(s.target, s.outcome) for s in result.trace]  # type: ignore[attr-defined]


async def test_in_domain_text_answered_by_the_specialist() -> None:
    engine, edge, hosted, _ = _engine()
    out = await engine.infer(_req("what is my balance"))
    (res,) = out.results
    assert (res.label, res.domain, res.route) == ("balance", "banking", "intents")
    assert res.served_by.tier == "edge" and res.served_by.model == "clinc-banking"
    assert res.confidence == pytest.approx(0.97)
    assert _trace(res) == [("domain-router", "ok"), ("clinc-banking", "ok")]
    assert res.cost_usd == pytest.approx(0.00001 + 0.00002)  # detection counts too
    assert out.cost_usd == res.cost_usd and not hosted.calls
    assert [c[1] for c in edge.calls] == ["domain-router", "clinc-banking"]
    snap = engine.accounting.snapshot()
    assert snap.edge == 1 and snap.hosted_equivalent_usd > snap.spend_usd > 0


async def test_low_confidence_escalates_to_generalist_then_hosted() -> None:
    engine, _, hosted, _ = _engine()
    (res,) = (await engine.infer(_req("transfer money"))).results
    assert _trace(res) == [
        ("domain-router", "ok"),
        ("clinc-banking", "escalate"),
        ("generalist", "escalate"),
        ("hosted:big", "ok"),
    ]
    assert res.trace[1].reason == "confidence 0.45 < 0.60"
    assert (
        res.served_by.tier == "hosted" and res.label == "transfer" and res.confidence == pytest.approx(0.93)
    )
    assert res.cost_usd == pytest.approx(0.00001 + 0.00002 + 0.00005 + 1000 / 1000 * 0.01 + 10 / 1000 * 0.03)
    assert "oos" in hosted.calls[0][1] and "book_flight" in hosted.calls[0][1]
    assert engine.accounting.snapshot().escalations == {"low_confidence": 2}


async def test_request_min_confidence_is_stricter_than_route() -> None:
    engine, _, _, _ = _engine()
    (res,) = (await engine.infer(_req("what is my balance", min_confidence=0.99))).results
    assert res.served_by.tier == "hosted"
    assert res.trace[1].reason == "confidence 0.97 < 0.99"


async def test_out_of_scope_domain_goes_straight_to_hosted(tmp_path: Path) -> None:
    log = tmp_path / "esc.jsonl"
    engine, edge, _, _ = _engine(log=log)
    (res,) = (await engine.infer(_req("order me a pizza"))).results
    assert _trace(res) == [("domain-router", "escalate"), ("hosted:big", "ok")]
    assert "domain detection: label 'oos' is out of scope" in res.trace[0].reason
    assert res.label == "oos" and res.served_by.tier == "hosted"  # a valid answer
    assert len(edge.calls) == 1
    engine.accounting.close()
    row = json.loads(log.read_text())
    assert row["reasons"] == ["out_of_scope"] and row["hosted"]["label"] == "oos"


async def test_confident_out_of_scope_domain_is_answered_at_the_edge() -> None:
    """With edge_oos_final_confidence set, a confident "oos" from the domain model is final."""
    engine, edge, hosted, _ = _engine()
    route = engine.policy.routes[0]
    policy = engine.policy.model_copy(
        update={
            "routes": [route.model_copy(update={"edge_oos_final_confidence": 0.5}), *engine.policy.routes[1:]]
        }
    )
    engine.reload_policy(policy)
    (res,) = (await engine.infer(_req("order me a pizza"))).results
    assert _trace(res) == [("domain-router", "ok")]
    assert res.label == "oos" and res.served_by.tier == "edge" and res.domain == "oos"
    assert hosted.calls == [] and len(edge.calls) == 1
    strict = policy.model_copy(
        update={"routes": [route.model_copy(update={"edge_oos_final_confidence": 1.0}), *policy.routes[1:]]}
    )
    engine.reload_policy(strict)  # the scripted oos confidence is below 1.0: escalates as before
    (res,) = (await engine.infer(_req("order me a pizza"))).results
    assert res.served_by.tier == "hosted"


async def test_confident_out_of_scope_from_the_last_edge_candidate_is_final() -> None:
    """oos from a cheaper edge model goes to the next edge model; from the last one it is final."""
    from tests.unit.router_fakes import LABELS, EdgeOutput

    def says_oos(model: str, text: str) -> EdgeOutput:
        labels = LABELS[model]
        return EdgeOutput(
            None,
            tuple(0.9 if lbl == "oos" else 0.1 / (len(labels) - 1) for lbl in labels),
            None,
            device="CPU",
        )

    engine, _, hosted, _ = _engine(edge=FakeEdge(says_oos))
    route = engine.policy.routes[0].model_copy(update={"edge_oos_final_confidence": 0.8})
    engine.reload_policy(engine.policy.model_copy(update={"routes": [route, *engine.policy.routes[1:]]}))
    req = InferInput("r1", "classify", ("something odd",), domain="banking")
    (res,) = (await engine.infer(req)).results
    assert _trace(res) == [("clinc-banking", "escalate"), ("generalist", "ok")]
    assert res.label == "oos" and res.served_by.tier == "edge" and hosted.calls == []


async def test_out_of_scope_domain_without_fallback_is_answered_at_the_edge() -> None:
    engine, _, hosted, _ = _engine()
    route = engine.policy.routes[0].model_copy(update={"fallback": None})
    engine.reload_policy(engine.policy.model_copy(update={"routes": [route, *engine.policy.routes[1:]]}))
    (res,) = (await engine.infer(_req("order me a pizza"))).results
    assert _trace(res) == [("domain-router", "ok")]
    assert res.label == "oos" and res.served_by.tier == "edge" and hosted.calls == []


async def test_unsure_domain_detection_escalates() -> None:
    engine, _, _, _ = _engine()
    (res,) = (await engine.infer(_req("unsure thing"))).results
    assert res.trace[0].reason == "domain detection: confidence 0.40 < 0.60"
    assert res.served_by.tier == "hosted"


async def test_given_domain_skips_detection() -> None:
    engine, edge, _, _ = _engine()
    req = InferInput("r", "classify", ("what is my balance",), domain="banking")
    (res,) = (await engine.infer(req)).results
    assert [c[1] for c in edge.calls] == ["clinc-banking"] and res.domain == "banking"


async def test_hosted_down_keeps_the_best_edge_answer() -> None:
    engine, _, _, _ = _engine(hosted=FakeHosted(down=True))
    (res,) = (await engine.infer(_req("transfer money"))).results
    assert res.served_by.tier == "edge" and res.label == "transfer"
    assert res.served_by.model == "generalist" and res.confidence == pytest.approx(0.55)
    assert _trace(res)[-2:] == [("hosted:big", "error"), ("generalist", "ok")]
    assert res.trace[-1].reason == (
        "hosted unavailable: hosted endpoint 'big' failed: connection refused, kept edge answer with confidence 0.55"
    )


async def test_hosted_circuit_open_is_skipped() -> None:
    engine, _, hosted, _ = _engine(hosted=FakeHosted(circuit_state="open"))
    (res,) = (await engine.infer(_req("transfer money"))).results
    assert res.trace[-2].outcome == "skip" and "circuit open" in res.trace[-1].reason
    assert not hosted.calls


async def test_hosted_down_and_no_edge_answer_is_unavailable() -> None:
    edge = FakeEdge()
    for model in ("domain-router", "clinc-banking", "generalist"):
        edge.fail[model] = TargetError(f"{model} failed: UNAVAILABLE")
    engine, _, _, _ = _engine(hosted=FakeHosted(down=True), edge=edge)
    with pytest.raises(Unavailable, match=r"no target could answer: .*hosted:big: error"):
        await engine.infer(_req("order me a pizza"))
    assert engine.accounting.snapshot().errors == 1


async def test_edge_failure_escalates_and_feeds_the_breaker() -> None:
    edge = FakeEdge()
    edge.fail["clinc-banking"] = TargetError("clinc-banking at x timed out", timeout=True)
    engine, _, _, _ = _engine(edge=edge, breaker_failures=2)
    (res,) = (await engine.infer(_req("what is my balance"))).results
    assert ("clinc-banking", "timeout") in _trace(res)
    assert res.served_by.model == "generalist" or res.served_by.tier == "hosted"
    for _ in range(4):
        await engine.infer(_req("what is my balance"))
    (res,) = (await engine.infer(_req("what is my balance"))).results
    assert res.trace[1].outcome == "skip" and "no ready replica" in res.trace[1].reason
    assert engine.accounting.snapshot().escalations["error"] >= 5


async def test_latency_budget_skips_slow_hosted_and_keeps_edge() -> None:
    engine, _, hosted, _ = _engine(hosted_prior_ms=5000.0)
    (res,) = (await engine.infer(_req("transfer money", max_latency_ms=500))).results
    assert res.served_by.tier == "edge" and not hosted.calls
    assert res.trace[-2].outcome == "skip" and "est. latency 5000.0 ms" in res.trace[-2].reason
    assert "hosted:big skipped" in res.trace[-1].reason
    assert engine.accounting.snapshot().escalations["latency_budget"] == 1


async def test_stale_estimates_still_try_the_fastest_candidate() -> None:
    engine, _, _, _ = _engine(edge_prior_ms=900.0, hosted_prior_ms=5000.0)
    req = InferInput("r", "classify", ("what is my balance",), domain="banking", constraints=Constraints(100))
    (res,) = (await engine.infer(req)).results
    assert res.served_by.model == "clinc-banking"
    assert res.trace[0].outcome == "skip" and res.trace[-1].outcome == "ok"


async def test_cost_budget_limits_candidates() -> None:
    engine, _, hosted, _ = _engine()
    (res,) = (await engine.infer(_req("transfer money", max_cost_usd=0.0001))).results
    assert not hosted.calls and res.served_by.tier == "edge"
    assert any(s.outcome == "skip" and "est. cost" in s.reason for s in res.trace)
    assert res.cost_usd <= 0.0001


async def test_budget_exhausted_is_deadline_exceeded() -> None:
    class SlowEdge(FakeEdge):
        async def infer(self, *args: object, **kwargs: object) -> list:  # type: ignore[override]
            raise TargetError("slow timed out", timeout=True)

    engine, _, _, _ = _engine(edge=SlowEdge(), hosted=FakeHosted(down=True))
    with pytest.raises((DeadlineExceeded, Unavailable)):
        await engine.infer(_req("what is my balance"), client_timeout_s=0.0)


async def test_batch_and_embed() -> None:
    engine, _, _, _ = _engine()
    out = await engine.infer(InferInput("b", "classify", ("what is my balance", "book a flight")))
    assert [r.label for r in out.results] == ["balance", "book_flight"]
    assert out.cost_usd == pytest.approx(sum(r.cost_usd for r in out.results))
    (emb,) = (await engine.infer(_req("hello", task="embed"))).results
    assert emb.embedding == (0.6, 0.8) and emb.served_by.model == "minilm" and emb.label is None


async def test_overloaded_when_too_many_in_flight() -> None:
    gate = asyncio.Event()

    class BlockingEdge(FakeEdge):
        async def infer(self, *args: object, **kwargs: object) -> list:  # type: ignore[override]
            await gate.wait()
            return await super().infer(*args, **kwargs)  # type: ignore[arg-type]

    engine, _, _, _ = _engine(edge=BlockingEdge())
    tasks = [asyncio.create_task(engine.infer(_req("what is my balance"))) for _ in range(8)]
    for _ in range(50):
        if engine.inflight == 8:
            break
        await asyncio.sleep(0)
    with pytest.raises(Overloaded, match="8 texts in flight"):
        await engine.infer(_req("what is my balance"))
    gate.set()
    await asyncio.gather(*tasks)
    assert engine.inflight == 0


async def test_no_ready_replica_and_reload_policy() -> None:
    engine, _, _, fleet = _engine()
    state = make_state()
    for dep in state.deployments:
        for r in dep.replicas:
            r.state = "starting"
    fleet.set_state(state)
    (res,) = (await engine.infer(_req("what is my balance"))).results
    assert res.trace[0].outcome == "skip" and "no ready replica" in res.trace[0].reason
    assert res.served_by.tier == "hosted"
    assert "banking" in await engine.known_domains() and "travel" in await engine.known_domains()
    engine.reload_policy(make_policy())
    assert engine.policy_generation == 1


async def test_full_replica_queues_are_skipped() -> None:
    engine, _, _, _ = _engine()
    for i in range(2):
        for _ in range(64 * 32):  # the default max_queue of every deployment, in merged calls of 32 texts
            engine.estimates.begin(f"clinc-banking-{i}")
    (res,) = (await engine.infer(_req("what is my balance"))).results
    assert res.trace[1].outcome == "skip" and "max_queue=64" in res.trace[1].reason
    assert res.served_by.model == "generalist" or res.served_by.tier == "hosted"


# --- offline mode: degraded answers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("hosted", "reason"),
    [
        (FakeHosted(down=True), "hosted_unavailable"),
        (FakeHosted(down=True, error=TargetError("hosted timed out", timeout=True)), "hosted_timeout"),
        (FakeHosted(circuit_state="open"), "hosted_unavailable"),
        (
            FakeHosted(unavailable_reason="rate limited (HTTP 429), Retry-After ends in 9.0s"),
            "hosted_rate_limited",
        ),
    ],
)
async def test_an_escalation_the_hosted_tier_cannot_take_is_answered_degraded(
    hosted: FakeHosted, reason: str
) -> None:
    engine, _, _, _ = _engine(hosted=hosted)
    (res,) = (await engine.infer(_req("transfer money"))).results
    assert res.served_by.tier == "edge" and res.label == "transfer"
    assert (res.degraded, res.degraded_reason) == (True, reason)
    snap = engine.offline.snapshot({"big": hosted})
    assert snap.answers == 1 and snap.by_reason == {reason: 1} and snap.active


async def test_answers_that_did_not_need_the_hosted_tier_are_not_degraded() -> None:
    engine, _, _, _ = _engine(hosted=FakeHosted(down=True))
    (res,) = (await engine.infer(_req("what is my balance"))).results
    assert res.served_by.model == "clinc-banking" and not res.degraded and res.degraded_reason == ""
    (res,) = (await engine.infer(_req("transfer money", max_cost_usd=0.0001))).results
    assert res.served_by.tier == "edge" and not res.degraded  # the caller's cost cap, not an outage


async def test_out_of_scope_text_with_the_hosted_tier_down_asks_the_edge_after_all() -> None:
    engine, edge, hosted, _ = _engine(hosted=FakeHosted(down=True))
    (res,) = (await engine.infer(_req("order me a pizza"))).results  # domain router: oos -> hosted only
    assert res.served_by.model == "generalist" and res.label == "oos"
    assert res.degraded and res.degraded_reason == "hosted_unavailable"
    assert [c[1] for c in edge.calls] == ["domain-router", "generalist"] and len(hosted.calls) == 1


async def test_without_any_other_edge_model_the_domain_models_answer_stands_degraded() -> None:
    edge = FakeEdge()
    edge.fail["generalist"] = TargetError("generalist failed: UNAVAILABLE")
    engine, _, _, _ = _engine(hosted=FakeHosted(circuit_state="open"), edge=edge)
    (res,) = (await engine.infer(_req("order me a pizza"))).results
    assert res.served_by.model == "domain-router" and res.label == "oos" and res.degraded


async def test_a_degraded_answer_on_a_deferring_route_is_queued(tmp_path: Path) -> None:
    from router.deferred import DeferredEscalations

    engine, _, hosted, _ = _engine(hosted=FakeHosted(down=True))
    route = engine.policy.routes[0].model_copy(update={"defer_escalations": True})
    engine.policy = engine.policy.model_copy(update={"routes": [route, *engine.policy.routes[1:]]})
    configs = {h.name: h for h in engine.policy.hosted}
    engine.deferred = DeferredEscalations(tmp_path / "q.db", {"big": hosted}, configs, engine.accounting)
    (res,) = (await engine.infer(_req("transfer money"))).results
    assert res.degraded and engine.deferred.counts() == (1, 0, 0)
    hosted.down = False
    assert await engine.deferred.drain_once() == 1
    engine.deferred.close()


# --- breakers and sibling replicas --------------------------------------------------------------


async def test_a_failed_replica_is_retried_on_a_sibling_before_escalating() -> None:
    edge = FakeEdge()
    edge.fail["clinc-banking:0"] = TargetError("clinc-banking at clinc-banking:0 failed: UNAVAILABLE")
    edge.fail["clinc-banking:1"] = edge.fail["clinc-banking:0"]
    engine, _, _, _ = _engine(edge=edge)
    (res,) = (await engine.infer(_req("what is my balance"))).results
    banking = [s for s in res.trace if s.target == "clinc-banking"]
    assert [s.outcome for s in banking] == ["error", "error"]  # the replica, then its sibling
    assert engine.accounting.snapshot().escalations == {"error": 1, "out_of_scope": 1}  # one error, not two
    del edge.fail["clinc-banking:1"]
    (res,) = (await engine.infer(_req("what is my balance"))).results
    assert res.served_by.model == "clinc-banking" and res.label == "balance"


async def test_a_full_queue_or_a_cancelled_call_does_not_count_against_the_replica() -> None:
    from router.errors import TargetBusy

    edge = FakeEdge()
    edge.fail["clinc-banking"] = TargetBusy("clinc-banking is busy: queue full")
    engine, _, _, _ = _engine(edge=edge, breaker_failures=1)
    await engine.infer(_req("what is my balance"))
    for i in range(2):
        stats = engine.estimates.stats(f"clinc-banking-{i}")
        assert stats.errors == 0 and engine.estimates.circuit(f"clinc-banking-{i}") == "closed"

    class Hanging(FakeEdge):
        async def infer(self, *args: object, **kwargs: object) -> list:  # type: ignore[override]
            await asyncio.Event().wait()
            return []

    engine, _, _, _ = _engine(edge=Hanging(), breaker_failures=1)
    task = asyncio.create_task(engine.infer(_req("what is my balance")))
    for _ in range(50):
        if engine.inflight:
            break
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert all(engine.estimates.stats(f"domain-router-{i}").errors == 0 for i in range(2))
    assert engine.estimates.stats("domain-router-0").outstanding == 0


async def test_edge_timeouts_count_unless_the_callers_budget_cut_them_short() -> None:
    edge = FakeEdge()
    edge.fail["clinc-banking"] = TargetError("clinc-banking timed out", timeout=True)
    engine, _, _, _ = _engine(edge=edge)
    req = InferInput("r", "classify", ("what is my balance",), domain="banking", constraints=Constraints(100))
    await engine.infer(req)  # 100 ms budget: a timeout under slow_call_ms (250) says nothing
    assert sum(engine.estimates.stats(f"clinc-banking-{i}").errors for i in range(2)) == 0
    req = InferInput("r", "classify", ("what is my balance",), domain="banking")
    await engine.infer(req)  # 1 s budget: a replica that hangs that long is broken
    assert sum(engine.estimates.stats(f"clinc-banking-{i}").errors for i in range(2)) == 1


async def test_target_calls_end_before_the_callers_deadline() -> None:
    engine, edge, _, _ = _engine()
    await engine.infer(_req("what is my balance", max_latency_ms=1000))
    assert all(timeout_s <= 0.9 + 1e-6 for *_, timeout_s in edge.calls)  # 100 ms kept to answer
    assert engine.requests.latest_deadline_s() == 0.0  # nothing left in flight
