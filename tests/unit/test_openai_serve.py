"""The server side of OpenAI chat completions: request validation and answer shapes
(edgefleet/openai_serve.py), shared by the stand-in and the router's front door."""

from __future__ import annotations

from typing import Any

import pytest

from edgefleet.generation import ChatMessage
from edgefleet.openai_serve import Completion, OpenAIError, parse_chat_request


def body(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"model": "edgefleet/auto", "messages": [{"role": "user", "content": "hi"}]}
    values.update(overrides)
    return values


def test_defaults_and_sdk_shapes() -> None:
    req = parse_chat_request(
        body(
            messages=[
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            ],
            stream=True,
            stream_options={"include_usage": True},
            stop="END",
            max_completion_tokens=9,
            max_tokens=100,
            seed=3,
            edgefleet={"max_latency_ms": 500},
        ),
        max_chars=100,
    )
    assert req.messages == (ChatMessage("system", "Be brief."), ChatMessage("user", "a\nb"))
    assert (req.params.max_tokens, req.params.stop, req.params.seed) == (9, ("END",), 3)
    assert req.params.temperature == 0.0 and req.params.greedy
    assert req.stream and req.include_usage and req.extension == {"max_latency_ms": 500}
    plain = parse_chat_request(body(temperature=0.7, top_p=0.5), max_chars=100)
    assert (plain.params.max_tokens, plain.params.temperature, plain.params.top_p) == (256, 0.7, 0.5)
    assert not plain.stream and not plain.include_usage


@pytest.mark.parametrize(
    ("overrides", "param", "message"),
    [
        ({"messages": []}, "messages", "non-empty list"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role", "'wizard' is not supported"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role", "not supported"),
        ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content", "string or a list"),
        ({"messages": [{"role": "user", "content": "   "}]}, "messages", "empty"),
        ({"messages": [{"role": "assistant", "content": "x"}]}, "messages", "last message"),
        ({"messages": [{"role": "user", "content": "x" * 101}]}, "messages", "limit is 100"),
        ({"model": ""}, "model", "'model'"),
        ({"max_tokens": 0}, "max_tokens", "between 1 and 4096"),
        ({"max_tokens": 10**9}, "max_tokens", "between 1 and 4096"),
        ({"max_tokens": "5"}, "max_tokens", "integer"),
        ({"temperature": 3}, "temperature", "between 0 and 2"),
        ({"temperature": True}, "temperature", "finite number"),
        ({"top_p": 0}, "top_p", "(0, 1]"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "at most 4"),
        ({"stop": [1]}, "stop", "list of strings"),
        ({"seed": -1}, "seed", "non-negative"),
        ({"n": 2}, "n", "n=1"),
        ({"tools": [{"type": "function"}]}, "tools", "not supported"),
        ({"response_format": {"type": "json_object"}}, "response_format", "text"),
        ({"stream": "yes"}, "stream", "boolean"),
        ({"edgefleet": []}, "edgefleet", "object"),
    ],
)
def test_bad_requests_are_400_naming_the_field(overrides: dict[str, Any], param: str, message: str) -> None:
    with pytest.raises(OpenAIError) as caught:
        parse_chat_request(body(**overrides), max_chars=100)
    assert caught.value.status == 400 and caught.value.param == param
    assert message in str(caught.value)
    error = caught.value.body(" [x]")["error"]
    assert error["type"] == "invalid_request_error" and error["message"].endswith(" [x]")
    assert set(error) == {"message", "type", "param", "code"}


def test_not_an_object() -> None:
    with pytest.raises(OpenAIError, match="JSON object"):
        parse_chat_request([1], max_chars=10)


def test_completion_shapes() -> None:
    c = Completion("chatcmpl-1", "m", created=5, system_fingerprint="fp")
    whole = c.body("Paris.", "stop", 10, 2, {"route": "chat"})
    assert whole["object"] == "chat.completion" and whole["choices"][0]["message"]["content"] == "Paris."
    assert whole["usage"] == {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
    assert whole["edgefleet"] == {"route": "chat"} and whole["system_fingerprint"] == "fp"
    first = c.chunk("Pa", first=True)
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "Pa"} and "edgefleet" not in first
    last = c.chunk(finish_reason="length", extension={"x": 1})
    assert last["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "length"}
    assert last["edgefleet"] == {"x": 1}
    usage = c.usage_chunk(3, 4)
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] == 7
