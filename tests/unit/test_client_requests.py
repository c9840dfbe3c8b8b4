"""client.requests: request messages from plain Python arguments."""

from __future__ import annotations

import pytest

from client.requests import ChatMessage, chat_messages, generate_request, infer_request


def test_one_text_or_a_batch() -> None:
    one = infer_request("what is my balance")
    assert one.text == "what is my balance" and not one.texts and one.task == "classify"
    batch = infer_request(["a", "b"], task="embed", route="embeddings", request_id="q7")
    assert list(batch.texts) == ["a", "b"] and not batch.text
    assert (batch.task, batch.route, batch.request_id) == ("embed", "embeddings", "q7")


def test_constraints_are_set_only_when_given() -> None:
    plain = infer_request("x")
    assert not plain.HasField("constraints")
    req = infer_request("x", domain="banking", max_latency_ms=50, min_confidence=0.0)
    assert req.domain == "banking" and req.constraints.max_latency_ms == 50
    assert req.constraints.HasField("min_confidence") and req.constraints.min_confidence == 0.0
    assert not req.constraints.HasField("max_cost_usd")


def test_conversations_in_every_accepted_form() -> None:
    assert [(m.role, m.content) for m in chat_messages("hi")] == [("user", "hi")]
    turns = chat_messages(
        [ChatMessage("system", "be brief"), {"role": "assistant", "content": "ok"}, ("user", "why?")]
    )
    assert [(m.role, m.content) for m in turns] == [
        ("system", "be brief"),
        ("assistant", "ok"),
        ("user", "why?"),
    ]


def test_generate_options() -> None:
    req = generate_request(
        "hi",
        max_tokens=16,
        temperature=0.0,
        stop=["\n"],
        seed=3,
        route="chat",
        allow_retraction=True,
        max_time_to_first_token_ms=200,
        max_cost_usd=0.01,
    )
    assert req.max_tokens == 16 and req.HasField("temperature") and req.temperature == 0.0
    assert not req.HasField("top_p") and list(req.stop) == ["\n"] and req.seed == 3
    assert req.route == "chat" and req.allow_retraction
    assert req.constraints.max_time_to_first_token_ms == 200
    assert req.constraints.max_cost_usd == pytest.approx(0.01) and not req.constraints.HasField(
        "max_latency_ms"
    )
