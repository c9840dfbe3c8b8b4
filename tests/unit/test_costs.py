"""Cost rules, and that hosted token estimates match the hosted adapter's counting."""

from __future__ import annotations

import pytest

from edgefleet import openai_wire as wire
from edgefleet.tokens import estimate_chat_tokens, estimate_tokens
from router.costs import (
    edge_call_cost,
    estimate_classify_tokens,
    estimate_embed_tokens,
    estimate_hosted_cost,
    hosted_call_cost,
)
from tests.unit.router_fakes import make_policy

CFG = make_policy().hosted_endpoint("big")


def test_hosted_cost_per_1k_tokens() -> None:
    assert hosted_call_cost(CFG, 1000, 1000) == pytest.approx(0.04)
    assert hosted_call_cost(CFG, 500, 0) == pytest.approx(0.005)
    assert edge_call_cost(0.00002) == 0.00002


def test_classify_tokens_match_the_hosted_adapter() -> None:
    labels = ["balance", "transfer", "book_flight", "oos"]
    text = "how much money is in my checking account"
    body = wire.classify_request(CFG.model, text, labels)
    expected_in = estimate_chat_tokens([m["content"] for m in body["messages"]])
    tokens_in, tokens_out = estimate_classify_tokens(text, labels)
    assert tokens_in == expected_in
    assert tokens_out == estimate_tokens('{"label": "book_flight", "confidence": 0.93}')


def test_estimates_grow_with_text_and_labels() -> None:
    short = estimate_hosted_cost(CFG, "classify", "hi", ["a", "oos"])
    long = estimate_hosted_cost(CFG, "classify", "hi " * 200, ["a", "oos"])
    many = estimate_hosted_cost(CFG, "classify", "hi", [f"label_{i}" for i in range(150)])
    assert 0 < short < long and short < many
    assert estimate_embed_tokens("abcdefgh") == (2, 0)
    assert estimate_hosted_cost(CFG, "embed", "abcdefgh", []) == pytest.approx(2 / 1000 * 0.01)
