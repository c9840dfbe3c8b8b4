"""HostedClient over real HTTP on 127.0.0.1: stand-in, retries, timeouts, dead ports, circuit.

The stand-in here is backed by a fake keyword model (fast, no OpenVINO); the
real-model stand-in is tested in test_standin.py. A small scripted HTTP server
plays a misbehaving hosted API (500s, 429s, broken JSON).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from edgefleet import openai_wire as wire
from edgefleet.policy.schema import CircuitConfig, HostedConfig, StandInConfig
from router.errors import TargetError
from router.hosted.client import HostedClient
from standin.server import StandInServer
from tests.unit.test_standin_handlers import KeywordModel

pytestmark = pytest.mark.integration

LABELS = ["book_flight", "weather", "oos"]
Script = list[tuple[int, dict[str, str], Any]]


def config(**overrides: Any) -> HostedConfig:
    values: dict[str, Any] = {
        "name": "hosted-test",
        "stand_in": StandInConfig(),
        "retries": 2,
        "backoff_ms": 5.0,
        "timeout_ms": 3000.0,
    }
    values.update(overrides)
    return HostedConfig(**values)


class ScriptedServer:
    """An HTTP server answering POSTs from a script of (status, headers, json-or-text); the last repeats."""

    def __init__(self, script: Script) -> None:
        self.script = list(script)
        self.hits = 0
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    outer.hits += 1
                    status, headers, body = outer.script.pop(0) if len(outer.script) > 1 else outer.script[0]
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})

    def __enter__(self) -> str:
        self._thread.start()
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def completion(content: str) -> dict[str, Any]:
    return {
        "object": "chat.completion",
        "model": "scripted",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 8},
    }


GOOD: tuple[int, dict[str, str], Any] = (200, {}, completion('{"label": "weather", "confidence": 0.8}'))


@pytest.fixture
def fake_standin() -> Iterator[StandInServer]:
    server = StandInServer(KeywordModel())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def free_dead_port() -> int:
    """A port nothing listens on (bound then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_client_against_stand_in(fake_standin: StandInServer) -> None:
    client = HostedClient(config(), base_url=fake_standin.base_url)
    try:
        answer = await client.classify("will it rain in paris", LABELS, timeout_s=5)
        vectors = await client.embed(["a", "b"], timeout_s=5)
    finally:
        await client.aclose()
    assert (answer.label, answer.stand_in, answer.model) == ("weather", True, "edgefleet-stand-in")
    assert answer.input_tokens > 0 and answer.output_tokens > 0
    assert len(vectors) == 2 and vectors[0].stand_in and vectors[0].embedding == pytest.approx([0.6, 0.8])


def test_raw_http_validation_and_labels(fake_standin: StandInServer) -> None:
    with httpx.Client(base_url=fake_standin.base_url, timeout=5) as http:
        models = http.get("/models")
        assert models.status_code == 200 and models.headers[wire.STAND_IN_HEADER] == "1"
        assert "STAND-IN" in models.json()["data"][0]["description"]
        broken = http.post(
            "/chat/completions", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]["message"]
        missing = http.post("/chat/completions", json={"model": "m"})
        assert missing.status_code == 400 and missing.json()["error"]["param"] == "messages"
        assert http.post("/completions", json={}).status_code == 404
        assert http.get("/nowhere").status_code == 404
        assert http.delete("/models").status_code == 405
        plain = http.post(  # free text (no response_format) is generation: test_standin_llm.py
            "/chat/completions",
            json={
                "model": "m",
                "messages": [{"role": "user", "content": "rain?"}],
                "response_format": {"type": "json_object"},
            },
        )
        assert json.loads(plain.json()["choices"][0]["message"]["content"])["label"] == "weather"
        assert plain.json()["system_fingerprint"] == "edgefleet-stand-in"


async def test_api_key_checked_and_never_leaked(monkeypatch: pytest.MonkeyPatch) -> None:
    server = StandInServer(KeywordModel(), api_key="sk-right-key")
    base_url = server.start()
    try:
        monkeypatch.setenv("EF_TEST_KEY", "sk-right-key")
        good = HostedClient(config(api_key_env="EF_TEST_KEY"), base_url=base_url)
        monkeypatch.setenv("EF_TEST_KEY", "sk-wrong-key")
        bad = HostedClient(config(api_key_env="EF_TEST_KEY"), base_url=base_url)
        try:
            assert (await good.classify("flight to rome", LABELS, timeout_s=5)).label == "book_flight"
            with pytest.raises(TargetError, match="401") as caught:
                await bad.classify("flight to rome", LABELS, timeout_s=5)
            assert "sk-wrong-key" not in str(caught.value) and "sk-wrong-key" not in repr(bad)
        finally:
            await good.aclose()
            await bad.aclose()
    finally:
        server.stop()


async def test_500_then_200_is_retried() -> None:
    with ScriptedServer([(500, {}, {"error": {"message": "boom"}}), GOOD]) as base_url:
        client = HostedClient(config(), base_url=base_url)
        try:
            answer = await client.classify("x", LABELS, timeout_s=5)
        finally:
            await client.aclose()
    assert answer.label == "weather" and answer.stand_in is False


async def test_dead_port_fails_fast_and_opens_the_circuit() -> None:
    cfg = config(retries=1, circuit=CircuitConfig(failures=2, reset_s=60))
    client = HostedClient(cfg, base_url=f"http://127.0.0.1:{free_dead_port()}/v1")
    try:
        for _ in range(2):
            with pytest.raises(TargetError, match="ConnectError") as caught:
                await client.classify("x", LABELS, timeout_s=5)
            assert not caught.value.timeout and "hosted-test" in str(caught.value)
        assert client.circuit_state == "open"
        with pytest.raises(TargetError, match="circuit open"):
            await client.classify("x", LABELS, timeout_s=5)
    finally:
        await client.aclose()


async def test_slow_server_past_the_timeout_is_a_timeout() -> None:
    server = StandInServer(KeywordModel(), latency_ms=2000)
    base_url = server.start()
    client = HostedClient(config(timeout_ms=150, retries=0), base_url=base_url)
    try:
        with pytest.raises(TargetError, match="timed out") as caught:
            await client.classify("x", LABELS, timeout_s=5)
        assert caught.value.timeout is True
    finally:
        await client.aclose()
        server.stop()  # cuts the simulated latency short


async def test_429_short_retry_after_is_honoured_long_one_is_not() -> None:
    with ScriptedServer([(429, {"Retry-After": "0.05"}, {"error": {"message": "slow down"}}), GOOD]) as url:
        client = HostedClient(config(), base_url=url)
        try:
            assert (await client.classify("x", LABELS, timeout_s=5)).label == "weather"
        finally:
            await client.aclose()
    server = ScriptedServer([(429, {"Retry-After": "3600"}, {"error": {"message": "quota exhausted"}})])
    with server as url:
        client = HostedClient(config(), base_url=url)
        try:
            with pytest.raises(TargetError, match="429: quota exhausted"):
                await client.classify("x", LABELS, timeout_s=5)
        finally:
            await client.aclose()
    assert server.hits == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("The answer is weather.", "not valid JSON"),
        ('{"label": "cancel_card", "confidence": 0.9}', "not one of the 3 candidate labels"),
        ('{"label": "weather", "confidence": "high"}', "confidence"),
    ],
)
async def test_bad_model_content_is_a_clear_error(content: str, message: str) -> None:
    with ScriptedServer([(200, {}, completion(content))]) as base_url:
        client = HostedClient(config(), base_url=base_url)
        try:
            with pytest.raises(TargetError, match=message):
                await client.classify("x", LABELS, timeout_s=5)
        finally:
            await client.aclose()


