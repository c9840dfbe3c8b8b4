"""The router's OpenAI-compatible front door over real HTTP on 127.0.0.1:0, driven by the official
OpenAI SDK and by `curl -N`.

- Embeddings go through the real path: `serve(..., http_listen=...)` starts the router (gRPC + HTTP)
  with the real RouterEngine, a StaticFleet and a real KServe replica of the `generalist` model.
- Chat completions go through a second front door on the same engine whose generation is scripted
  (tests/unit/frontdoor_fakes.py): the RouterEngine's Generate is written separately.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from edgefleet.sse import SseDecoder
from edgefleet.state import DeploymentState, FleetState, NodeState, ReplicaState
from router.fleet_source import StaticFleet
from router.http.server import HttpFrontDoor
from router.server import RouterServer, serve
from tests.unit.frontdoor_fakes import ANSWER, ScriptedPort, front_door_policy
from tests.unit.router_fakes import FakeHosted

pytestmark = pytest.mark.integration

KEY_ENV = "EDGEFLEET_TEST_FRONT_DOOR_KEYS"
KEY = "sk-edgefleet-test"


@pytest.fixture(scope="module")
def generalist(model_registry: Path) -> Any:
    from fleet.models.manifest import load_bundle, resolve_model_dir
    from fleet.serving.runtime import TextModel

    return TextModel.load(load_bundle(resolve_model_dir(model_registry, "generalist")))


@pytest.fixture(scope="module")
def fleet_state(generalist: Any) -> Iterator[FleetState]:
    from fleet.serving.kserve_aio import serve_kserve

    server, port = serve_kserve(generalist, node="node-a", replica="encoder-0")
    try:
        replica = ReplicaState("encoder-0", "encoder", "n1", "node-a", "CPU", f"127.0.0.1:{port}", "ready")
        deployment = DeploymentState(
            "encoder",
            "generalist",
            generalist.manifest.version,
            generalist.manifest.precision,
            1,
            1,
            [replica],
            price_per_call_usd=0.000001,
            task="embed",
        )
        yield FleetState(1, 0.0, [NodeState("n1", "node-a", "127.0.0.1")], [deployment], [])
    finally:
        server.stop(0)


@pytest.fixture(scope="module")
async def router(fleet_state: FleetState) -> AsyncIterator[RouterServer]:
    os.environ[KEY_ENV] = KEY
    policy = front_door_policy(KEY_ENV)
    server = await serve(
        policy, StaticFleet(fleet_state), {"big": FakeHosted()}, "127.0.0.1:0", http_listen="127.0.0.1:0"
    )
    try:
        yield server
    finally:
        await server.stop(0)
        os.environ.pop(KEY_ENV, None)


@pytest.fixture(scope="module")
async def chat_door(router: RouterServer) -> AsyncIterator[tuple[HttpFrontDoor, ScriptedPort]]:
    port = ScriptedPort(router.policy, engine=router.engine)
    door = HttpFrontDoor(port, lambda: router.api_keys)
    await door.start("127.0.0.1:0")
    try:
        yield door, port
    finally:
        await door.stop(0)


def sdk(base_url: str, key: str = KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=15)


QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


async def test_sdk_chat_completion_with_edgefleet_answer(
    chat_door: tuple[HttpFrontDoor, ScriptedPort],
) -> None:
    door, port = chat_door
    async with sdk(door.base_url) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="chat",
            messages=QUESTION,
            max_tokens=32,
            temperature=0,
            extra_body={"edgefleet": {"domain": "travel"}},
        )
        completion = raw.parse()
    assert completion.choices[0].message.content == ANSWER and completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens == 29
    extension = (completion.model_extra or {})["edgefleet"]
    assert extension["served_by"]["model"] == "smollm2" and extension["domain"] == "travel"
    assert raw.headers["x-edgefleet-tier"] == "edge" and raw.headers["x-edgefleet-cost-usd"] == "0.00001230"
    assert port.requests[-1][0].allow_retraction is False


async def test_sdk_streamed_chat_completion(chat_door: tuple[HttpFrontDoor, ScriptedPort]) -> None:
    door, _ = chat_door
    async with sdk(door.base_url) as client:
        stream = await client.chat.completions.create(
            model="edgefleet/auto", messages=QUESTION, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ANSWER and len(chunks) >= 8
    last = chunks[-1]
    assert last.usage is not None and last.usage.completion_tokens == 8
    assert (last.model_extra or {})["edgefleet"]["route"] == "chat"


async def test_sdk_stream_broken_mid_way_raises_after_the_partial_text(
    chat_door: tuple[HttpFrontDoor, ScriptedPort],
) -> None:
    door, _ = chat_door
    received: list[str] = []

    async def consume() -> None:
        async with sdk(door.base_url) as client:
            stream = await client.chat.completions.create(
                model="chat", messages=[{"role": "user", "content": "break"}], stream=True
            )
            async for chunk in stream:
                received.append(chunk.choices[0].delta.content or "")

    with pytest.raises(openai.APIError, match="hosted stream broke after 3 characters"):
        await consume()
    assert "".join(received) == "The"


async def test_sdk_errors_have_openai_shape_and_status(chat_door: tuple[HttpFrontDoor, ScriptedPort]) -> None:
    door, _ = chat_door
    async with sdk(door.base_url, key="sk-wrong") as client:
        with pytest.raises(openai.AuthenticationError) as auth:
            await client.chat.completions.create(model="chat", messages=QUESTION)
    assert auth.value.status_code == 401
    async with sdk(door.base_url) as client:
        with pytest.raises(openai.NotFoundError) as missing:
            await client.chat.completions.create(model="gpt-4o", messages=QUESTION)
        assert missing.value.status_code == 404 and missing.value.code == "model_not_found"
        for bad in ({"max_tokens": 0}, {"max_tokens": 100_000}, {"messages": []}):
            arguments: dict[str, Any] = {"model": "chat", "messages": QUESTION, **bad}
            with pytest.raises(openai.BadRequestError) as caught:
                await client.chat.completions.create(**arguments)
            assert caught.value.status_code == 400 and caught.value.param in ("max_tokens", "messages")
        with pytest.raises(openai.BadRequestError, match="wizard"):
            await client.chat.completions.create(model="chat", messages=[{"role": "wizard", "content": "hi"}])  # type: ignore[list-item,misc]
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(
                model="chat", messages=[{"role": "user", "content": "refuse"}]
            )
        with pytest.raises(openai.APIStatusError) as deadline:
            await client.chat.completions.create(
                model="chat", messages=[{"role": "user", "content": "deadline"}]
            )
        assert deadline.value.status_code == 504


async def test_sdk_embeddings_through_the_real_engine_and_replica(
    router: RouterServer, generalist: Any
) -> None:
    assert router.http_address.startswith("127.0.0.1:")
    texts = ["what is my checking account balance", "book a flight to rome"]
    async with sdk(f"http://{router.http_address}/v1") as client:
        raw = await client.embeddings.with_raw_response.create(
            model="edgefleet/auto", input=texts
        )  # base64 by default
        answer = raw.parse()
        models = await client.models.list()
    vectors = np.array([d.embedding for d in answer.data], dtype=np.float32)
    assert vectors.shape[0] == 2 and np.allclose(vectors, generalist.embed(texts), atol=1e-5)
    assert answer.model == "embed" and answer.usage.prompt_tokens > 0
    served = (answer.model_extra or {})["edgefleet"]["results"][0]["served_by"]
    assert served["replica"] == "encoder-0" and served["tier"] == "edge"
    assert (
        raw.headers["x-edgefleet-served-by"].startswith("generalist:")
        and raw.headers["x-edgefleet-tier"] == "edge"
    )
    assert [m.id for m in models.data][-1] == "edgefleet/auto"


async def test_real_front_door_refuses_a_missing_key_and_bad_input(router: RouterServer) -> None:
    async with httpx.AsyncClient(base_url=f"http://{router.http_address}/v1", timeout=10) as http:
        response = await http.post("/embeddings", json={"model": "embed", "input": "x"})
        assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"
        response = await http.post(
            "/embeddings", json={"model": "embed", "input": ""}, headers={"Authorization": f"Bearer {KEY}"}
        )
        assert response.status_code == 400 and "empty" in response.json()["error"]["message"]


async def test_curl_streams_server_sent_events(chat_door: tuple[HttpFrontDoor, ScriptedPort]) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    door, _ = chat_door
    body = json.dumps({"model": "chat", "messages": QUESTION, "stream": True})
    proc = await asyncio.create_subprocess_exec(
        curl, "-sS", "-N", "--max-time", "20", f"{door.base_url}/chat/completions",
        "-H", f"Authorization: Bearer {KEY}", "-H", "Content-Type: application/json", "-d", body,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, stderr.decode()
    decoder = SseDecoder()
    data = [e.data for line in stdout.decode().split("\n") if (e := decoder.feed(line)) is not None]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == ANSWER
    assert chunks[-1]["edgefleet"]["served_by"]["replica"] == "llm-0"


async def test_stop_closes_the_port(fleet_state: FleetState) -> None:
    door = HttpFrontDoor(
        ScriptedPort(), lambda: ScriptedPort().policy and __import__("router.auth").auth.ApiKeys()
    )
    address = await door.start("127.0.0.1:0")
    listener = door._socket
    assert listener is not None and listener.proto == socket.IPPROTO_TCP  # => TCP_NODELAY per connection
    await door.stop(0)
    await door.stop(0)  # idempotent
    async with httpx.AsyncClient(timeout=2) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://{address}/v1/models")
