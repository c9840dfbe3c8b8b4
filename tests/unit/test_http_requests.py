"""OpenAI requests to router inputs (router/http/requests.py): route names, the edgefleet options,
request ids; whole bodies are tested through the app in test_http_openai_api.py."""

from __future__ import annotations

import pytest

from edgefleet.openai_serve import OpenAIError
from edgefleet.policy.loader import parse_policy
from router.http.requests import Options, chat_call, embed_call, options, request_id, resolve_route
from tests.unit.frontdoor_fakes import front_door_policy


def test_model_names_a_route_of_the_task_or_auto() -> None:
    policy = front_door_policy()
    assert resolve_route(policy, "chat-hosted", "generate") == "chat-hosted"
    assert resolve_route(policy, "edgefleet/auto", "generate") == "chat"
    assert resolve_route(policy, "edgefleet/auto", "embed") == "embed"
    with pytest.raises(OpenAIError) as caught:
        resolve_route(policy, "gpt-4o", "generate")
    assert caught.value.status == 404 and caught.value.code == "model_not_found"
    assert "chat, chat-hosted, edgefleet/auto" in str(caught.value)
    no_chat = parse_policy(
        "version: 1\nhosted: [{name: h, base_url: 'http://x/v1'}]\nroutes: [{name: r, task: classify, fallback: h}]"
    )
    with pytest.raises(OpenAIError, match="no route serves task 'generate'") as caught:
        resolve_route(no_chat, "edgefleet/auto", "generate")
    assert caught.value.status == 404


def test_options_are_checked() -> None:
    opts = options({"domain": " travel ", "max_latency_ms": 800, "max_cost_usd": 0, "min_confidence": 1})
    assert opts == Options(domain="travel", max_latency_ms=800.0, max_cost_usd=0.0, min_confidence=1.0)
    assert opts.timeout_s == 0.8 and options({"timeout_ms": 50, "max_latency_ms": 900}).timeout_s == 0.05
    assert options(None) == Options() and Options().timeout_s is None
    for bad in (
        {"min_confidence": 1.5},
        {"timeout_ms": 0},
        {"max_cost_usd": float("nan")},
        {"domain": ""},
        {"x": 1},
    ):
        with pytest.raises(OpenAIError):
            options(bad)


def test_request_ids() -> None:
    assert request_id({"x-request-id": "abc-1.2:3"}) == "abc-1.2:3"
    fresh = request_id({"x-request-id": "bad id with spaces"})
    assert len(fresh) == 16 and fresh != request_id({})


def test_calls_carry_constraints_and_always_buffer() -> None:
    policy = front_door_policy()
    body = {
        "model": "chat",
        "messages": [{"role": "user", "content": "hi"}],
        "edgefleet": {"max_time_to_first_token_ms": 300, "max_cost_usd": 0.01},
    }
    call = chat_call(body, policy, set(), "r1")
    assert call.request.allow_retraction is False and call.request.request_id == "r1"
    assert call.request.constraints.max_time_to_first_token_ms == 300 and call.timeout_s is None
    embed = embed_call(
        {"model": "embed", "input": "a", "edgefleet": {"timeout_ms": 100}}, policy, set(), "r2"
    )
    assert embed.request.texts == ("a",) and embed.request.route == "embed" and embed.timeout_s == 0.1
    with pytest.raises(OpenAIError, match="max_batch"):
        embed_call({"model": "embed", "input": ["a"] * 65}, policy, set(), "r3")
