"""GenerateRun's bookkeeping (what the client holds, retractions, the final event) and
read_stream's deadlines, failure mapping, forwarding and closing of the target's stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from edgefleet.generation import GenerationChunk, GenerationSummary, SamplingParams
from router.domain import (
    ERROR,
    FIRST_TOKEN_TIMEOUT,
    LATENCY_BUDGET,
    QUEUE_FULL,
    Retraction,
    ServedBy,
    TextDelta,
)
from router.errors import InvalidRequest, TargetBusy, TargetError
from router.generate_run import Attempt, GenerateRun, read_stream
from tests.unit.generate_fakes import gen_input, gen_policy

EDGE = ServedBy("smollm", "1", "llm-small-0", "node-0", "CPU", "edge")


def _run(**kw: object) -> GenerateRun:
    now = time.perf_counter()
    fields: dict[str, object] = {
        "req": gen_input(max_cost_usd=0.01),
        "route": gen_policy().routes[0],
        "params": SamplingParams(max_tokens=16),
        "start": now,
        "deadline": now + 10.0,
        "threshold": 0.5,
        "prompt_tokens": 14,
        "immediate": True,
        "clock": time.perf_counter,
        **kw,
    }
    return GenerateRun(**fields)  # type: ignore[arg-type]


def test_deltas_retractions_and_the_final_event() -> None:
    run = _run()
    assert run.retract("low_confidence") is None  # nothing to withdraw
    assert run.delta("Hello ") == TextDelta("Hello ") and run.delta("there") == TextDelta("there")
    first = run.time_to_first_token_ms()
    assert first > 0
    assert run.retract("low_confidence") == Retraction(11, "low_confidence")
    assert run.sent == 0 and run.retractions == 1 and run.time_to_first_token_ms() == first
    run.spent = 0.002
    assert run.remaining_cost() == pytest.approx(0.008) and run.remaining_ms() > 0
    summary = GenerationSummary(text="Hi.", logprobs=[-0.1], finish_reason=None)
    final = run.finish(EDGE, summary, 0.9)
    assert run.final is final and final.finish_reason == "stop" and final.cost_usd == 0.002
    assert (final.prompt_tokens, final.completion_tokens) == (14, 1)  # estimated when not reported
    assert final.route == "chat" and final.time_to_first_token_ms == first


async def _chunks(*items: GenerationChunk | Exception | float) -> AsyncIterator[GenerationChunk]:
    for item in items:
        if isinstance(item, float):
            await asyncio.sleep(item)
        elif isinstance(item, Exception):
            raise item
        else:
            yield item


async def _read(
    stream: AsyncIterator[GenerationChunk], first_s: float = 5.0, done_s: float = 5.0, forward: bool = False
) -> tuple[Attempt, list[TextDelta]]:
    now = time.perf_counter()
    attempt = Attempt("llm-small", now)
    events = [
        e
        async for e in read_stream(
            stream, attempt, now + first_s, now + done_s, time.perf_counter, TextDelta if forward else None
        )
    ]
    return attempt, events


async def test_reads_until_the_final_chunk_and_forwards_text() -> None:
    final = GenerationChunk("", (), True, "length", 3, 2)
    attempt, events = await _read(
        _chunks(GenerationChunk("a", (-0.1,)), GenerationChunk("b", (-0.2,)), final), forward=True
    )
    assert events == [TextDelta("a"), TextDelta("b")] and attempt.streamed == 2
    assert (
        attempt.failure is None and attempt.summary.text == "ab" and attempt.summary.finish_reason == "length"
    )
    assert attempt.first_token_ms is not None and attempt.ms >= attempt.first_token_ms
    attempt, events = await _read(_chunks(GenerationChunk("a", (-0.1,)), final))
    assert events == [] and attempt.summary.text == "a"  # held back without `forward`


@pytest.mark.parametrize(
    ("items", "first_s", "done_s", "reason", "message"),
    [
        ((1.0,), 0.02, 5.0, FIRST_TOKEN_TIMEOUT, "no first token within 20 ms"),
        ((GenerationChunk("a", (-0.1,)), 1.0), 5.0, 0.05, LATENCY_BUDGET, "answer not complete within 50 ms"),
        ((GenerationChunk("a"),), 5.0, 5.0, ERROR, "the stream ended without a final chunk"),
        ((TargetBusy("queue full"),), 5.0, 5.0, QUEUE_FULL, "queue full"),
        ((TargetError("deadline", timeout=True),), 5.0, 5.0, LATENCY_BUDGET, "deadline"),
        ((TargetError("boom"),), 5.0, 5.0, ERROR, "boom"),
        ((ValueError("bad chunk"),), 5.0, 5.0, ERROR, "ValueError: bad chunk"),
        ((GenerationChunk("", (), True, "error"),), 5.0, 5.0, ERROR, "finish_reason 'error'"),
    ],
)
async def test_failures_end_up_in_the_attempt(
    items: tuple[object, ...], first_s: float, done_s: float, reason: str, message: str
) -> None:
    attempt, _ = await _read(_chunks(*items), first_s, done_s)  # type: ignore[arg-type]
    assert attempt.failure == reason and message in attempt.message
    assert attempt.timed_out == (reason in (FIRST_TOKEN_TIMEOUT, LATENCY_BUDGET))


async def test_router_errors_propagate() -> None:
    with pytest.raises(InvalidRequest):
        await _read(_chunks(InvalidRequest("not a target failure")))


async def test_the_target_stream_is_closed_on_every_exit() -> None:
    closed: list[str] = []

    async def stream() -> AsyncIterator[GenerationChunk]:
        try:
            yield GenerationChunk("a", (-0.1,))
            await asyncio.sleep(10)
            yield GenerationChunk("", (), True, "stop")
        finally:
            closed.append("closed")

    attempt, _ = await _read(stream(), done_s=0.05)
    assert attempt.failure == LATENCY_BUDGET and closed == ["closed"]
    now = time.perf_counter()
    reader = read_stream(stream(), Attempt("x", now), now + 5, now + 5, time.perf_counter, TextDelta)
    assert await anext(reader) == TextDelta("a")
    await reader.aclose()  # the caller leaves
    assert closed == ["closed", "closed"]
