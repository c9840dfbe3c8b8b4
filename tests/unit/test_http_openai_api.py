"""The front door's OpenAI API (router/http/openai_api.py) in memory: the Starlette app over
httpx.ASGITransport with a scripted RoutingPort (no sockets). Over real HTTP with the OpenAI SDK
and curl: tests/integration/test_frontdoor.py."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import pytest
from prometheus_client import generate_latest

from edgefleet.sse import SseDecoder
from router.auth import ApiKeys
from router.http.openai_api import OpenAIApi
from tests.unit.frontdoor_fakes import ANSWER, ScriptedPort

KEY = "sk-front-door"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
async def port_and_http() -> AsyncIterator[tuple[ScriptedPort, httpx.AsyncClient]]:
    port = ScriptedPort()
    keys = ApiKeys.from_secrets([KEY], "$EDGEFLEET_TEST_HTTP_KEYS")
    app = OpenAIApi(port, lambda: keys).app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://front.door/v1", timeout=10) as http:
        yield port, http


def chat(content: str = "Capital of France?", **extra: Any) -> dict[str, Any]:
    return {"model": "chat", "messages": [{"role": "user", "content": content}], **extra}


def sse_data(text: str) -> list[str]:
    decoder = SseDecoder()
    return [e.data for line in text.split("\n") if (e := decoder.feed(line)) is not None]


async def test_whole_completion_with_headers_and_extension(
    port_and_http: tuple[ScriptedPort, httpx.AsyncClient],
) -> None:
    port, http = port_and_http
    response = await http.post(
        "/chat/completions",
        json=chat(max_tokens=50, edgefleet={"domain": "travel", "timeout_ms": 900}),
        headers={**AUTH, "X-Request-Id": "req-42"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == "chat" and body["id"] == "chatcmpl-req-42"
    assert (
        body["choices"][0]["message"]["content"] == ANSWER and body["choices"][0]["finish_reason"] == "stop"
    )
    assert body["usage"] == {"prompt_tokens": 21, "completion_tokens": 8, "total_tokens": 29}
    ext = body["edgefleet"]
    assert ext["served_by"]["model"] == "smollm2" and ext["tier"] == "edge" and ext["route"] == "chat"
    assert ext["cost_usd"] == pytest.approx(0.0000123) and ext["trace"][0]["target"] == "smollm2"
    h = response.headers
    assert h["x-edgefleet-served-by"] == "smollm2:1 replica=llm-0 node=edge-a device=CPU"
    assert (h["x-edgefleet-tier"], h["x-edgefleet-cost-usd"], h["x-edgefleet-confidence"]) == (
        "edge",
        "0.00001230",
        "0.8700",
    )
    assert h["x-edgefleet-request-id"] == "req-42" and h["x-edgefleet-domain"] == "travel"
    assert "smollm2=ok(40.0ms)" in h["x-edgefleet-trace"]
    req, timeout_s = port.requests[0]
    assert (
        req.allow_retraction is False and req.route == "chat" and req.domain == "travel" and timeout_s == 0.9
    )
    assert port.closed == 1


async def test_stream_ends_with_extension_usage_and_done(
    port_and_http: tuple[ScriptedPort, httpx.AsyncClient],
) -> None:
    _, http = port_and_http
    response = await http.post(
        "/chat/completions",
        json=chat(model="edgefleet/auto", stream=True, stream_options={"include_usage": True}),
        headers=AUTH,
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-edgefleet-route"] == "chat"
    data = sse_data(response.text)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == ANSWER
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 29
    assert chunks[-1]["edgefleet"]["served_by"]["replica"] == "llm-0"
    assert all("edgefleet" not in c for c in chunks[:-1])


async def test_stream_without_usage_puts_the_extension_on_the_finish_chunk(
    port_and_http: tuple[ScriptedPort, httpx.AsyncClient],
) -> None:
    _, http = port_and_http
    response = await http.post("/chat/completions", json=chat("hosted please", stream=True), headers=AUTH)
    last = json.loads(sse_data(response.text)[-2])
    assert last["choices"][0]["finish_reason"] == "stop" and last["edgefleet"]["stand_in"] is True


@pytest.mark.parametrize(
    ("word", "status", "kind"),
    [
        ("refuse", 429, "rate_limit_error"),
        ("unavailable", 503, "server_error"),
        ("deadline", 504, "timeout_error"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_router_errors_before_the_first_event_are_http_statuses(
    port_and_http: tuple[ScriptedPort, httpx.AsyncClient], word: str, status: int, kind: str, stream: bool
) -> None:
    port, http = port_and_http
    response = await http.post("/chat/completions", json=chat(f"please {word}", stream=stream), headers=AUTH)
    assert response.status_code == status
    error = response.json()["error"]
    assert (
        error["type"] == kind
        and f"scripted {word}" in error["message"]
        and set(error) == {"message", "type", "param", "code"}
    )
    assert port.closed == 1


@pytest.mark.parametrize("word", ["break", "retract"])
async def test_failure_mid_stream_is_an_error_event_without_done(
    port_and_http: tuple[ScriptedPort, httpx.AsyncClient], word: str
) -> None:
    port, http = port_and_http
    response = await http.post("/chat/completions", json=chat(f"{word} please", stream=True), headers=AUTH)
    assert response.status_code == 200
    data = sse_data(response.text)
    assert data[-1] != "[DONE]" and json.loads(data[0])["choices"][0]["delta"]["content"] == "The"
    error = json.loads(data[-1])["error"]
    assert (
        ("broke after 3 characters" in error["message"])
        if word == "break"
        else ("retracted" in error["message"])
    )
    assert port.closed == 1


@pytest.mark.parametrize(
    ("body", "status", "param", "message"),
    [
        (chat(messages=[]), 400, "messages", "non-empty"),
        (
            {"model": "chat", "messages": [{"role": "wizard", "content": "x"}]},
            400,
            "messages[0].role",
            "wizard",
        ),
        (chat(max_tokens=0), 400, "max_tokens", "between 1"),
        (chat(max_tokens=1_000_000), 400, "max_tokens", "between 1"),
        (chat("x" * 201), 400, "messages", "limit is 200"),
        (chat(model="gpt-9"), 404, "model", "'gpt-9' does not exist"),
        (chat(model="intents"), 400, "model", "serves task 'classify'"),
        (chat(model="embed"), 400, "model", "serves task 'embed'"),
        (chat(edgefleet={"domain": "cooking"}), 400, "edgefleet.domain", "unknown domain"),
        (chat(edgefleet={"max_latency_ms": -1}), 400, "edgefleet.max_latency_ms", "out of range"),
        (chat(edgefleet={"colour": "red"}), 400, "edgefleet", "unknown edgefleet option"),
    ],
)
async def test_bad_chat_requests(
    port_and_http: tuple[ScriptedPort, httpx.AsyncClient],
    body: dict[str, Any],
    status: int,
    param: str,
    message: str,
) -> None:
    port, http = port_and_http
    response = await http.post("/chat/completions", json=body, headers=AUTH)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == param and message in error["message"]
    assert port.requests == []


async def test_not_json_unknown_paths_and_methods(
    port_and_http: tuple[ScriptedPort, httpx.AsyncClient],
) -> None:
    _, http = port_and_http
    broken = await http.post("/chat/completions", content=b"{nope", headers=AUTH)
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]["message"]
    assert (await http.post("/completions", json={}, headers=AUTH)).status_code == 404
    wrong = await http.get("/chat/completions", headers=AUTH)
    assert wrong.status_code == 405 and "error" in wrong.json()


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}]
)
async def test_missing_or_wrong_key_is_401(
    port_and_http: tuple[ScriptedPort, httpx.AsyncClient], headers: dict[str, str]
) -> None:
    _, http = port_and_http
    for response in (
        await http.post("/chat/completions", json=chat(), headers=headers),
        await http.post("/embeddings", json={"model": "embed", "input": "x"}, headers=headers),
        await http.get("/models", headers=headers),
    ):
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "invalid_api_key"


async def test_models_lists_routes_and_auto(port_and_http: tuple[ScriptedPort, httpx.AsyncClient]) -> None:
    _, http = port_and_http
    body = (await http.get("/models", headers=AUTH)).json()
    ids = [m["id"] for m in body["data"]]
    assert ids == ["chat", "chat-hosted", "intents", "embed", "edgefleet/auto"]
    assert body["data"][-1]["edgefleet"]["routes"] == {"generate": "chat", "embed": "embed"}


async def test_embeddings_float_and_base64(port_and_http: tuple[ScriptedPort, httpx.AsyncClient]) -> None:
    _, http = port_and_http
    plain = await http.post(
        "/embeddings", json={"model": "edgefleet/auto", "input": ["a b", "c"]}, headers=AUTH
    )
    body = plain.json()
    assert [d["embedding"] for d in body["data"]] == [[0.6, 0.8], [0.6, 0.8]] and body["model"] == "embed"
    assert body["usage"]["prompt_tokens"] == 2 and body["edgefleet"]["results"][0]["tier"] == "edge"
    assert (
        plain.headers["x-edgefleet-tier"] == "edge" and plain.headers["x-edgefleet-cost-usd"] == "0.00000200"
    )
    packed = await http.post(
        "/embeddings", json={"model": "embed", "input": "a", "encoding_format": "base64"}, headers=AUTH
    )
    vector = np.frombuffer(base64.b64decode(packed.json()["data"][0]["embedding"]), dtype="<f4")
    assert vector.tolist() == pytest.approx([0.6, 0.8])


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "embed", "input": []}, 400, "input"),
        ({"model": "embed", "input": [[1, 2]]}, 400, "input"),
        ({"model": "embed", "input": ""}, 400, "input"),
        ({"model": "embed", "input": "x", "encoding_format": "hex"}, 400, "encoding_format"),
        ({"model": "embed", "input": "x", "dimensions": 8}, 400, "dimensions"),
        ({"model": "chat", "input": "x"}, 400, "model"),
        ({"model": "nope", "input": "x"}, 404, "model"),
    ],
)
async def test_bad_embedding_requests(
    port_and_http: tuple[ScriptedPort, httpx.AsyncClient], body: dict[str, Any], status: int, param: str
) -> None:
    _, http = port_and_http
    response = await http.post("/embeddings", json=body, headers=AUTH)
    assert response.status_code == status and response.json()["error"]["param"] == param


CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_PARENT = f"00-{CALLER_TRACE}-b7ad6b7169203331-01"


async def test_traced_front_door_continues_the_callers_trace_and_counts_refusals() -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from router.metrics import RouterMetrics
    from router.tracing import Tracing

    port, exporter, metrics = ScriptedPort(), InMemorySpanExporter(), RouterMetrics()
    keys = ApiKeys.from_secrets([KEY], "$EDGEFLEET_TEST_HTTP_KEYS")
    app = OpenAIApi(port, lambda: keys, tracing=Tracing(exporter=exporter), metrics=metrics).app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://front.door/v1", timeout=10) as http:
        headers = {**AUTH, "traceparent": CALLER_PARENT}
        streamed = await http.post("/chat/completions", json=chat(stream=True), headers=headers)
        assert streamed.headers["X-EdgeFleet-Trace-Id"] == CALLER_TRACE
        assert (
            await http.post("/chat/completions", json=chat(), headers={"traceparent": CALLER_PARENT})
        ).status_code == 401
        assert (await http.post("/chat/completions", json=chat(messages=[]), headers=AUTH)).status_code == 400
    req, _ = port.requests[0]
    assert req.trace is not None and req.trace.trace_id == CALLER_TRACE  # the engine continues it
    roots = [s for s in exporter.get_finished_spans() if s.name == "POST /v1/chat/completions"]
    assert len(roots) == 3 and all(format(s.context.trace_id, "032x") == CALLER_TRACE for s in roots[:2])
    assert roots[0].status.is_ok and not roots[1].status.is_ok
    assert sum(s.name == "validate" for s in exporter.get_finished_spans()) == 3
    text = generate_latest(metrics.registry).decode()
    assert 'outcome="unauthenticated",route="none",task="generate",tier="none"} 1.0' in text
    assert 'outcome="invalid_argument",route="none",task="generate",tier="none"} 1.0' in text
