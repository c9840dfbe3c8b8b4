"""HostedClient with httpx.MockTransport (no sockets): requests, parsing, retries, circuit.

Also the pure helpers it relies on: edgefleet/openai_wire.py, retry.py and tokens.py.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from edgefleet import openai_wire as wire
from edgefleet.policy.schema import CircuitConfig, HostedConfig
from edgefleet.tokens import estimate_chat_tokens, estimate_tokens, split_tokens
from router.errors import TargetError
from router.hosted.client import HostedClient
from router.hosted.retry import RetryPolicy, is_retryable_status, parse_retry_after

URL = "https://hosted.example/v1"
SECRET = "sk-test-SECRET-0123456789"
LABELS = ["book_flight", "weather", "oos"]

Handler = Callable[[httpx.Request], httpx.Response]


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


def completion(content: str, *, usage: bool = True, fingerprint: str | None = "fp_123") -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-test-2025",
        "system_fingerprint": fingerprint,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 120, "completion_tokens": 9, "total_tokens": 129}
    return body


def ok(content: str = '{"label": "weather", "confidence": 0.9}', **kw: Any) -> httpx.Response:
    return httpx.Response(200, json=completion(content, **kw))


class Recorder:
    """A MockTransport handler answering from a script and recording requests."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def client_for(handler: Handler, cfg: HostedConfig | None = None, **kw: Any) -> HostedClient:
    return HostedClient(cfg or config(), transport=httpx.MockTransport(handler), rng=random.Random(7), **kw)


# --- request building --------------------------------------------------------------------------


async def test_classify_request_has_schema_prompt_and_bearer_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTED_KEY", SECRET)
    recorder = Recorder(ok())
    client = client_for(recorder, config(api_key_env="HOSTED_KEY"))
    answer = await client.classify("will it rain tomorrow", LABELS, timeout_s=2)
    await client.aclose()
    request = recorder.requests[0]
    assert request.method == "POST" and str(request.url) == f"{URL}/chat/completions"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    body = json.loads(request.content)
    assert body["model"] == "gpt-test" and body["temperature"] == 0
    assert body["messages"][-1] == {"role": "user", "content": "will it rain tomorrow"}
    system = body["messages"][0]
    assert system["role"] == "system" and "weather" in system["content"] and '"oos"' in system["content"]
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "intent",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {"label": {"type": "string", "enum": LABELS}, "confidence": {"type": "number"}},
                "required": ["label", "confidence"],
                "additionalProperties": False,
            },
        },
    }
    assert answer.label == "weather" and answer.confidence == pytest.approx(0.9)
    assert (answer.input_tokens, answer.output_tokens) == (120, 9)
    assert answer.model == "gpt-test-2025" and answer.stand_in is False and answer.embedding is None
    assert answer.latency_ms >= 0


def test_prompt_mentions_oos_only_when_it_is_a_label() -> None:
    assert "out of scope" not in wire.system_prompt(["a", "b"])
    assert "out of scope" in wire.system_prompt(["a", "oos"])


async def test_no_key_header_without_api_key_env() -> None:
    recorder = Recorder(ok())
    client = client_for(recorder)
    await client.classify("x", LABELS, timeout_s=1)
    await client.aclose()
    assert "authorization" not in recorder.requests[0].headers


async def test_missing_key_env_is_a_clear_error_without_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOSTED_KEY_MISSING", raising=False)
    recorder = Recorder(ok())
    client = client_for(recorder, config(api_key_env="HOSTED_KEY_MISSING"))
    with pytest.raises(TargetError, match=r"HOSTED_KEY_MISSING .*not set"):
        await client.classify("x", LABELS, timeout_s=1)
    await client.aclose()
    assert recorder.requests == []
    assert "missing" in repr(client)


async def test_key_never_in_repr_or_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTED_KEY", SECRET)
    echo = httpx.Response(401, json={"error": {"message": f"Incorrect API key provided: {SECRET}"}})
    recorder = Recorder(echo)
    client = client_for(recorder, config(api_key_env="HOSTED_KEY", base_url="https://user:pw@h.example/v1"))
    assert SECRET not in repr(client) and "pw" not in repr(client)
    with pytest.raises(TargetError) as caught:
        await client.classify("x", LABELS, timeout_s=1)
    await client.aclose()
    message = str(caught.value)
    assert SECRET not in message and "***" in message and "'big'" in message and "401" in message
    assert len(recorder.requests) == 1  # 4xx is not retried


