"""The chaos suite's misbehaving hosted tier (bench.chaos.faults) over real HTTP on 127.0.0.1:0:
every mode as the router's hosted client sees it, and back to normal on the same port."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import httpx
import pytest

from bench.chaos.faults import HostedFaults
from edgefleet.policy.schema import CircuitConfig, HostedConfig
from router.errors import TargetError
from router.hosted import HostedClient

pytestmark = pytest.mark.integration


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        content = json.dumps({"label": "balance", "confidence": 0.9})
        body = json.dumps(
            {"id": "x", "object": "chat.completion", "model": "up",
             "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 10, "completion_tokens": 5}}
        ).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def faults() -> Iterator[HostedFaults]:
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = Thread(target=upstream.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    proxy = HostedFaults(f"http://127.0.0.1:{upstream.server_address[1]}/v1")
    try:
        yield proxy
    finally:
        proxy.stop()
        upstream.shutdown()
        upstream.server_close()
        thread.join(10)


def _client(proxy: HostedFaults, **kw: Any) -> HostedClient:
    cfg = HostedConfig(name="big", base_url=proxy.base_url, model="m", retries=1, backoff_ms=1.0,
                       timeout_ms=2000.0, **kw)  # fmt: skip
    return HostedClient(cfg)


async def test_every_mode_as_the_hosted_client_sees_it(faults: HostedFaults) -> None:
    client = _client(faults, circuit=CircuitConfig(failures=100, reset_s=1))
    try:
        assert (await client.classify("x", ["balance", "oos"], 2.0)).label == "balance"
        faults.set_mode("error")
        with pytest.raises(TargetError, match="503") as failed:
            await client.classify("x", ["balance", "oos"], 2.0)
        assert not failed.value.rate_limited
        faults.set_mode("ratelimit", retry_after_s=30)
        with pytest.raises(TargetError, match="429") as limited:
            await client.classify("x", ["balance", "oos"], 2.0)
        assert limited.value.rate_limited and client.unavailable_reason is not None
        assert client.breaker.consecutive_failures == 1  # the 503 call (two attempts); never the 429
        faults.set_mode("down")
        async with httpx.AsyncClient() as http:
            with pytest.raises(httpx.ConnectError):
                await http.post(faults.base_url + "/chat/completions", json={}, timeout=5)
        faults.set_mode("slow", delay_s=0.05)
        fresh = _client(faults)
        assert (await fresh.classify("x", ["balance", "oos"], 2.0)).label == "balance"  # same port again
        await fresh.aclose()
    finally:
        await client.aclose()
    assert faults.requests["error"] == 2 and faults.requests["ratelimit"] == 1
    assert max(faults.keys.values()) == 2  # the retried 503 repeated its Idempotency-Key


def test_an_unknown_mode_is_refused(faults: HostedFaults) -> None:
    with pytest.raises(ValueError, match="unknown mode"):
        faults.set_mode("flaky")
