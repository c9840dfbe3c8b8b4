"""Generation through the routing engine with FAKE edge and hosted generators: route choice,
every escalation reason, budgets, buffered vs immediate streaming with retraction, cancellation
reaching the edge stream, the trace and the accounting."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import pytest

from router.accounting import Accounting
from router.domain import GenerateEvent, GenerateFinal, GenerateInput, Retraction, TextDelta
from router.engine import RouterEngine
from router.errors import DeadlineExceeded, Overloaded, TargetBusy, Unavailable
from tests.unit.generate_fakes import (
    LP_SURE,
    LP_UNSURE,
    FakeEdgeGenerator,
    FakeHostedGenerator,
    Script,
    chunks,
    gen_engine,
    gen_input,
    gen_policy,
)

UNSURE = "I am not sure about this."


async def collect(engine: RouterEngine, req: GenerateInput) -> list[GenerateEvent]:
    return [event async for event in engine.generate(req)]


def final_of(events: list[GenerateEvent]) -> GenerateFinal:
    assert isinstance(events[-1], GenerateFinal)
    assert not any(isinstance(e, GenerateFinal) for e in events[:-1])
    return events[-1]


def texts(events: list[GenerateEvent]) -> str:
    """The text a client holds at the end (deltas since the last retraction)."""
    out = ""
    for event in events:
        if isinstance(event, Retraction):
            assert event.chars == len(out)
            out = ""
        elif isinstance(event, TextDelta):
            out += event.text
    return out


async def consume_into(engine: RouterEngine, req: GenerateInput, got: list[GenerateEvent]) -> None:
    async for event in engine.generate(req):
        got.append(event)


def trace(final: GenerateFinal) -> list[tuple[str, str]]:
    return [(s.target, s.outcome) for s in final.trace]


def unsure_everywhere() -> FakeEdgeGenerator:
    return FakeEdgeGenerator(
        {m: Script(chunks(UNSURE, LP_UNSURE)) for m in ("smollm", "qwen", "smollm-banking")}
    )


async def test_confident_edge_answer_is_held_then_sent_whole() -> None:
    engine, edge, hosted = gen_engine()
    events = await collect(engine, gen_input())
    final = final_of(events)
    assert events[:-1] == [TextDelta("A fine edge answer.")]  # buffered: one delta, once judged
    assert final.text == "A fine edge answer." and final.finish_reason == "stop"
    assert final.served_by.tier == "edge" and final.served_by.model == "smollm"  # the cheapest
    assert final.confidence == pytest.approx(0.9)
    assert (final.prompt_tokens, final.completion_tokens) == (12, 4)
    assert final.cost_usd == pytest.approx(0.00001) and final.route == "chat"
    assert trace(final) == [("llm-small", "ok")]
    assert "confidence 0.90 (4 tokens, first token" in final.trace[0].reason
    assert 0 < final.time_to_first_token_ms <= final.latency_ms
    assert hosted.calls == [] and [c[1] for c in edge.calls] == ["smollm"]
    snap = engine.accounting.generate_snapshot()
    assert (snap.requests, snap.edge, snap.edge_prompt_tokens, snap.edge_completion_tokens) == (1, 1, 12, 4)
    assert snap.hosted_equivalent_usd > snap.spend_usd
    assert engine.accounting.snapshot().edge == 1 and engine.inflight == 0


async def test_low_confidence_escalates_cheapest_first_then_hosted() -> None:
    engine, _, hosted = gen_engine(unsure_everywhere())
    events = await collect(engine, gen_input())
    final = final_of(events)
    assert texts(events) == final.text == "The hosted answer."
    assert not any(isinstance(e, Retraction) for e in events)  # the client never saw edge text
    assert trace(final) == [("llm-small", "escalate"), ("llm-large", "escalate"), ("hosted:big", "ok")]
    assert final.trace[0].reason.startswith("confidence 0.30 < 0.50 (6 tokens")
    assert final.served_by.tier == "hosted" and final.served_by.model == "big-model"
    assert final.served_by.node == "big.example"
    assert (final.prompt_tokens, final.completion_tokens) == (100, 3)
    assert final.cost_usd == pytest.approx(0.00001 + 0.0001 + 100 / 1000 * 0.01 + 3 / 1000 * 0.03)
    assert final.confidence == pytest.approx(0.95)
    assert len(hosted.calls) == 1
    snap = engine.accounting.generate_snapshot()
    assert snap.hosted == 1 and snap.escalations == {"low_confidence": 2}
    assert (snap.hosted_prompt_tokens, snap.hosted_completion_tokens) == (100, 3)


async def test_request_min_confidence_is_stricter_than_the_route() -> None:
    engine, _, _ = gen_engine()
    final = final_of(await collect(engine, gen_input(min_confidence=0.95)))
    assert final.served_by.tier == "hosted"
    assert final.trace[0].reason.startswith("confidence 0.90 < 0.95")


async def test_domain_adds_its_specialists_in_cost_order() -> None:
    engine, _, _ = gen_engine(unsure_everywhere())
    final = final_of(await collect(engine, gen_input(domain="banking")))
    assert [t for t, _ in trace(final)] == ["llm-small", "llm-banking", "llm-large", "hosted:big"]
    assert final.domain == "banking"


async def test_replica_failure_tries_a_sibling_then_escalates_and_counts_against_both() -> None:
    edge = FakeEdgeGenerator({"smollm": Script(chunks("x", LP_SURE), fail_after=0)})
    engine, _, _ = gen_engine(edge)
    final = final_of(await collect(engine, gen_input()))
    assert trace(final) == [("llm-small", "error"), ("llm-small", "error"), ("llm-large", "ok")]
    assert "replica failed" in final.trace[0].reason
    assert final.cost_usd == pytest.approx(0.0001)  # a failed attempt costs nothing
    tried = [call[0] for call in edge.calls[:2]]
    assert sorted(tried) == ["llm-small:0", "llm-small:1"]  # the sibling, not the same replica again
    for address in tried:
        assert engine.estimates.stats(address.replace(":", "-")).errors == 1
    assert engine.accounting.generate_snapshot().escalations == {"error": 1}  # one escalation, not two


async def test_a_sibling_that_answers_keeps_the_request_on_the_edge() -> None:
    edge = FakeEdgeGenerator({"smollm": Script(chunks("A fine edge answer.", LP_SURE), fail_after=0)})
    engine, _, _ = gen_engine(edge)
    original = edge._stream

    def first_fails(model: str) -> Any:
        if len(edge.calls) > 1:  # the sibling answers
            edge.scripts = {}
        return original(model)

    edge._stream = first_fails  # type: ignore[method-assign]
    final = final_of(await collect(engine, gen_input()))
    assert trace(final) == [("llm-small", "error"), ("llm-small", "ok")]
    assert final.served_by.tier == "edge" and not final.degraded
    assert engine.accounting.generate_snapshot().escalations == {}


async def test_queue_full_escalates_without_opening_the_circuit() -> None:
    busy = TargetBusy("smollm at llm-small:0 is busy: queue full")
    edge = FakeEdgeGenerator({"smollm": Script(chunks("x", LP_SURE), fail_after=0, error=busy)})
    engine, _, _ = gen_engine(edge)
    final = final_of(await collect(engine, gen_input()))
    assert trace(final) == [("llm-small", "error"), ("llm-small", "error"), ("llm-large", "ok")]
    assert engine.accounting.generate_snapshot().escalations == {"queue_full": 1}
    for address, *_ in edge.calls[:2]:
        assert engine.estimates.stats(address.replace(":", "-")).errors == 0


async def test_every_queue_full_without_fallback_is_resource_exhausted() -> None:
    busy = TargetBusy("busy: queue full")
    edge = FakeEdgeGenerator({"smollm": Script(chunks("x", LP_SURE), fail_after=0, error=busy)})
    engine, _, _ = gen_engine(edge)
    with pytest.raises(Overloaded, match="queue is full"):
        await collect(engine, gen_input(domain="cooking"))
    assert engine.accounting.snapshot().errors == 1 and engine.inflight == 0


async def test_no_first_token_in_time_cancels_the_edge_stream() -> None:
    edge = FakeEdgeGenerator({"smollm": Script(chunks("x", LP_SURE), gate_after=0)})  # never starts
    engine, _, _ = gen_engine(edge)
    final = final_of(await collect(engine, gen_input(max_time_to_first_token_ms=30)))
    assert trace(final) == [("llm-small", "timeout"), ("llm-large", "ok")]
    assert final.trace[0].reason == "no first token within 30 ms"
    assert edge.cancelled == ["smollm"] and edge.open == 0
    assert engine.accounting.generate_snapshot().escalations == {"first_token_timeout": 1}


async def test_slow_edge_is_cut_off_leaving_time_for_the_fallback() -> None:
    # hangs after two chunks; the hosted fallback's expected time (its 200 ms prior) is kept back
    edge = FakeEdgeGenerator({"smollm": Script(chunks(UNSURE, LP_SURE), gate_after=2)})
    engine, _, hosted = gen_engine(edge)
    final = final_of(await collect(engine, gen_input(max_latency_ms=400)))
    assert trace(final) == [("llm-small", "timeout"), ("llm-large", "skip"), ("hosted:big", "ok")]
    assert final.trace[0].reason.startswith("answer not complete within")
    assert "kept for the hosted fallback" in final.trace[1].reason
    assert edge.cancelled == ["smollm"] and len(hosted.calls) == 1
    assert engine.accounting.generate_snapshot().escalations == {"latency_budget": 2}


async def test_slow_edge_without_fallback_is_deadline_exceeded() -> None:
    edge = FakeEdgeGenerator({"smollm": Script(chunks(UNSURE, LP_SURE), gate_after=1)})
    engine, _, _ = gen_engine(edge)
    with pytest.raises(DeadlineExceeded, match="llm-small: timeout"):
        await collect(engine, gen_input(domain="cooking", max_latency_ms=50))
    assert edge.cancelled == ["smollm"]


async def test_prompt_too_long_for_the_context_window_skips_the_model() -> None:
    engine, edge, _ = gen_engine()
    final = final_of(await collect(engine, gen_input("word " * 1800)))  # ~2250 tokens: > 2048, < 4096
    assert trace(final) == [("llm-small", "skip"), ("llm-large", "ok")]
    assert (
        final.trace[0].reason.startswith("prompt of ~2") and "context window of 2048" in final.trace[0].reason
    )
    assert [c[1] for c in edge.calls] == ["qwen"]
    assert engine.accounting.generate_snapshot().escalations == {"prompt_too_long": 1}


async def test_cost_budget_skips_the_hosted_worst_case_and_keeps_the_best_edge_answer() -> None:
    edge = unsure_everywhere()
    edge.scripts["qwen"] = Script(chunks("Maybe this.", math.log(0.4)))
    engine, _, hosted = gen_engine(edge)
    events = await collect(engine, gen_input(max_cost_usd=0.001))
    final = final_of(events)
    assert hosted.calls == []
    assert trace(final) == [
        ("llm-small", "escalate"),
        ("llm-large", "escalate"),
        ("hosted:big", "skip"),
        ("llm-large", "ok"),
    ]
    skip = final.trace[2].reason
    assert skip.startswith("worst case $0.00") and "64 max tokens) > remaining $0.000890" in skip
    assert final.trace[3].reason.startswith("hosted:big skipped: worst case")
    assert final.trace[3].reason.endswith("kept edge answer with confidence 0.40")
    assert final.text == texts(events) == "Maybe this." and final.served_by.model == "qwen"
    assert final.cost_usd == pytest.approx(0.00011) and final.cost_usd <= 0.001
    esc = engine.accounting.generate_snapshot().escalations
    assert esc == {"low_confidence": 2, "cost_budget": 1}


async def test_cost_budget_skips_an_edge_model_too_dear() -> None:
    engine, _, _ = gen_engine(unsure_everywhere())
    final = final_of(await collect(engine, gen_input(max_cost_usd=0.00005)))
    assert trace(final) == [
        ("llm-small", "escalate"),
        ("llm-large", "skip"),
        ("hosted:big", "skip"),
        ("llm-small", "ok"),
    ]


async def test_immediate_mode_streams_edge_text_then_retracts_it() -> None:
    engine, edge, _ = gen_engine(unsure_everywhere())
    events = await collect(engine, gen_input(route="chat-live", allow_retraction=True))
    final = final_of(events)
    retraction = next(e for e in events if isinstance(e, Retraction))
    cut = events.index(retraction)
    assert "".join(e.text for e in events[:cut] if isinstance(e, TextDelta)) == UNSURE
    assert retraction == Retraction(len(UNSURE), "low_confidence")
    assert texts(events) == final.text == "The hosted answer."
    assert final.served_by.tier == "hosted" and final.route == "chat-live"
    assert edge.calls[0][2].max_tokens == 32  # the route's cap
    snap = engine.accounting.generate_snapshot()
    assert snap.retractions == 1


async def test_immediate_mode_needs_the_clients_consent() -> None:
    engine, _, _ = gen_engine(unsure_everywhere())
    events = await collect(engine, gen_input(route="chat-live", allow_retraction=False))
    assert not any(isinstance(e, Retraction) for e in events)
    assert [e for e in events if isinstance(e, TextDelta)] == [
        TextDelta("The "),
        TextDelta("hosted "),
        TextDelta("answer."),
    ]


async def test_time_to_first_token_immediate_vs_buffered() -> None:
    """Immediate mode shows the client the edge's first token; buffered mode its whole answer
    once judged (the fake stream waits for a gate after its first chunk)."""
    for route, allow in (("chat-live", True), ("chat-live", False)):
        script = Script(chunks("A fine edge answer.", LP_SURE), gate_after=1)
        engine, edge, _ = gen_engine(FakeEdgeGenerator({"smollm": script}))
        got: list[GenerateEvent] = []
        req = gen_input(route=route, allow_retraction=allow)
        task = asyncio.create_task(consume_into(engine, req, got))
        await asyncio.wait_for(edge.started.wait(), 5)
        for _ in range(20):
            await asyncio.sleep(0)
        assert bool(got) == allow  # immediate: "A " is already with the client; buffered: nothing
        script.gate.set()
        await asyncio.wait_for(task, 5)
        assert texts(got) == "A fine edge answer."


async def test_edge_failure_mid_stream_in_immediate_mode_retracts_what_was_sent() -> None:
    edge = FakeEdgeGenerator({"smollm": Script(chunks(UNSURE, LP_SURE), fail_after=2)})
    engine, _, _ = gen_engine(edge)
    events = await collect(engine, gen_input(route="chat-live", allow_retraction=True))
    assert Retraction(len("I am "), "error") in events
    assert texts(events) == "The hosted answer."


async def test_hosted_failure_before_any_text_keeps_the_edge_answer() -> None:
    engine, _, _ = gen_engine(unsure_everywhere(), FakeHostedGenerator(fail_after=0))
    events = await collect(engine, gen_input())
    final = final_of(events)
    assert trace(final)[-2:] == [("hosted:big", "error"), ("llm-small", "ok")]
    assert "kept edge answer with confidence 0.30" in final.trace[-1].reason
    assert final.served_by.tier == "edge" and texts(events) == UNSURE
    assert (final.degraded, final.degraded_reason) == (True, "hosted_unavailable")
    assert engine.offline.snapshot({}).by_reason == {"hosted_unavailable": 1}


async def test_an_open_hosted_circuit_gives_a_degraded_answer_and_a_deferred_escalation(
    tmp_path: Path,
) -> None:
    from router.deferred import DeferredEscalations

    hosted = FakeHostedGenerator()
    hosted.circuit_state = "open"
    engine, _, _ = gen_engine(unsure_everywhere(), hosted)
    route = engine.policy.routes[0].model_copy(update={"defer_escalations": True})
    engine.policy = engine.policy.model_copy(update={"routes": [route, *engine.policy.routes[1:]]})
    configs = {h.name: h for h in engine.policy.hosted}
    engine.deferred = DeferredEscalations(tmp_path / "q.db", {"big": hosted}, configs, engine.accounting)
    final = final_of(await collect(engine, gen_input()))
    assert final.served_by.tier == "edge" and final.degraded and final.degraded_reason == "hosted_unavailable"
    assert hosted.calls == [] and engine.deferred.counts() == (1, 0, 0)
    engine.deferred.close()


async def test_a_confident_edge_answer_is_never_degraded() -> None:
    hosted = FakeHostedGenerator()
    hosted.circuit_state = "open"
    engine, _, _ = gen_engine(hosted=hosted)
    final = final_of(await collect(engine, gen_input()))
    assert final.served_by.tier == "edge" and not final.degraded


async def test_hosted_failure_mid_stream_ends_the_stream_unless_retraction_is_allowed() -> None:
    engine, _, _ = gen_engine(unsure_everywhere(), FakeHostedGenerator(fail_after=2))
    got: list[GenerateEvent] = []
    with pytest.raises(Unavailable, match="hosted:big failed after 11 characters"):
        await consume_into(engine, gen_input(), got)
    assert got == [TextDelta("The "), TextDelta("hosted ")]
    assert engine.accounting.snapshot().errors == 1
    events = await collect(engine, gen_input(allow_retraction=True))
    assert Retraction(len("The hosted "), "error") in events
    assert texts(events) == UNSURE and final_of(events).served_by.tier == "edge"


async def test_client_cancellation_cancels_the_edge_stream() -> None:
    script = Script(chunks("A fine edge answer.", LP_SURE), gate_after=1)
    engine, edge, _ = gen_engine(FakeEdgeGenerator({"smollm": script}))

    task = asyncio.create_task(consume_into(engine, gen_input(), []))
    await asyncio.wait_for(edge.started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert edge.cancelled == ["smollm"] and edge.open == 0
    assert engine.inflight == 0
    assert engine.accounting.generate_snapshot().cancelled == 1
    assert engine.accounting.snapshot().errors == 0


async def test_closing_the_iteration_cancels_the_edge_stream() -> None:
    script = Script(chunks("A fine edge answer.", LP_SURE), gate_after=2)
    engine, edge, _ = gen_engine(FakeEdgeGenerator({"smollm": script}))
    events = engine.generate(gen_input(route="chat-live", allow_retraction=True))
    assert await anext(events) == TextDelta("A ")
    await events.aclose()
    assert edge.cancelled == ["smollm"] and edge.open == 0 and engine.inflight == 0


async def test_inflight_limit_is_resource_exhausted() -> None:
    engine, _, _ = gen_engine()
    engine.inflight = engine.policy.router.max_inflight
    with pytest.raises(Overloaded, match="max_inflight"):
        await collect(engine, gen_input())


async def test_deployment_that_does_not_generate_is_skipped() -> None:
    text = gen_policy().model_dump_json()
    policy = gen_policy().model_validate_json(
        text.replace('"targets":["llm-large","llm-small"]', '"targets":["classifier"]')
    )
    engine, _, _ = gen_engine(policy=policy)
    final = final_of(await collect(engine, gen_input()))
    assert trace(final) == [("classifier", "skip"), ("hosted:big", "ok")]
    assert final.trace[0].reason == "deployment 'classifier' serves task 'classify', not 'generate'"


async def test_escalated_generation_goes_to_the_escalation_log(tmp_path: Path) -> None:
    log = tmp_path / "esc.jsonl"
    engine, _, _ = gen_engine(unsure_everywhere(), accounting=Accounting(log))
    await collect(engine, gen_input("Explain overdraft fees"))
    engine.accounting.close()
    row = json.loads(log.read_text())
    assert row["task"] == "generate" and row["route"] == "chat"
    assert row["messages"] == [{"role": "user", "content": "Explain overdraft fees"}]
    assert row["reasons"] == ["low_confidence", "low_confidence"]
    assert [d["model"] for d in row["edge"]] == ["smollm", "qwen"] and row["edge"][0]["text"] == UNSURE
    assert row["hosted"]["text"] == "The hosted answer." and row["hosted"]["model"] == "big-model"