def test_base_url_required() -> None:
    with pytest.raises(ValueError, match="base_url"):
        HostedClient(config(base_url=None, stand_in={}))


# --- response parsing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (ok('{"label": "play_music", "confidence": 0.9}'), "not one of the 3 candidate labels"),
        (ok("I think it is weather"), "not valid JSON"),
        (ok('{"label": "weather"}'), "confidence"),
        (ok('["weather"]'), "not a JSON object"),
        (httpx.Response(200, json={"choices": []}), "no choices"),
        (httpx.Response(200, text="<html>oops</html>"), "not JSON"),
        (httpx.Response(200, json={"choices": [{"message": {"content": None, "refusal": "no"}}]}), "refused"),
    ],
)
async def test_bad_answers_are_target_errors_not_retried(response: httpx.Response, message: str) -> None:
    recorder = Recorder(response)
    client = client_for(recorder)
    with pytest.raises(TargetError, match=message) as caught:
        await client.classify("x", LABELS, timeout_s=1)
    await client.aclose()
    assert caught.value.timeout is False
    assert len(recorder.requests) == 1


async def test_code_fenced_json_and_confidence_clamped() -> None:
    client = client_for(Recorder(ok('```json\n{"label": "oos", "confidence": 1.7}\n```')))
    answer = await client.classify("x", LABELS, timeout_s=1)
    await client.aclose()
    assert (answer.label, answer.confidence) == ("oos", 1.0)


async def test_token_estimates_when_usage_missing() -> None:
    content = '{"label": "weather", "confidence": 0.5}'
    client = client_for(Recorder(ok(content, usage=False)))
    answer = await client.classify("will it rain", LABELS, timeout_s=1)
    await client.aclose()
    assert answer.output_tokens == estimate_tokens(content)
    assert answer.input_tokens > estimate_tokens("will it rain")


async def test_stand_in_detected_by_fingerprint_or_header() -> None:
    by_fingerprint = client_for(Recorder(ok(fingerprint=wire.STAND_IN_FINGERPRINT)))
    header = httpx.Response(
        200, json=completion('{"label": "oos", "confidence": 0.4}'), headers={wire.STAND_IN_HEADER: "1"}
    )
    by_header = client_for(Recorder(header))
    assert (await by_fingerprint.classify("x", LABELS, timeout_s=1)).stand_in
    assert (await by_header.classify("x", LABELS, timeout_s=1)).stand_in
    await by_fingerprint.aclose()
    await by_header.aclose()


async def test_embed_orders_by_index_and_shares_usage() -> None:
    body = {
        "data": [{"index": 1, "embedding": [0.0, 1.0]}, {"index": 0, "embedding": [1.0, 0.0]}],
        "model": "emb",
        "usage": {"prompt_tokens": 10, "total_tokens": 10},
    }
    recorder = Recorder(httpx.Response(200, json=body))
    client = client_for(recorder)
    answers = await client.embed(["a short one", "a much longer text than the first one"], timeout_s=1)
    assert await client.embed([], timeout_s=1) == []
    await client.aclose()
    assert str(recorder.requests[0].url) == f"{URL}/embeddings"
    assert json.loads(recorder.requests[0].content)["input"][0] == "a short one"
    assert [a.embedding for a in answers] == [[1.0, 0.0], [0.0, 1.0]]
    assert sum(a.input_tokens for a in answers) == 10 and answers[0].input_tokens < answers[1].input_tokens
    assert answers[0].label is None and answers[0].model == "emb"


async def test_embed_count_mismatch_is_an_error() -> None:
    client = client_for(Recorder(httpx.Response(200, json={"data": [{"index": 0, "embedding": [1.0]}]})))
    with pytest.raises(TargetError, match="expected 2 embeddings"):
        await client.embed(["a", "b"], timeout_s=1)
    await client.aclose()


# --- retries -----------------------------------------------------------------------------------


async def test_5xx_then_success_is_retried() -> None:
    recorder = Recorder(httpx.Response(500), httpx.Response(503), ok())
    client = client_for(recorder)
    answer = await client.classify("x", LABELS, timeout_s=2)
    await client.aclose()
    assert answer.label == "weather" and len(recorder.requests) == 3
    assert client.circuit_state == "closed"


async def test_retries_exhausted_names_attempts() -> None:
    recorder = Recorder(httpx.Response(502, json={"error": {"message": "upstream down"}}))
    client = client_for(recorder, config(retries=1))
    with pytest.raises(TargetError, match=r"502: upstream down .after 2 attempts") as caught:
        await client.classify("x", LABELS, timeout_s=2)
    await client.aclose()
    assert len(recorder.requests) == 2 and not caught.value.timeout


