"""fleet.serving.llm_engine on fake pipelines: streaming, limits, stop strings, cancellation, errors."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterator

import pytest

from edgefleet.generation import ChatMessage, GenerationChunk, GenerationInputError, SamplingParams
from edgefleet.policy.llm_options import LLMOptions
from fleet.serving.llm_engine import BatchingEngine, EngineBusy, EngineClosed, GenerationFailed
from tests.unit.llm_fakes import ANSWERS, ASK, CTX, FakeBatchPipeline, wait_for


@pytest.fixture
def pipeline() -> FakeBatchPipeline:
    return FakeBatchPipeline(ANSWERS, kv_limit=50)


@pytest.fixture
def engine(pipeline: FakeBatchPipeline) -> Iterator[BatchingEngine]:
    eng = BatchingEngine(pipeline, context_length=CTX, max_queue=3, options=LLMOptions(max_tokens_limit=4096))
    yield eng
    eng.close()


def test_streams_text_logprobs_and_counts(engine: BatchingEngine) -> None:
    chunks = list(engine.stream(ASK, SamplingParams(max_tokens=20), timeout_s=5))
    assert "".join(c.text for c in chunks) == " The capital w5 Paris."
    final = chunks[-1]
    assert final.final and final.finish_reason == "stop" and not any(c.final for c in chunks[:-1])
    assert final.completion_tokens == 5 and final.prompt_tokens == 8  # EOS is not counted
    assert sum(len(c.logprobs) for c in chunks) == 5
    assert len(chunks) >= 3  # one chunk per step, not one per answer
    assert engine.outstanding == 0 and engine.running() == 0


def test_max_tokens_gives_length(engine: BatchingEngine) -> None:
    summary = engine.generate([ChatMessage("user", "count")], SamplingParams(max_tokens=4), timeout_s=5)
    assert summary.finish_reason == "length" and summary.completion_tokens == 4
    assert summary.text == " w1 w2 w3 w4"


def test_stop_string_is_trimmed_and_generation_stopped(
    engine: BatchingEngine, pipeline: FakeBatchPipeline
) -> None:
    params = SamplingParams(max_tokens=30, stop=(" STOP",))
    summary = engine.generate([ChatMessage("user", "stop please")], params, timeout_s=5)
    assert summary.text == " w1 w2" and summary.finish_reason == "stop"
    assert summary.completion_tokens == 3


def test_logprobs_off(engine: BatchingEngine) -> None:
    summary = engine.generate(ASK, SamplingParams(max_tokens=20, logprobs=False), timeout_s=5)
    assert summary.logprobs == [] and summary.completion_tokens == 5


def test_requests_are_batched(engine: BatchingEngine, pipeline: FakeBatchPipeline) -> None:
    pipeline.step_delay.clear()
    results: queue.SimpleQueue[str] = queue.SimpleQueue()

    def one() -> None:
        results.put(engine.generate([ChatMessage("user", "count")], SamplingParams(max_tokens=10), 10).text)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    wait_for(lambda: engine.outstanding == 3)
    pipeline.step_delay.set()
    for t in threads:
        t.join(10)
    assert results.qsize() == 3 and pipeline.max_running == 3
    assert pipeline.steps < 3 * 10  # the three shared their steps


def test_cancel_frees_the_request(engine: BatchingEngine, pipeline: FakeBatchPipeline) -> None:
    chunks: queue.SimpleQueue[GenerationChunk] = queue.SimpleQueue()
    request = engine.submit([ChatMessage("user", "count")], SamplingParams(max_tokens=1000), chunks.put)
    first = chunks.get(timeout=5)
    assert first.text and not first.final
    request.cancel()
    wait_for(lambda: request.done)
    handle = request.handle
    assert handle.cancelled and request.finish_reason == "cancelled"
    wait_for(lambda: not pipeline.has_unfinished())
    assert engine.running() == 0 and engine.outstanding == 0 and not pipeline.handles
    last = None
    while not chunks.empty():
        last = chunks.get()
    assert last is not None and last.final and last.finish_reason == "cancelled"


def test_closing_the_stream_iterator_cancels(engine: BatchingEngine) -> None:
    stream = engine.stream([ChatMessage("user", "count")], SamplingParams(max_tokens=1000), timeout_s=5)
    next(stream)
    stream.close()
    wait_for(lambda: engine.outstanding == 0)


def test_queue_bound(engine: BatchingEngine, pipeline: FakeBatchPipeline) -> None:
    pipeline.step_delay.clear()
    sink: queue.SimpleQueue[GenerationChunk] = queue.SimpleQueue()
    requests = [engine.submit(ASK, SamplingParams(max_tokens=5), sink.put) for _ in range(3)]
    with pytest.raises(EngineBusy, match="3 generation requests outstanding"):
        engine.submit(ASK, SamplingParams(max_tokens=5), sink.put)
    assert engine.stats.snapshot().queue_depth == 3
    pipeline.step_delay.set()
    wait_for(lambda: all(r.done for r in requests))
    engine.submit(ASK, SamplingParams(max_tokens=5), sink.put)


@pytest.mark.parametrize(
    ("messages", "params", "message"),
    [
        (
            [ChatMessage("user", "w " * 5000)],
            SamplingParams(max_tokens=5),
            "has 5002 tokens; the model's context is 4096",
        ),
        (
            ASK,
            SamplingParams(max_tokens=4090),
            "8 tokens and max_tokens is 4090: 4098 > the model's context of 4096",
        ),
        (ASK, SamplingParams(max_tokens=0), "max_tokens must be between 1 and 4095"),
        (ASK, SamplingParams(max_tokens=10**6), "max_tokens must be between 1 and 4095"),
        ([ChatMessage("user", "   ")], SamplingParams(), "user messages are empty"),
        ([], SamplingParams(), "messages must not be empty"),
        (ASK, SamplingParams(temperature=5.0), "temperature"),
    ],
)
def test_bad_input_is_refused_with_the_numbers(
    engine: BatchingEngine, messages: list[ChatMessage], params: SamplingParams, message: str
) -> None:
    with pytest.raises(GenerationInputError, match=message):
        engine.submit(messages, params, lambda c: None)
    assert engine.outstanding == 0


def test_ignored_request_fails_clearly() -> None:
    pipeline = FakeBatchPipeline(ANSWERS, kv_limit=5)
    engine = BatchingEngine(pipeline, context_length=CTX)
    try:
        with pytest.raises(GenerationFailed, match="KV cache cannot hold it"):
            engine.generate(ASK, SamplingParams(max_tokens=5), timeout_s=5)
        assert engine.outstanding == 0
    finally:
        engine.close()


def test_a_failing_step_fails_the_running_requests_only(
    engine: BatchingEngine, pipeline: FakeBatchPipeline
) -> None:
    pipeline.step_delay.clear()
    sink: queue.SimpleQueue[GenerationChunk] = queue.SimpleQueue()
    request = engine.submit(ASK, SamplingParams(max_tokens=5), sink.put)
    pipeline.fail_next_step = True
    pipeline.step_delay.set()
    wait_for(lambda: request.done)
    assert request.finish_reason == "error" and "failed while generating" in (request.error or "")
    assert engine.generate(ASK, SamplingParams(max_tokens=20), timeout_s=5).text == " The capital w5 Paris."


def test_a_broken_sink_cancels_its_request(engine: BatchingEngine) -> None:
    def sink(chunk: GenerationChunk) -> None:
        raise RuntimeError("client gone")

    request = engine.submit([ChatMessage("user", "count")], SamplingParams(max_tokens=1000), sink)
    wait_for(lambda: request.done)
    assert request.finish_reason == "cancelled"


def test_stats_report_tokens_and_ttft(engine: BatchingEngine) -> None:
    engine.generate(ASK, SamplingParams(max_tokens=20), timeout_s=5)
    snap = engine.stats.snapshot()
    assert snap.completion_tokens == 5 and snap.tokens_per_s > 0
    assert 0 < snap.ttft_p50_ms <= snap.ttft_p95_ms and snap.queue_depth == 0 and snap.generating == 0


async def test_astream_on_the_event_loop(engine: BatchingEngine) -> None:
    texts = [c.text async for c in engine.astream(ASK, SamplingParams(max_tokens=20))]
    assert "".join(texts) == " The capital w5 Paris."
    async for _ in engine.astream([ChatMessage("user", "count")], SamplingParams(max_tokens=1000)):
        break  # leaving early cancels
    await asyncio.sleep(0)
    wait_for(lambda: engine.outstanding == 0)


def test_close_cancels_and_refuses(pipeline: FakeBatchPipeline) -> None:
    engine = BatchingEngine(pipeline, context_length=CTX)
    sink: queue.SimpleQueue[GenerationChunk] = queue.SimpleQueue()
    pipeline.step_delay.clear()
    request = engine.submit(ASK, SamplingParams(max_tokens=5), sink.put)
    pipeline.step_delay.set()
    engine.close()
    assert request.done
    with pytest.raises(EngineClosed):
        engine.submit(ASK, SamplingParams(), sink.put)
