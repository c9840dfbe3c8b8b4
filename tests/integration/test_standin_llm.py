"""The stand-in's generation with the real SmolLM2-135M-Instruct (OpenVINO GenAI) over real HTTP on
127.0.0.1, through HostedClient.chat_stream / chat and plain HTTP. One stand-in for the module:
loading the model takes seconds."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from edgefleet import openai_wire as wire
from edgefleet.generation import ChatMessage, GenerationSummary, SamplingParams
from edgefleet.policy.schema import HostedConfig, StandInConfig
from router.hosted.client import HostedClient
from standin.server import StandInServer
from tests.unit.test_standin_handlers import KeywordModel

pytestmark = pytest.mark.integration

LATENCY_MS = 100.0
QUESTION = [ChatMessage("user", "What is the capital of France?")]


@pytest.fixture(scope="module")
def standin() -> Iterator[StandInServer]:
    """A stand-in (keyword classifier, real SmolLM2 for generation) with LLM loaded up front."""
    server = StandInServer(KeywordModel(), latency_ms=LATENCY_MS)
    server.start()
    try:
        server.local_llm()
        yield server
    finally:
        server.stop()


@pytest.fixture
async def client(standin: StandInServer) -> AsyncIterator[HostedClient]:
    cfg = HostedConfig(name="stand-in", stand_in=StandInConfig(), timeout_ms=30_000, retries=0)
    hosted = HostedClient(cfg, base_url=standin.base_url)
    try:
        yield hosted
    finally:
        await hosted.aclose()


async def test_chat_stream_from_smollm2_with_usage(client: HostedClient) -> None:
    summary = GenerationSummary()
    pieces = 0
    started = time.perf_counter()
    first_at = None
    async for chunk in client.chat_stream(QUESTION, SamplingParams(max_tokens=12), timeout_s=60):
        if chunk.text and first_at is None:
            first_at = time.perf_counter()
        pieces += bool(chunk.text)
        summary.add(chunk)
    assert "Paris" in summary.text and pieces >= 3
    assert summary.finish_reason in ("stop", "length") and 20 < summary.prompt_tokens < 80
    assert 1 <= summary.completion_tokens <= 12
    assert first_at is not None and first_at - started >= LATENCY_MS / 1000.0  # the added latency
    assert client.stand_in


async def test_chat_whole_answer_and_length_limit(client: HostedClient) -> None:
    answer = await client.chat(
        [ChatMessage("user", "Write a long story about a dragon.")], SamplingParams(max_tokens=5), 60
    )
    assert answer.final and answer.finish_reason == "length" and answer.completion_tokens == 5 and answer.text


async def test_stop_strings_and_seeded_sampling(client: HostedClient) -> None:
    stopped = await client.chat(QUESTION, SamplingParams(max_tokens=20, stop=("Paris",)), 60)
    assert "Paris" not in stopped.text and stopped.finish_reason == "stop"
    sampled = SamplingParams(max_tokens=8, temperature=0.9, top_p=0.9, seed=7)
    one = await client.chat([ChatMessage("user", "Tell me a joke.")], sampled, 60)
    two = await client.chat([ChatMessage("user", "Tell me a joke.")], sampled, 60)
    assert one.text == two.text


def test_raw_sse_is_labelled_and_ends_with_done(standin: StandInServer) -> None:
    body = {
        "model": "anything",
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 6,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with httpx.stream("POST", standin.base_url + "/chat/completions", json=body, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers[wire.STAND_IN_HEADER] == "1"
        assert "SmolLM2" in response.headers["x-edgefleet-backing-model"]
        events = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["system_fingerprint"] == wire.STAND_IN_FINGERPRINT for c in chunks)
    assert chunks[-1]["usage"]["completion_tokens"] <= 6 and chunks[-1]["edgefleet"]["stand_in"] is True


def test_prompt_over_the_context_is_a_400(standin: StandInServer) -> None:
    words = "lorem ipsum " * 2000  # ~6,000 tokens within the 32,000-character limit
    body = {"model": "m", "messages": [{"role": "user", "content": words}], "max_tokens": 4000}
    response = httpx.post(standin.base_url + "/chat/completions", json=body, timeout=60)
    assert response.status_code == 400 and "context" in response.json()["error"]["message"]


def test_structured_classification_still_answers_from_the_classifier(standin: StandInServer) -> None:
    body = wire.classify_request("m", "will it rain", ["weather", "oos"])
    answer = httpx.post(standin.base_url + "/chat/completions", json=body, timeout=10).json()
    assert wire.parse_classification(answer, ["weather", "oos"]).label == "weather"
