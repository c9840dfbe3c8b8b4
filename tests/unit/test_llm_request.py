"""fleet.serving.llm_request: token accounting, EOS, logprobs per chunk, exactly one final chunk."""

from __future__ import annotations

from edgefleet.generation import GenerationChunk, SamplingParams
from fleet.serving.llm_request import GenerationRequest
from fleet.serving.llm_stats import GenerationStats
from fleet.serving.llm_types import EncodedPrompt
from tests.unit.llm_fakes import EOS, FakeTokenizer, ids_of


def make(params: SamplingParams) -> tuple[GenerationRequest, list[GenerationChunk], list[str]]:
    chunks: list[GenerationChunk] = []
    events: list[str] = []
    request = GenerationRequest(
        7,
        EncodedPrompt("p", 3),
        params,
        chunks.append,
        FakeTokenizer(),
        GenerationStats(),
        lambda r: events.append("released"),
        lambda r: events.append("cancel"),
    )
    return request, chunks, events


def test_tokens_text_and_eos() -> None:
    request, chunks, events = make(SamplingParams(max_tokens=10))
    request.take(ids_of(" The capital"), [-0.1, -0.2])
    request.take([*ids_of(" Paris"), EOS], [-0.3, -0.9])
    assert [c.text for c in chunks] == [" The capital", " Paris"]
    assert chunks[1].logprobs == (-0.3,)  # EOS has no text and no logprob in the answer
    assert request.completion_tokens == 3 and request.natural_finish() == "stop"
    request.finish("stop")
    request.finish("cancelled")  # a second finish is ignored
    assert len(chunks) == 3 and chunks[-1].final and chunks[-1].finish_reason == "stop"
    assert chunks[-1].prompt_tokens == 3 and chunks[-1].completion_tokens == 3
    assert events == ["released"] and request.done


def test_length_and_cancel() -> None:
    request, chunks, events = make(SamplingParams(max_tokens=2, logprobs=False))
    request.take(ids_of(" w1 w2"), [-0.1, -0.2])
    assert request.natural_finish() == "length" and chunks[0].logprobs == ()
    request.cancel()
    request.cancel()
    assert events == ["cancel"] and request.cancel_requested
    request.finish("cancelled")
    request.take(ids_of(" w3"), [-0.1])  # after the end: ignored
    assert chunks[-1].finish_reason == "cancelled" and len(chunks) == 2
