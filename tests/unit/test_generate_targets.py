"""The checks before trying a generation candidate (availability, queues, context window, cost
budget with the hosted worst case, time left) and the hosted fallback's time reserve. The calls
themselves are exercised through the engine in test_generate_engine.py."""

from __future__ import annotations

import time

import pytest

from router.choose import CandidateEstimate
from router.domain import COST_BUDGET, ERROR, LATENCY_BUDGET, PROMPT_TOO_LONG, QUEUE_FULL
from router.engine import RouterEngine
from router.generate_run import GenerateRun
from router.generate_targets import GenerateTargets
from tests.unit.generate_fakes import FakeHostedGenerator, gen_engine, gen_input
from tests.unit.router_fakes import FakeHosted


async def _setup(
    text: str = "hello", **constraints: float
) -> tuple[RouterEngine, GenerateTargets, GenerateRun, list[CandidateEstimate]]:
    engine, _, _ = gen_engine()
    req = gen_input(text, **constraints)
    run = engine.generation._start(req, engine.policy, time.perf_counter(), None)
    index = await engine.fleet_index()
    targets = engine.generation.targets
    planned = [
        targets.hosted_worst_case(run, e)
        for e in engine.plan(run.route, index, engine.policy, "generate", "", (), None)
    ]
    return engine, targets, run, planned


async def test_hosted_worst_case_and_reserve() -> None:
    _, targets, run, planned = await _setup()
    assert [e.candidate.target for e in planned] == ["llm-small", "llm-large", "hosted:big"]
    hosted = planned[-1]
    worst = run.prompt_tokens / 1000 * 0.01 + run.params.max_tokens / 1000 * 0.03
    assert hosted.est_cost_usd == pytest.approx(worst)
    assert hosted.est_latency_ms == 200.0  # the generation estimate's prior
    assert targets.hosted_reserve_ms(run, planned) == 200.0


async def test_no_reserve_when_the_fallback_cannot_be_used() -> None:
    _, targets, run, planned = await _setup(max_cost_usd=0.0001)
    assert targets.hosted_misfit(run, planned[-1])[0] == COST_BUDGET  # type: ignore[index]
    assert targets.hosted_reserve_ms(run, planned) == 0.0
    engine, targets, run, planned = await _setup()
    hosted = engine.targets.hosted["big"]
    assert isinstance(hosted, FakeHostedGenerator)
    hosted.circuit_state = "open"
    index = await engine.fleet_index()
    planned = engine.plan(run.route, index, engine.policy, "generate", "", (), None)
    assert targets.hosted_misfit(run, planned[-1]) == (ERROR, "hosted unavailable: circuit open")
    engine.targets.hosted["big"] = FakeHosted()  # type: ignore[index]  # classify/embed only
    planned = engine.plan(run.route, index, engine.policy, "generate", "", (), None)
    assert targets.hosted_misfit(run, planned[-1]) == (
        ERROR,
        "hosted endpoint cannot generate (no chat_stream)",
    )


async def test_edge_misfits_name_the_reason() -> None:
    engine, targets, run, planned = await _setup()
    small = planned[0]
    assert targets.edge_misfit(run, small, 0.0) is None
    reason, message = targets.edge_misfit(run, small, run.remaining_ms() + 1.0)  # type: ignore[misc]
    assert reason == LATENCY_BUDGET and "kept for the hosted fallback" in message
    _, targets, run, planned = await _setup("word " * 1800)
    assert targets.edge_misfit(run, planned[0], 0.0)[0] == PROMPT_TOO_LONG  # type: ignore[index]
    assert targets.edge_misfit(run, planned[1], 0.0) is None  # the larger context fits
    _, targets, run, planned = await _setup(max_cost_usd=0.00005)
    reason, message = targets.edge_misfit(run, planned[1], 0.0)  # type: ignore[misc]
    assert reason == COST_BUDGET and message.startswith("est. cost $0.000100 > remaining")
    engine, targets, run, _ = await _setup()
    for replica in ("llm-small-0", "llm-small-1"):
        for _ in range(engine.policy.deployment("llm-small").max_queue):
            engine.estimates.begin(replica)
    index = await engine.fleet_index()
    planned = engine.plan(run.route, index, engine.policy, "generate", "", (), None)
    assert targets.edge_misfit(run, planned[0], 0.0) == (QUEUE_FULL, "replica queues full (max_queue=64)")
    targets.edge = None
    assert targets.edge_misfit(run, planned[1], 0.0) == (ERROR, "no edge generation client configured")
