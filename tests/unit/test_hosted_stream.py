"""Hosted generation without sockets: the stream parser (router/hosted/stream.py) and
HostedClient.chat / chat_stream over httpx.MockTransport (retries before the first byte only,
breakage mid-stream, usage, circuit breaker). Real HTTP: tests/integration/test_hosted_stream.py."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from edgefleet.generation import ChatMessage, GenerationChunk, GenerationSummary, SamplingParams
from edgefleet.policy.schema import CircuitConfig, HostedConfig
from edgefleet.sse import encode_data, encode_json
from edgefleet.tokens import estimate_chat_tokens, estimate_tokens
from router.errors import TargetError
from router.hosted.client import HostedClient
from router.hosted.stream import ChatStreamParser, StreamBroken

URL = "https://hosted.example/v1"
SECRET = "sk-stream-SECRET-42"
MESSAGES = [ChatMessage("user", "Capital of France?")]
PARAMS = SamplingParams(max_tokens=16)


def config(**overrides: Any) -> HostedConfig:
    values: dict[str, Any] = {
        "name": "big",
        "base_url": URL,
        "model": "gpt-test",
        "retries": 2,
        "backoff_ms": 1.0,
        "timeout_ms": 2000.0,
    }
    values.update(overrides)
    return HostedConfig(**values)


def chunk(text: str | None = None, finish: str | None = None, **extra: Any) -> bytes:
    body: dict[str, Any] = {"object": "chat.completion.chunk", "model": "gpt-test-1", "choices": []}
    if text is not None or finish is not None:
        delta = {} if text is None else {"content": text}
        body["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
    body.update(extra)
    return encode_json(body)


USAGE = chunk(usage={"prompt_tokens": 11, "completion_tokens": 3})
GOOD = [chunk("The capital "), chunk("is Paris."), chunk(finish="stop"), USAGE, encode_data("[DONE]")]


def sse(parts: list[bytes], *, fail: Exception | None = None, status: int = 200) -> httpx.Response:
    async def body() -> AsyncIterator[bytes]:
        for part in parts:
            yield part
        if fail is not None:
            raise fail

    return httpx.Response(status, headers={"content-type": "text/event-stream"}, content=body())


class Script:
    """MockTransport handler: one scripted response (or exception) per request, the last repeats."""

    def __init__(self, *answers: Callable[[], httpx.Response] | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer()


def client_for(script: Script, cfg: HostedConfig | None = None) -> HostedClient:
    return HostedClient(cfg or config(), transport=httpx.MockTransport(script), rng=random.Random(3))


async def collect(client: HostedClient, timeout_s: float = 2.0) -> list[GenerationChunk]:
    try:
        return [c async for c in client.chat_stream(MESSAGES, PARAMS, timeout_s)]
    finally:
        await client.aclose()


# --- the parser ----------------------------------------------------------------------------------


def feed_all(parser: ChatStreamParser, raw: bytes) -> list[GenerationChunk]:
    out = []
    for line in raw.decode().split("\n"):
        out += parser.feed(line)
    return out


def test_parser_yields_text_then_a_final_chunk_with_usage() -> None:
    parser = ChatStreamParser(["Capital of France?"])
    chunks = feed_all(parser, b"".join(GOOD))
    assert [c.text for c in chunks] == ["The capital ", "is Paris.", ""]
    final = chunks[-1]
    assert (
        final.final
        and final.finish_reason == "stop"
        and (final.prompt_tokens, final.completion_tokens) == (11, 3)
    )
    assert parser.done and parser.received_chars == len("The capital is Paris.")


def test_parser_estimates_usage_when_the_server_sends_none() -> None:
    parser = ChatStreamParser(["Capital of France?"])
    final = feed_all(parser, chunk("Paris.") + chunk(finish="length") + encode_data("[DONE]"))[-1]
    assert final.finish_reason == "length"
    assert final.prompt_tokens == estimate_chat_tokens(["Capital of France?"])
    assert final.completion_tokens == estimate_tokens("Paris.")


def test_parser_refuses_a_stream_without_done_and_malformed_events() -> None:
    parser = ChatStreamParser(["q"])
    feed_all(parser, chunk("x" * 37))
    with pytest.raises(StreamBroken, match=r"after 37 characters: the stream ended without \[DONE\]"):
        parser.finish()
    parser = ChatStreamParser(["q"])
    feed_all(parser, chunk("abcd"))
    with pytest.raises(StreamBroken, match=r"after 4 characters: bad event: .*not valid JSON"):
        feed_all(parser, b"data: {oops\n\n")
    with pytest.raises(StreamBroken, match="server sent an error: overloaded"):
        feed_all(ChatStreamParser(["q"]), encode_json({"error": {"message": "overloaded"}}))


# --- chat_stream over MockTransport ----------------------------------------------------------------


async def test_stream_request_body_key_and_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTED_KEY", SECRET)
    script = Script(lambda: sse(GOOD))
    client = client_for(script, config(api_key_env="HOSTED_KEY"))
    chunks = await collect(client)
    summary = GenerationSummary()
    for c in chunks:
        summary.add(c)
    assert summary.text == "The capital is Paris." and summary.finish_reason == "stop"
    assert (summary.prompt_tokens, summary.completion_tokens) == (11, 3)
    request = script.requests[0]
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    body = json.loads(request.content)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 16 and body["messages"] == [
        {"role": "user", "content": "Capital of France?"}
    ]
    assert client.circuit_state == "closed" and client.breaker.consecutive_failures == 0
    assert client.stand_in is False


async def test_retried_before_the_first_byte() -> None:
    script = Script(
        httpx.ConnectError("refused"),
        lambda: httpx.Response(503, json={"error": {"message": "busy"}}),
        lambda: sse(GOOD),
    )
    chunks = await collect(client_for(script))
    assert len(script.requests) == 3 and chunks[-1].final


async def test_a_4xx_is_not_retried_and_names_the_endpoint_not_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOSTED_KEY", SECRET)
    script = Script(lambda: httpx.Response(401, json={"error": {"message": f"bad key {SECRET}"}}))
    with pytest.raises(TargetError) as caught:
        await collect(client_for(script, config(api_key_env="HOSTED_KEY")))
    message = str(caught.value)
    assert "'big'" in message and "401" in message and SECRET not in message and "***" in message
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    ("parts", "fail", "message"),
    [
        ([chunk("x" * 37)], httpx.ReadError("connection reset"), "after 37 characters: ReadError"),
        ([chunk("x" * 37)], None, r"after 37 characters: the stream ended without \[DONE\]"),
        (
            [chunk("hello"), b"data: {broken\n\n", encode_data("[DONE]")],
            None,
            "after 5 characters: bad event",
        ),
    ],
)
async def test_a_stream_broken_mid_way_is_a_target_error_not_retried(
    parts: list[bytes], fail: Exception | None, message: str
) -> None:
    script = Script(lambda: sse(parts, fail=fail))
    client = client_for(script, config(circuit=CircuitConfig(failures=1, reset_s=60)))
    received: list[str] = []

    async def consume() -> None:
        async for c in client.chat_stream(MESSAGES, PARAMS, 2.0):
            received.append(c.text)

    with pytest.raises(TargetError, match=f"hosted stream broke {message}"):
        await consume()
    await client.aclose()
    assert "".join(received).startswith(("x" * 37, "hello"))
    assert len(script.requests) == 1  # text had been delivered: never retried
    assert client.circuit_state == "open"  # and it counts as a failure


@pytest.mark.parametrize(("slow_call_ms", "counts"), [(100.0, True), (5000.0, False)])
async def test_a_stream_stalled_until_the_callers_deadline_counts_when_silent_long_enough(
    slow_call_ms: float, counts: bool
) -> None:
    import asyncio

    def stalled() -> httpx.Response:
        async def body() -> AsyncIterator[bytes]:
            yield chunk("The capital ")
            await asyncio.Event().wait()  # never another byte
            yield b""

        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    cfg = config(timeout_ms=10_000, circuit=CircuitConfig(failures=1, reset_s=60, slow_call_ms=slow_call_ms))
    client = client_for(Script(stalled), cfg)
    with pytest.raises(TargetError, match="caller's time budget ran out") as caught:
        await collect(client, timeout_s=0.3)
    assert caught.value.timeout
    assert (client.circuit_state == "open") is counts


async def test_an_empty_stream_is_retried_then_fails() -> None:
    script = Script(lambda: sse([]))
    with pytest.raises(TargetError, match=r"empty stream \(after 3 attempts\)"):
        await collect(client_for(script))
    assert len(script.requests) == 3


async def test_closing_early_does_not_count_and_open_circuit_refuses() -> None:
    script = Script(lambda: sse(GOOD))
    client = client_for(script, config(circuit=CircuitConfig(failures=1, reset_s=60)))
    stream = client.chat_stream(MESSAGES, PARAMS, 2.0)
    first = await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]
    assert first.text == "The capital " and client.breaker.consecutive_failures == 0
    client.breaker.record_failure()
    with pytest.raises(TargetError, match="circuit open"):
        await collect(client)
    assert len(script.requests) == 1


async def test_stand_in_is_recognised_from_the_stream() -> None:
    parts = [
        chunk("hi", system_fingerprint="edgefleet-stand-in"),
        chunk(finish="stop"),
        encode_data("[DONE]"),
    ]
    client = client_for(Script(lambda: sse(parts)))
    await collect(client)
    assert client.stand_in is True


# --- chat (stream: false) --------------------------------------------------------------------------


async def test_chat_returns_one_final_chunk_with_usage_or_estimates() -> None:
    answer = {
        "choices": [{"message": {"role": "assistant", "content": "Paris."}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 2},
    }
    script = Script(
        lambda: httpx.Response(500),
        lambda: httpx.Response(200, json=answer),
        lambda: httpx.Response(200, json={"choices": [{"message": {"content": "Rome."}}]}),
    )
    client = client_for(script)
    one = await client.chat(MESSAGES, PARAMS, 2.0)
    assert (one.text, one.final, one.finish_reason, one.prompt_tokens, one.completion_tokens) == (
        "Paris.",
        True,
        "length",
        7,
        2,
    )
    two = await client.chat(MESSAGES, PARAMS, 2.0)
    await client.aclose()
    assert two.completion_tokens == estimate_tokens("Rome.") and two.finish_reason == "stop"
    assert json.loads(script.requests[0].content)["stream"] is False and len(script.requests) == 3
