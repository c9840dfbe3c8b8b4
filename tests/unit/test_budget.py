"""Per-key rate limits and budgets (KeyGate) and one request's money (CostBudget), alone and through
the routing engine: a batch shares one cost budget, a key's budgets hold against what requests
really cost (the hosted fallback included) and the ledger rows name the key's id, never the key."""

from __future__ import annotations

import dataclasses
import random

import pytest

from edgefleet.policy.security_options import KeyLimits
from router.accounting import Accounting
from router.budget import CostBudget, KeyGate
from router.domain import Constraints, InferInput
from router.engine import RouterEngine
from router.errors import LimitExceeded, Overloaded
from router.estimates import Estimates
from router.fleet_source import StaticFleet
from router.ledger import Ledger, LedgerEntry
from tests.unit.router_fakes import FakeEdge, FakeHosted, make_policy, make_state

HOSTED_TEXT_COST = 0.00001 + 0.00002 + 0.00005 + 0.01 + 0.0003  # "transfer money": edge x3, then hosted
HOSTED_ESTIMATE = 0.00132  # what the router expects the fake hosted call to cost before it is made


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_is_a_token_bucket_that_names_the_key() -> None:
    clock = Clock()
    gate = KeyGate(Ledger(None), clock)
    limits = KeyLimits(rate_per_s=2, burst=3)
    for _ in range(3):
        gate.admit("shop", limits)
    with pytest.raises(LimitExceeded, match=r"rate limit of key 'shop' exceeded: 2 requests/s, burst 3"):
        gate.admit("shop", limits)
    clock.now += 0.5  # one token back
    gate.admit("shop", limits)
    gate.admit("other", limits)  # buckets are per key
    gate.admit("free", KeyLimits())  # no limit


def test_daily_and_monthly_budgets_come_from_the_ledger() -> None:
    ledger = Ledger(None)
    gate = KeyGate(ledger)
    gate.admit("shop", KeyLimits(budget_usd_per_day=1.0, budget_usd_per_month=10.0))
    budget = gate.budget("shop", None, None)
    assert budget.limit == pytest.approx(1.0) and "daily budget of key 'shop'" in budget.what
    ledger.record(LedgerEntry("r", "route", "classify", "hosted", "m", 0.75, api_key="shop"))
    assert gate.budget("shop", 0.2, None).what == "the request's max_cost_usd"
    assert gate.budget("shop", None, None).limit == pytest.approx(0.25)
    ledger.record(LedgerEntry("r", "route", "classify", "edge", "m", 0.25, api_key="shop"))
    with pytest.raises(
        LimitExceeded, match=r"daily budget of key 'shop' is spent: \$1\.000000 of \$1\.000000"
    ):
        gate.budget("shop", None, None)
    assert gate.budget("other", None, None).limit is None  # the ledger is per key


def test_requests_in_flight_cannot_spend_the_same_remainder_twice() -> None:
    gate = KeyGate(Ledger(None))
    gate.admit("shop", KeyLimits(budget_usd_per_day=1.0))
    first = gate.budget("shop", None, None)
    assert first.reserve(0.6)
    second = gate.budget("shop", None, None)
    assert second.limit == pytest.approx(0.4) and not second.reserve(0.6)
    first.settle(0.6, 0.5)  # the call cost less than reserved
    first.close("r1", "route", "classify")  # nothing recorded with an answer: the spend goes to the ledger
    assert gate.ledger.day("shop").total_usd == pytest.approx(0.5)
    assert gate.budget("shop", None, None).limit == pytest.approx(0.5)


def test_cost_budget_reserve_settle_and_unrecorded_spend() -> None:
    ledger = Ledger(None)
    budget = CostBudget(0.01, "the request's max_cost_usd", "k", None, ledger)
    assert budget.reserve(0.004) and budget.reserve(0.006) and not budget.reserve(0.001)
    budget.settle(0.004, 0.004)
    budget.settle(0.006, 0.0)  # a failed attempt costs nothing
    assert budget.remaining() == pytest.approx(0.006)
    budget.recorded_cost(0.004)
    budget.close("r", "route", "classify")
    assert ledger.day("k").total_usd == 0.0  # everything spent was recorded with its answer
    assert not budget.imposed and CostBudget(1.0, "what is left of the daily budget of key 'k'").imposed


