"""Router.Generate over real gRPC on 127.0.0.1:0: the router (real EdgeClient) streams from a FAKE
edge LLM replica -- an in-test KServe v2 server implementing ModelStreamInfer with the
edgefleet.kserve_llm wire convention (the real replica is written elsewhere) -- and falls back to
a FAKE hosted generator. Every server is shut down; every wait is bounded."""

from __future__ import annotations

import asyncio
import math
import os
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest

from edgefleet.generation import GenerationChunk
from edgefleet.kserve_llm import chunk_response, read_generate_request
from edgefleet.policy.loader import parse_policy
from protos.edgefleet.v1 import common_pb2, router_pb2, router_pb2_grpc
from protos.inference import grpc_service_pb2 as kserve_pb2
from protos.inference import grpc_service_pb2_grpc as kserve_grpc
from router.fleet_source import StaticFleet
from router.server import RouterServer, serve
from tests.unit.generate_fakes import GEN_POLICY_YAML, FakeHostedGenerator, gen_state

pytestmark = pytest.mark.integration
KEY_ENV = "EDGEFLEET_TEST_GENERATE_KEYS"
AUTH = (("authorization", "Bearer gen-key"),)
WAIT_S = 10.0


@dataclass
class Behaviour:
    """What the FAKE replica does for one model."""

    text: str = "A fine edge answer."
    confidence: float = 0.9
    delay_s: float = 0.0  # before every chunk
    hang_after: int | None = None  # chunks sent before waiting forever (until cancelled)
    status: grpc.StatusCode | None = None  # abort the call with this status
    error_message: str = ""  # answer with ModelStreamInferResponse.error_message