async def test_connect_error_is_retried_then_reported() -> None:
    recorder = Recorder(httpx.ConnectError("connection refused"))
    client = client_for(recorder)
    with pytest.raises(TargetError, match="ConnectError") as caught:
        await client.classify("x", LABELS, timeout_s=2)
    await client.aclose()
    assert len(recorder.requests) == 3 and not caught.value.timeout


async def test_timeout_is_a_timeout_target_error() -> None:
    recorder = Recorder(httpx.ReadTimeout("slow"))
    client = client_for(recorder, config(retries=0))
    with pytest.raises(TargetError, match="timed out") as caught:
        await client.classify("x", LABELS, timeout_s=2)
    await client.aclose()
    assert caught.value.timeout is True
    assert client.breaker.consecutive_failures == 1


async def test_timeout_under_a_short_caller_budget_does_not_count_against_the_endpoint() -> None:
    client = client_for(Recorder(httpx.ReadTimeout("slow")), config(retries=0, timeout_ms=5000))
    with pytest.raises(TargetError) as caught:
        await client.classify("x", LABELS, timeout_s=0.5)
    await client.aclose()
    assert caught.value.timeout and client.breaker.consecutive_failures == 0


async def test_429_with_short_retry_after_is_retried_long_one_gives_up() -> None:
    short = Recorder(httpx.Response(429, headers={"Retry-After": "0"}), ok())
    client = client_for(short)
    assert (await client.classify("x", LABELS, timeout_s=2)).label == "weather"
    await client.aclose()
    assert len(short.requests) == 2
    long = Recorder(httpx.Response(429, headers={"Retry-After": "120"}))
    client = client_for(long)
    with pytest.raises(TargetError, match="429"):
        await client.classify("x", LABELS, timeout_s=2)
    await client.aclose()
    assert len(long.requests) == 1


async def test_429_never_opens_the_circuit_and_its_retry_after_is_respected() -> None:
    now = [0.0]
    recorder = Recorder(httpx.Response(429, headers={"Retry-After": "120"}))
    cfg = config(retries=2, circuit=CircuitConfig(failures=1, reset_s=30))
    client = client_for(recorder, cfg, clock=lambda: now[0])
    with pytest.raises(TargetError, match="429") as caught:
        await client.classify("x", LABELS, timeout_s=2)
    assert caught.value.rate_limited and not caught.value.timeout
    assert client.circuit_state == "closed" and client.breaker.consecutive_failures == 0
    assert client.unavailable_reason is not None and "rate limited" in client.unavailable_reason
    with pytest.raises(TargetError, match="rate limited") as refused:
        await client.classify("x", LABELS, timeout_s=2)
    assert refused.value.rate_limited and len(recorder.requests) == 1  # not sent while it is in force
    now[0] += 121
    recorder.answers = [ok()]
    assert client.unavailable_reason is None
    assert (await client.classify("x", LABELS, timeout_s=2)).label == "weather"
    await client.aclose()


async def test_a_hung_endpoint_opens_the_circuit_under_budgets_shorter_than_its_timeout() -> None:
    recorder = Recorder(httpx.ReadTimeout("no answer"))
    cfg = config(retries=0, timeout_ms=5000, circuit=CircuitConfig(failures=2, reset_s=30))
    client = client_for(recorder, cfg)
    for _ in range(2):  # the router's 3 s budget ends before the 5 s timeout: still a hang
        with pytest.raises(TargetError, match="timed out"):
            await client.classify("x", LABELS, timeout_s=3.0)
    assert client.circuit_state == "open"
    assert client.unavailable_reason is not None and "circuit open" in client.unavailable_reason
    await client.aclose()


async def test_every_attempt_of_a_call_carries_the_same_idempotency_key() -> None:
    recorder = Recorder(httpx.Response(503), ok(), ok())
    client = client_for(recorder)
    await client.classify("x", LABELS, timeout_s=2)
    await client.classify("y", LABELS, timeout_s=2)
    await client.aclose()
    keys = [r.headers.get("Idempotency-Key") for r in recorder.requests]
    assert len(recorder.requests) == 3 and all(keys)
    assert keys[0] == keys[1] != keys[2]  # one key per call, the same on its retry
    plain = Recorder(ok())
    client = client_for(plain, config(idempotency_header=None))
    await client.classify("x", LABELS, timeout_s=2)
    await client.aclose()
    assert "Idempotency-Key" not in plain.requests[0].headers


