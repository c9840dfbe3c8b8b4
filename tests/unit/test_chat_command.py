"""cli.chat_command: the command's arguments as an SDK generation, and its summary line."""

from __future__ import annotations

import argparse
import io

from cli.chat_command import _summary, conversation, generate_options
from client.requests import generate_request
from client.results import GenerateResult, ServedBy, Tier, TraceStep


def _args(**over: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "prompt": "Capital of France?",
        "system": None,
        "route": "",
        "max_tokens": 64,
        "temperature": None,
        "seed": None,
        "stop": None,
        "max_latency_ms": None,
        "max_ttft_ms": None,
        "max_cost_usd": None,
        "min_confidence": None,
        "allow_retraction": False,
    }
    values.update(over)
    return argparse.Namespace(**values)


def test_the_conversation_has_the_system_message_first() -> None:
    assert conversation(_args()) == [("user", "Capital of France?")]
    assert conversation(_args(system="Be brief.")) == [
        ("system", "Be brief."),
        ("user", "Capital of France?"),
    ]


def test_options_become_the_request_the_router_gets() -> None:
    args = _args(route="chat", temperature=0.7, seed=5, stop=["\n"], max_ttft_ms=200.0, allow_retraction=True)
    req = generate_request(conversation(args), **generate_options(args))
    assert req.max_tokens == 64 and req.route == "chat" and req.allow_retraction
    assert req.temperature == 0.7 and req.seed == 5 and list(req.stop) == ["\n"]
    assert req.constraints.max_time_to_first_token_ms == 200.0
    assert not req.constraints.HasField("max_latency_ms") and not req.constraints.HasField("min_confidence")
    plain = generate_request(conversation(_args()), **generate_options(_args()))
    assert (
        not plain.HasField("temperature") and not plain.HasField("seed") and not plain.HasField("constraints")
    )


def test_the_summary_names_who_answered_and_the_trace() -> None:
    result = GenerateResult(
        request_id="g1",
        text="Paris.",
        served_by=ServedBy("smollm2-135m", "1", "llm-0", "edge-small", "CPU", Tier.EDGE, False),
        prompt_tokens=12,
        completion_tokens=3,
        cost_usd=0.00001,
        confidence=0.91,
        finish_reason="stop",
        latency_ms=300.0,
        time_to_first_token_ms=100.0,
        trace=(TraceStep("llm", "ok", "confidence 0.91", 290.0),),
        route="chat",
        domain="",
    )
    err = io.StringIO()
    _summary(result, 0.0, 0.05, err, show_trace=True)
    line, step = err.getvalue().splitlines()
    assert line.startswith("-- edge: smollm2-135m on edge-small/CPU, route chat; time to first token 100 ms")
    assert "(client 50 ms), 3 tokens at 15 tokens/s, confidence 0.91" in line
    assert step == "   llm: ok (confidence 0.91) 290 ms"