class HonestHosted(FakeHosted):
    """Reports about as many tokens as the router estimates (the plain fake reports 1000)."""

    async def classify(
        self, text: str, labels: object, timeout_s: float, *, headers: object = None
    ) -> object:
        answer = await super().classify(text, labels, timeout_s, headers=headers)  # type: ignore[arg-type]
        return dataclasses.replace(answer, input_tokens=100)


def _engine(
    ledger: Ledger | None = None, hosted: FakeHosted | None = None, **router: object
) -> tuple[RouterEngine, FakeHosted]:
    policy = make_policy()
    if router:
        limits = policy.router.limits.model_copy(update=router)
        policy = policy.model_copy(update={"router": policy.router.model_copy(update={"limits": limits})})
    hosted = hosted or FakeHosted()
    engine = RouterEngine(
        policy,
        StaticFleet(make_state()),
        FakeEdge(),
        {"big": hosted},
        accounting=Accounting(None, ledger=ledger),
        estimates=Estimates(),
        rng=random.Random(0),
    )
    return engine, hosted


def _req(*texts: str, key: str = "", **constraints: float) -> InferInput:
    return InferInput("r1", "classify", texts, constraints=Constraints(**constraints), key_id=key)


async def test_a_batch_shares_one_cost_budget() -> None:
    """max_cost_usd holds for the whole request: two texts that each need the hosted fallback do
    not each get the full budget."""
    engine, hosted = _engine(hosted=HonestHosted())
    budget = 0.00016 + HOSTED_ESTIMATE * 1.5  # both texts' edge calls, and one hosted call
    out = await engine.infer(_req("transfer money", "transfer funds", max_cost_usd=budget))
    assert len(hosted.calls) == 1  # only one text could reserve the hosted call
    kept = [r for r in out.results if r.served_by.tier == "edge"]
    assert len(kept) == 1 and "cost" in " ".join(s.reason for s in kept[0].trace)


async def test_router_cap_per_request_applies_over_all_texts() -> None:
    engine, hosted = _engine(max_cost_usd_per_request=0.0001)
    out = await engine.infer(_req("transfer money"))
    assert not hosted.calls and out.cost_usd <= 0.0001
    assert "router.limits.max_cost_usd_per_request" in out.results[0].trace[-2].reason
    with pytest.raises(LimitExceeded, match=r"no target fits router\.limits\.max_cost_usd_per_request"):
        await engine.infer(_req("transfer money", "transfer funds", "transfer cash"))


async def test_texts_count_against_max_inflight() -> None:
    engine, _ = _engine()  # max_inflight 8, max_batch 4
    engine.inflight = 6
    with pytest.raises(Overloaded, match="6 texts in flight and this request has 4"):
        await engine.infer(_req("a", "b", "c", "d"))
    await engine.infer(_req("what is my balance", "book a flight"))
    assert engine.inflight == 6


async def test_a_key_over_its_budget_is_refused_naming_the_limit() -> None:
    ledger = Ledger(None)
    engine, hosted = _engine(ledger)
    engine.gate.admit("shop", KeyLimits(budget_usd_per_day=HOSTED_TEXT_COST + 0.0005))
    first = await engine.infer(_req("transfer money", key="shop"))
    assert first.results[0].served_by.tier == "hosted"  # the fallback's cost counts against the key
    assert ledger.day("shop").total_usd == pytest.approx(HOSTED_TEXT_COST)
    second = await engine.infer(_req("transfer money", key="shop"))  # only the edge fits what is left
    assert second.results[0].served_by.tier == "edge" and len(hosted.calls) == 1
    assert "daily budget of key 'shop'" in " ".join(s.reason for s in second.results[0].trace)
    ledger.record(LedgerEntry("x", "intents", "classify", "hosted", "m", 1.0, api_key="shop"))
    with pytest.raises(LimitExceeded, match="daily budget of key 'shop' is spent"):
        await engine.infer(_req("what is my balance", key="shop"))
    assert ledger.day("").total_usd == 0.0  # rows carry the key's id
    assert all(k == "shop" for (k, _day) in ledger._daily)


async def test_generation_budget_counts_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    engine, _ = _engine()
    engine.gate.admit("shop", KeyLimits(budget_usd_per_month=0.0))
    from edgefleet.generation import ChatMessage, SamplingParams
    from router.domain import GenerateInput

    req = GenerateInput("g1", (ChatMessage("user", "hi"),), SamplingParams(max_tokens=4), key_id="shop")
    with pytest.raises(LimitExceeded, match="monthly budget of key 'shop' is spent"):
        async for _ in engine.generate(req):
            pass
    assert dataclasses.replace(req, key_id="").key_id == ""
