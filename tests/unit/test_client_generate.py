"""client.generate: the event streams over scripted calls (no network)."""

from __future__ import annotations

import grpc
import pytest

from client.errors import DeadlineExceeded, InternalError, InvalidArgument, Overloaded, Unavailable
from client.generate import AsyncGenerateStream, GenerateStream
from client.results import GenerateResult, Retraction, TextDelta
from client.retry import RetryPolicy
from tests.unit.client_fakes import CallScript, FakeRpcError, FakeStreamCall, delta, final, retraction

FAST = RetryPolicy(max_attempts=3, initial_backoff_s=0.001, max_backoff_s=0.002)
UNAVAILABLE = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "no target could answer")


def _escalated() -> FakeStreamCall:
    return FakeStreamCall(
        [delta("Not "), delta("sure."), retraction(9), delta("Paris."), final("Paris.", completion_tokens=2)]
    )


def test_events_text_and_result_with_a_retraction() -> None:
    stream = GenerateStream(CallScript(_escalated()), FAST, 5.0)
    events = list(stream)
    assert events[:3] == [TextDelta("Not "), TextDelta("sure."), Retraction(9, "low_confidence")]
    assert isinstance(events[-1], GenerateResult) and events[-1].text == "Paris."
    assert stream.text == "Paris." and stream.retractions == [Retraction(9, "low_confidence")]
    assert stream.result is events[-1]


def test_collect_returns_the_result_and_a_stream_is_read_once() -> None:
    stream = GenerateStream(CallScript(_escalated()), FAST, None)
    assert stream.collect().text == "Paris."
    with pytest.raises(RuntimeError, match="only once"):
        list(stream)


def test_a_failure_before_any_event_is_retried() -> None:
    script = CallScript(FakeStreamCall([], UNAVAILABLE), FakeStreamCall([delta("ok"), final("ok")]))
    stream = GenerateStream(script, FAST, 5.0)
    assert stream.collect().text == "ok"
    assert len(script.opened) == 2 and script.opened[0].cancelled
    first, second = script.timeouts
    assert first is not None and second is not None and 4.9 < second < first <= 5.0


def test_a_failure_after_text_is_never_retried() -> None:
    script = CallScript(FakeStreamCall([delta("Half an ")], UNAVAILABLE), FakeStreamCall([final("x")]))
    stream = GenerateStream(script, FAST, 5.0)
    with pytest.raises(Unavailable) as info:
        list(stream)
    assert info.value.attempts == 1 and len(script.opened) == 1
    assert stream.text == "Half an " and stream.result is None


def test_a_bad_request_is_not_retried() -> None:
    bad = FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "max_tokens must be 1..4096")
    script = CallScript(FakeStreamCall([], bad), FakeStreamCall([final("x")]))
    with pytest.raises(InvalidArgument, match="max_tokens"):
        GenerateStream(script, FAST, 5.0).collect()
    assert len(script.opened) == 1


def test_leaving_early_cancels_the_call() -> None:
    call = _escalated()
    with GenerateStream(CallScript(call), FAST, 5.0) as stream:
        for event in stream:
            assert event == TextDelta("Not ")
            break
    assert call.cancelled


def test_a_stream_without_a_final_event_is_an_error() -> None:
    with pytest.raises(InternalError, match="without a final result"):
        GenerateStream(CallScript(FakeStreamCall([delta("cut")])), FAST, 5.0).collect()


def test_a_spent_deadline_opens_no_call() -> None:
    script = CallScript(FakeStreamCall([final("x")]))
    with pytest.raises(DeadlineExceeded):
        GenerateStream(script, FAST, 0.0).collect()
    assert script.opened == []


async def test_the_async_stream_retries_and_retracts_the_same_way() -> None:
    exhausted = FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "queues full")
    script = CallScript(FakeStreamCall([], exhausted), _escalated())
    stream = AsyncGenerateStream(script, FAST, 5.0)
    events = [e async for e in stream]
    assert len(events) == 5 and stream.text == "Paris." and len(script.opened) == 2
    never = CallScript(FakeStreamCall([], exhausted), _escalated())
    with pytest.raises(Overloaded):
        await AsyncGenerateStream(never, RetryPolicy.never(), 5.0).collect()
    assert len(never.opened) == 1


async def test_the_async_stream_cancels_on_leaving() -> None:
    call = _escalated()
    async with AsyncGenerateStream(CallScript(call), FAST, 5.0) as stream:
        async for _ in stream:
            break
    assert call.cancelled