@dataclass
class FakeLLMReplica(kserve_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]
    """FAKE edge LLM replica: ModelStreamInfer only, per the edgefleet.kserve_llm convention."""

    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    requests: list[kserve_pb2.ModelInferRequest] = field(default_factory=list)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)

    async def ModelStreamInfer(
        self, request_iterator: AsyncIterator[kserve_pb2.ModelInferRequest], context: Any
    ) -> AsyncIterator[kserve_pb2.ModelStreamInferResponse]:
        try:
            async for request in request_iterator:
                self.requests.append(request)
                messages, _ = read_generate_request(request)
                b = self.behaviours.get(request.model_name, Behaviour())
                if b.status is not None:
                    await context.abort(b.status, f"{request.model_name}: queue full (max_queue=1)")
                if b.error_message:
                    yield kserve_pb2.ModelStreamInferResponse(error_message=b.error_message)
                    continue
                words = b.text.split(" ")
                lp = math.log(b.confidence)
                for i, word in enumerate(words):
                    if i == b.hang_after:
                        await asyncio.Event().wait()
                    if b.delay_s:
                        await asyncio.sleep(b.delay_s)
                    piece = word if i == len(words) - 1 else word + " "
                    chunk = GenerationChunk(piece, (lp,))
                    yield self._response(request, chunk)
                final = GenerationChunk("", (), True, "stop", len(messages[-1].content) // 4, len(words))
                yield self._response(request, final)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise

    @staticmethod
    def _response(request: kserve_pb2.ModelInferRequest, chunk: GenerationChunk) -> Any:
        inner = chunk_response(request.model_name, request.model_version, request.id, chunk)
        return kserve_pb2.ModelStreamInferResponse(infer_response=inner)


@dataclass
class Rig:
    """A FAKE replica server, a router over it, and a channel to the router."""

    replica: FakeLLMReplica
    hosted: FakeHostedGenerator
    router: RouterServer
    stub: router_pb2_grpc.RouterStub


@pytest.fixture
async def rig() -> AsyncIterator[Callable[..., Any]]:
    """Builds rigs (the replica address may point at nothing: `down=True`); shuts all down."""
    started: list[tuple[grpc.aio.Server, RouterServer, grpc.aio.Channel]] = []
    held: list[socket.socket] = []

    async def build(down: bool = False, hosted: FakeHostedGenerator | None = None) -> Rig:
        replica = FakeLLMReplica()
        kserve = grpc.aio.server()
        kserve_grpc.add_GRPCInferenceServiceServicer_to_server(replica, kserve)
        port = kserve.add_insecure_port("127.0.0.1:0")
        await kserve.start()
        if down:  # a port bound but not listening: connections are refused, and nobody else gets it
            hold = socket.socket()
            hold.bind(("127.0.0.1", 0))
            held.append(hold)
            port = hold.getsockname()[1]
        address = f"127.0.0.1:{port}"
        state = gen_state(replicas=1)
        for dep in state.deployments:
            for r in dep.replicas:
                r.address = address
        policy = parse_policy(
            GEN_POLICY_YAML.replace("max_inflight: 8", f"max_inflight: 8\n  api_keys_env: {KEY_ENV}")
        )
        hosted = hosted or FakeHostedGenerator()
        router = await serve(policy, StaticFleet(state), {"big": hosted}, "127.0.0.1:0")  # type: ignore[dict-item]
        channel = grpc.aio.insecure_channel(router.address)
        started.append((kserve, router, channel))
        return Rig(replica, hosted, router, router_pb2_grpc.RouterStub(channel))

    os.environ[KEY_ENV] = "gen-key"
    try:
        yield build
    finally:
        for kserve, router, channel in started:
            await channel.close()
            await router.stop(0)
            await kserve.stop(0)
        for hold in held:
            hold.close()
        os.environ.pop(KEY_ENV, None)


def _request(text: str = "How do I reset my password?", **fields: Any) -> router_pb2.GenerateRequest:
    constraints = fields.pop("constraints", None)
    msg = router_pb2.GenerateRequest(
        request_id=fields.pop("request_id", "g1"),
        messages=[router_pb2.ChatMessage(role="user", content=text)],
        max_tokens=fields.pop("max_tokens", 32),
        **fields,
    )
    if constraints:
        msg.constraints.CopyFrom(router_pb2.GenerateConstraints(**constraints))
    return msg


async def _events(rig: Rig, request: router_pb2.GenerateRequest) -> list[router_pb2.GenerateResponse]:
    call = rig.stub.Generate(request, metadata=AUTH, timeout=WAIT_S)
    return [r async for r in call]


def _text(events: list[router_pb2.GenerateResponse]) -> str:
    out = ""
    for e in events:
        if e.HasField("retraction"):
            assert e.retraction.chars == len(out)
            out = ""
        elif e.HasField("delta"):
            out += e.delta.text
    return out


async def test_generate_streams_an_edge_answer(rig: Callable[..., Any]) -> None:
    r = await rig()
    events = await _events(r, _request())
    final = events[-1].final
    assert [e.WhichOneof("event") for e in events] == ["delta", "final"]  # buffered: judged, then sent
    assert _text(events) == final.text == "A fine edge answer."
    assert final.served_by.tier == common_pb2.EDGE and final.served_by.replica == "llm-small-0"
    assert final.served_by.model == "smollm" and final.confidence == pytest.approx(0.9, abs=1e-4)
    assert final.completion_tokens == 4 and final.finish_reason == "stop" and final.route == "chat"
    assert [(s.target, s.outcome) for s in final.trace] == [("llm-small", "ok")]
    assert 0 < final.time_to_first_token_ms <= final.latency_ms and events[0].request_id == "g1"
    (sent,) = r.replica.requests
    assert sent.model_name == "smollm" and sent.inputs[0].name == "messages"
    assert sent.parameters["max_tokens"].int64_param == 32 and sent.parameters["logprobs"].bool_param


async def test_immediate_mode_retracts_the_edge_text_and_escalates(rig: Callable[..., Any]) -> None:
    r = await rig()
    r.replica.behaviours["smollm"] = Behaviour(text="Not sure at all.", confidence=0.2)
    events = await _events(r, _request(route="chat-live", allow_retraction=True))
    kinds = [e.WhichOneof("event") for e in events]
    cut = kinds.index("retraction")
    assert kinds[:cut] == ["delta"] * 4 and events[cut].retraction.reason == "low_confidence"
    assert events[cut].retraction.chars == len("Not sure at all.")
    final = events[-1].final
    assert _text(events) == final.text == "The hosted answer."
    assert final.served_by.tier == common_pb2.HOSTED and final.served_by.stand_in is False
    assert [(s.target, s.outcome) for s in final.trace] == [("llm-small", "escalate"), ("hosted:big", "ok")]


async def test_queue_full_and_replica_errors_escalate(rig: Callable[..., Any]) -> None:
    r = await rig()
    r.replica.behaviours["smollm"] = Behaviour(status=grpc.StatusCode.RESOURCE_EXHAUSTED)
    r.replica.behaviours["qwen"] = Behaviour(error_message="model qwen is not loaded")
    final = (await _events(r, _request()))[-1].final
    assert [(s.target, s.outcome) for s in final.trace] == [
        ("llm-small", "error"),
        ("llm-large", "error"),
        ("hosted:big", "ok"),
    ]
    assert "is busy" in final.trace[0].reason and "queue full" in final.trace[0].reason
    assert "model qwen is not loaded" in final.trace[1].reason
    traffic = r.router.engine.accounting.generate_snapshot()
    assert traffic.escalations == {"queue_full": 1, "error": 1}


async def test_late_first_token_cancels_the_replica_and_escalates(rig: Callable[..., Any]) -> None:
    r = await rig()
    r.replica.behaviours["smollm"] = Behaviour(hang_after=0)
    events = await _events(r, _request(constraints={"max_time_to_first_token_ms": 100}))
    final = events[-1].final
    assert [(s.target, s.outcome) for s in final.trace] == [("llm-small", "timeout"), ("llm-large", "ok")]
    assert final.trace[0].reason == "no first token within 100 ms"
    await asyncio.wait_for(r.replica.cancelled.wait(), WAIT_S)  # the replica saw the cancellation


async def test_client_cancellation_reaches_the_replica(rig: Callable[..., Any]) -> None:
    r = await rig()
    r.replica.behaviours["smollm"] = Behaviour(hang_after=2)
    call = r.stub.Generate(_request(route="chat-live", allow_retraction=True), metadata=AUTH, timeout=WAIT_S)
    first = await asyncio.wait_for(call.read(), WAIT_S)
    assert first.delta.text == "A "
    call.cancel()
    await asyncio.wait_for(r.replica.cancelled.wait(), WAIT_S)
    for _ in range(100):  # the router notices on its own schedule: bounded poll
        if r.router.engine.inflight == 0:
            break
        await asyncio.sleep(0.02)
    assert r.router.engine.inflight == 0
    assert r.router.engine.accounting.generate_snapshot().cancelled == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"text": ""}, "the user messages are empty"),
        ({"max_tokens": 0}, "max_tokens must be between 1 and 4096, got 0"),
        ({"max_tokens": 1_000_000}, "max_tokens must be between 1 and 4096"),
        ({"route": "nope"}, "unknown route 'nope'"),
        ({"route": "intents"}, "serves task 'classify', not 'generate'"),
        ({"request_id": "x" * 129}, "request_id has 129 characters"),
        ({"constraints": {"max_latency_ms": -1}}, "must be > 0"),
    ],
)
async def test_bad_input_is_invalid_argument(
    rig: Callable[..., Any], fields: dict[str, Any], message: str
) -> None:
    r = await rig()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _events(r, _request(**fields))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in (info.value.details() or "")
    assert r.replica.requests == []


async def test_statuses_when_no_answer_can_be_had(rig: Callable[..., Any]) -> None:
    r = await rig()
    request = _request(domain="cooking")  # the edge-only route: no fallback
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await r.stub.Generate(request, timeout=WAIT_S).read()  # no API key
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    r.replica.behaviours["smollm"] = Behaviour(status=grpc.StatusCode.RESOURCE_EXHAUSTED)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _events(r, request)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    r.replica.behaviours["smollm"] = Behaviour(hang_after=1)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _events(r, _request(domain="cooking", constraints={"max_latency_ms": 200}))
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    down = await rig(down=True)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _events(down, request)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "llm-small: error" in (info.value.details() or "")
