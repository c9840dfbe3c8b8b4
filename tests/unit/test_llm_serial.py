"""fleet.serving.llm_serial: one request at a time, pending requests cancelled at once, no logprobs."""

from __future__ import annotations

import queue

from edgefleet.generation import ChatMessage, GenerationChunk, SamplingParams
from edgefleet.policy.llm_options import LLMOptions
from fleet.serving.llm_serial import SerialEngine
from tests.unit.llm_fakes import ANSWERS, ASK, CTX, FakeSerialPipeline, wait_for


def test_serial_engine_one_at_a_time_without_logprobs() -> None:
    pipeline = FakeSerialPipeline(ANSWERS)
    engine = SerialEngine(pipeline, context_length=CTX, options=LLMOptions(continuous_batching=False))
    try:
        pipeline.release.clear()
        sinks = [queue.SimpleQueue[GenerationChunk]() for _ in range(3)]
        requests = [engine.submit(ASK, SamplingParams(max_tokens=20), s.put) for s in sinks]
        requests[2].cancel()  # still pending: dropped at once
        assert requests[2].done and requests[2].finish_reason == "cancelled"
        pipeline.release.set()
        wait_for(lambda: requests[0].done and requests[1].done)
        assert pipeline.max_concurrent == 1
        chunks = []
        while not sinks[0].empty():
            chunks.append(sinks[0].get())
        assert "".join(c.text for c in chunks) == " The capital w5 Paris."
        assert chunks[-1].finish_reason == "stop" and all(not c.logprobs for c in chunks)
        stopped = engine.generate(
            [ChatMessage("user", "stop")], SamplingParams(max_tokens=30, stop=(" STOP",)), 5
        )
        assert stopped.text == " w1 w2" and stopped.finish_reason == "stop"
        running = engine.stream([ChatMessage("user", "count")], SamplingParams(max_tokens=1000), timeout_s=5)
        next(running)
        running.close()
        wait_for(lambda: engine.outstanding == 0)
    finally:
        engine.close()