async def test_stop_closes_keep_alive_connections() -> None:
    server = StandInServer(KeywordModel())
    client = HostedClient(config(retries=0), base_url=server.start())
    try:
        assert (await client.classify("rain", LABELS, timeout_s=5)).label == "weather"
        server.stop()
        with pytest.raises(TargetError):
            await client.classify("rain", LABELS, timeout_s=5)
    finally:
        await client.aclose()
        server.stop()


async def test_4xx_is_not_retried() -> None:
    server = ScriptedServer([(400, {}, {"error": {"message": "response_format unsupported"}})])
    with server as base_url:
        client = HostedClient(config(), base_url=base_url)
        try:
            with pytest.raises(TargetError, match="400: response_format unsupported"):
                await client.classify("x", LABELS, timeout_s=5)
        finally:
            await client.aclose()
    assert server.hits == 1


async def test_circuit_half_open_probe_closes_it_again() -> None:
    cfg = config(retries=0, circuit=CircuitConfig(failures=2, reset_s=0.2))
    server = ScriptedServer([(500, {}, {}), (500, {}, {}), GOOD])
    with server as base_url:
        client = HostedClient(cfg, base_url=base_url)
        try:
            for _ in range(2):
                with pytest.raises(TargetError, match="HTTP 500"):
                    await client.classify("x", LABELS, timeout_s=5)
            assert client.circuit_state == "open"
            deadline = time.monotonic() + 10
            while client.circuit_state != "half-open" and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert client.circuit_state == "half-open"
            assert (await client.classify("x", LABELS, timeout_s=5)).label == "weather"
            assert client.circuit_state == "closed"
        finally:
            await client.aclose()
    assert server.hits == 3
