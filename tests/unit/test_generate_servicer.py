"""The Generate rpc's translation (no sockets): proto -> GenerateInput, events -> responses,
errors -> status, API keys."""

from __future__ import annotations

import pytest
from grpc import StatusCode

from protos.edgefleet.v1 import common_pb2, router_pb2
from router.auth import ApiKeys
from router.domain import GenerateFinal, Retraction, ServedBy, Step, TextDelta
from router.generate_servicer import event_proto, generate_responses, raw_generate_request
from router.servicer import RouterServicer
from tests.unit.generate_fakes import LP_UNSURE, FakeEdgeGenerator, Script, chunks, gen_engine
from tests.unit.test_servicer import Aborted, FakeContext


def _request(**fields: object) -> router_pb2.GenerateRequest:
    msg = router_pb2.GenerateRequest(
        request_id="g1", messages=[router_pb2.ChatMessage(role="user", content="hello")], max_tokens=16
    )
    for name, value in fields.items():
        if isinstance(value, dict):
            getattr(msg, name).CopyFrom(type(getattr(msg, name))(**value))
        elif isinstance(value, list):
            msg.ClearField(name)
            getattr(msg, name).extend(value)
        else:
            setattr(msg, name, value)
    return msg


def test_raw_request_keeps_unset_optionals_none() -> None:
    raw = raw_generate_request(_request())
    assert raw.messages == (("user", "hello"),) and raw.max_tokens == 16
    assert raw.temperature is None and raw.top_p is None and raw.seed is None
    assert raw.max_latency_ms is None and raw.max_time_to_first_token_ms is None and not raw.allow_retraction
    raw = raw_generate_request(
        _request(
            temperature=0.0,
            seed=0,
            stop=["\n"],
            allow_retraction=True,
            route="chat",
            constraints={"max_time_to_first_token_ms": 150.0, "max_cost_usd": 0.0},
        )
    )
    assert raw.temperature == 0.0 and raw.seed == 0 and raw.stop == ("\n",) and raw.route == "chat"
    assert raw.max_time_to_first_token_ms == 150.0 and raw.max_cost_usd == 0.0 and raw.min_confidence is None
    assert raw.allow_retraction


def test_events_become_responses() -> None:
    assert event_proto("g", TextDelta("Hi")).delta.text == "Hi"
    retraction = event_proto("g", Retraction(5, "low_confidence"))
    assert retraction.WhichOneof("event") == "retraction" and retraction.retraction.chars == 5
    served = ServedBy("smollm", "1", "llm-small-0", "node-0", "CPU", "edge")
    final = GenerateFinal(
        "g",
        "Hi.",
        served,
        12,
        3,
        0.00001,
        0.9,
        "stop",
        8.0,
        5.0,
        (Step("llm-small", "ok", "fine", 7.0),),
        "chat",
    )
    msg = event_proto("g", final)
    assert msg.request_id == "g" and msg.WhichOneof("event") == "final"
    f = msg.final
    assert (f.text, f.prompt_tokens, f.completion_tokens, f.finish_reason) == ("Hi.", 12, 3, "stop")
    assert f.served_by.tier == common_pb2.EDGE and f.served_by.model == "smollm"
    assert f.time_to_first_token_ms == 5.0 and f.trace[0].target == "llm-small" and f.route == "chat"


async def test_generate_streams_deltas_then_the_final_answer() -> None:
    engine, _, _ = gen_engine(FakeEdgeGenerator({"smollm": Script(chunks("Not sure.", LP_UNSURE))}))
    servicer = RouterServicer(engine, lambda: ApiKeys())
    got = [
        r async for r in servicer.Generate(_request(route="chat-live", allow_retraction=True), FakeContext())
    ]
    kinds = [r.WhichOneof("event") for r in got]
    assert kinds == ["delta", "delta", "retraction", "delta", "delta", "delta", "final"]
    assert all(r.request_id == "g1" for r in got)
    assert got[2].retraction.chars == len("Not sure.") and got[2].retraction.reason == "low_confidence"
    assert got[-1].final.text == "The hosted answer." and got[-1].final.served_by.tier == common_pb2.HOSTED


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"messages": []}, "messages must not be empty"),
        ({"messages": [router_pb2.ChatMessage(role="bot", content="hi")]}, "role 'bot' is unknown"),
        ({"max_tokens": 0}, "max_tokens must be between 1 and 4096"),
        ({"max_tokens": 2**31 - 1}, "max_tokens must be between 1 and 4096"),
        ({"request_id": "r" * 200}, "request_id has 200 characters"),
        ({"route": "nope"}, "unknown route 'nope'"),
    ],
)
async def test_bad_requests_end_the_stream_with_invalid_argument(
    fields: dict[str, object], message: str
) -> None:
    engine, edge, _ = gen_engine()
    ctx = FakeContext()
    with pytest.raises(Aborted):
        async for _ in generate_responses(engine, ApiKeys(), _request(**fields), ctx):
            pass
    assert ctx.code == StatusCode.INVALID_ARGUMENT and message in ctx.details and edge.calls == []


async def test_generate_needs_an_api_key_when_keys_are_on() -> None:
    engine, edge, _ = gen_engine()
    ctx = FakeContext()
    with pytest.raises(Aborted):
        async for _ in generate_responses(engine, ApiKeys.from_secrets(["secret"], "$K"), _request(), ctx):
            pass
    assert ctx.code == StatusCode.UNAUTHENTICATED and edge.calls == []
    ctx = FakeContext([("authorization", "Bearer secret")])
    got = [
        r async for r in generate_responses(engine, ApiKeys.from_secrets(["secret"], "$K"), _request(), ctx)
    ]
    assert got[-1].final.text == "A fine edge answer."


async def test_no_answer_is_a_status_not_a_traceback() -> None:
    busy = Script(chunks("x", LP_UNSURE), gate_after=0)  # never produces a token
    engine, _, _ = gen_engine(FakeEdgeGenerator({"smollm": busy}))
    ctx = FakeContext()
    request = _request(domain="cooking", constraints={"max_time_to_first_token_ms": 20.0})
    with pytest.raises(Aborted):
        async for _ in generate_responses(engine, ApiKeys(), request, ctx):
            pass
    assert ctx.code == StatusCode.DEADLINE_EXCEEDED and "no first token within 20 ms" in ctx.details
