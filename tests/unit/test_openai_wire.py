"""The client side of OpenAI chat completions for generation (edgefleet/openai_wire.py);
the classification and embedding helpers are tested with the client in test_hosted_client.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from edgefleet import openai_wire as wire
from edgefleet.generation import ChatMessage, SamplingParams

MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "Capital of France?")]


def test_chat_request_passes_sampling_through_and_asks_for_usage_when_streaming() -> None:
    params = SamplingParams(max_tokens=17, temperature=0.5, top_p=0.9, stop=("\n\n",), seed=42)
    body = wire.chat_request("gpt-x", MESSAGES, params, stream=True)
    assert body == {
        "model": "gpt-x",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Capital of France?"},
        ],
        "max_tokens": 17,
        "temperature": 0.5,
        "top_p": 0.9,
        "stop": ["\n\n"],
        "seed": 42,
        "logprobs": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    plain = wire.chat_request("gpt-x", MESSAGES, SamplingParams(logprobs=False), stream=False)
    assert plain["stream"] is False
    assert not {"stream_options", "stop", "seed", "logprobs"} & set(plain)


def chunk(delta: dict[str, Any] | None = None, **extra: Any) -> str:
    body: dict[str, Any] = {"object": "chat.completion.chunk", "model": "m", "choices": []}
    if delta is not None:
        body["choices"] = [{"index": 0, "delta": delta, "finish_reason": extra.pop("finish_reason", None)}]
    body.update(extra)
    return json.dumps(body)


def test_parse_chat_chunk_text_finish_usage_and_logprobs() -> None:
    lp = {"content": [{"token": "Par", "logprob": -0.1}, {"token": "is", "logprob": -0.2}]}
    text = json.loads(chunk({"content": "Paris"}))
    text["choices"][0]["logprobs"] = lp
    parsed = wire.parse_chat_chunk(json.dumps(text))
    assert (parsed.text, parsed.logprobs, parsed.finish_reason) == ("Paris", (-0.1, -0.2), None)
    assert wire.parse_chat_chunk(chunk({}, finish_reason="length")).finish_reason == "length"
    assert wire.parse_chat_chunk(chunk({"role": "assistant", "content": None})).text == ""
    usage = wire.parse_chat_chunk(
        chunk(usage={"prompt_tokens": 9, "completion_tokens": 3}, system_fingerprint="edgefleet-stand-in")
    )
    assert (usage.text, usage.prompt_tokens, usage.completion_tokens) == ("", 9, 3)
    assert usage.system_fingerprint == wire.STAND_IN_FINGERPRINT


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1]", "not a JSON object"),
        ('{"object": "chat.completion.chunk"}', "no 'choices'"),
        ('{"error": {"message": "overloaded"}}', "server sent an error: overloaded"),
        (chunk({"content": 5}), "content is not a string"),
        (chunk({"refusal": "no way"}), "refused"),
        (
            '{"choices": [{"delta": {"content": "x"}, "logprobs": {"content": [{"logprob": "a"}]}}]}',
            "logprob",
        ),
    ],
)
def test_bad_chunks_are_wire_errors(data: str, message: str) -> None:
    with pytest.raises(wire.WireError, match=message):
        wire.parse_chat_chunk(data)


def test_parse_chat_completion_and_finish_reasons() -> None:
    body = {"choices": [{"message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}]}
    answer = wire.parse_chat_completion(body)
    assert (answer.text, answer.finish_reason, answer.logprobs) == ("Paris.", "stop", ())
    assert wire.finish_reason_of("content_filter") == "error"
    assert wire.finish_reason_of("tool_calls") == "stop"
    with pytest.raises(wire.WireError, match="not a string"):
        wire.parse_chat_completion({"choices": [{"message": {"content": None}}]})
    with pytest.raises(wire.WireError, match="no choices"):
        wire.parse_chat_completion({"choices": []})