# --- circuit breaker ---------------------------------------------------------------------------


async def test_circuit_opens_then_probes_and_closes() -> None:
    now = [0.0]
    recorder = Recorder(httpx.Response(500))
    cfg = config(retries=0, circuit=CircuitConfig(failures=2, reset_s=30))
    client = client_for(recorder, cfg, clock=lambda: now[0])
    for _ in range(2):
        with pytest.raises(TargetError, match="HTTP 500"):
            await client.classify("x", LABELS, timeout_s=1)
    assert client.circuit_state == "open"
    with pytest.raises(TargetError, match="circuit open"):
        await client.classify("x", LABELS, timeout_s=1)
    assert len(recorder.requests) == 2  # refused without a request
    now[0] += 30
    assert client.circuit_state == "half-open"
    recorder.answers = [ok()]
    assert (await client.classify("x", LABELS, timeout_s=1)).label == "weather"
    assert client.circuit_state == "closed"
    await client.aclose()


async def test_empty_labels_is_an_error() -> None:
    client = client_for(Recorder(ok()))
    with pytest.raises(TargetError, match="no candidate labels"):
        await client.classify("x", [], timeout_s=1)
    await client.aclose()


# --- pure helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retry"),
    [
        (400, False),
        (401, False),
        (404, False),
        (422, False),
        (408, True),
        (429, True),
        (500, True),
        (503, True),
    ],
)
def test_retryable_statuses(status: int, retry: bool) -> None:
    assert is_retryable_status(status) is retry


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250", "Retry-After": "9"}) == 0.25
    assert parse_retry_after(
        {"Retry-After": "Thu, 01 Jan 2026 00:00:10 GMT"}, now_unix=1767225600.0
    ) == pytest.approx(10.0)
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None
    assert parse_retry_after({"Retry-After": "-3"}) == 0.0


def test_retry_policy_decisions() -> None:
    policy = RetryPolicy(retries=2, backoff_s=0.1)
    rng = random.Random(1)
    first = policy.next_delay_s(0, remaining_s=10, rng=rng)
    second = policy.next_delay_s(1, remaining_s=10, rng=rng)
    assert first is not None and 0.05 <= first <= 0.1
    assert second is not None and 0.1 <= second <= 0.2
    assert policy.next_delay_s(2, remaining_s=10) is None  # retries used up
    assert policy.next_delay_s(0, remaining_s=0.01) is None  # no budget left
    assert policy.next_delay_s(0, remaining_s=10, retry_after_s=1.5) == 1.5
    assert policy.next_delay_s(0, remaining_s=10, retry_after_s=6.0) is None  # too long to wait
    assert RetryPolicy(retries=9, backoff_s=1.0).backoff_delay_s(8) <= 8.0  # capped


def test_token_estimates() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1 and estimate_tokens("abcde") == 2
    assert estimate_chat_tokens(["abcd", "abcd"]) == 3 + 2 * (4 + 1)
    parts = split_tokens(11, ["a", "bbbbbbbb", "cccc"])
    assert sum(parts) == 11 and parts[1] >= parts[0]
    assert split_tokens(5, []) == []


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("http://api.example.com/v1", False),
        ("http://10.0.0.7:8000/v1", False),
        ("https://api.example.com/v1", True),
        ("http://127.0.0.1:8088/v1", True),
        ("http://localhost:8088/v1", True),
        ("http://[::1]:8088/v1", True),
    ],
)
async def test_the_key_never_travels_over_plain_http_except_to_loopback(
    monkeypatch: pytest.MonkeyPatch, url: str, sent: bool
) -> None:
    monkeypatch.setenv("EF_TEST_HOSTED_KEY", "sk-secret")
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"data": [{"embedding": [1.0, 0.0]}], "usage": {"prompt_tokens": 1}})

    cfg = HostedConfig(name="big", base_url=url, api_key_env="EF_TEST_HOSTED_KEY")
    client = HostedClient(cfg, transport=httpx.MockTransport(handler))
    try:
        if sent:
            await client.embed(["hi"], timeout_s=5)
            assert seen == ["Bearer sk-secret"]
        else:
            with pytest.raises(TargetError, match="refusing to send the API key over plain HTTP") as info:
                await client.embed(["hi"], timeout_s=5)
            assert not seen and "sk-secret" not in str(info.value)
    finally:
        await client.aclose()
