"""Generation in the stand-in without sockets or a model (standin/chat.py): a scripted LLM and an
in-memory output. The real SmolLM2 over HTTP: tests/integration/test_standin_llm.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from edgefleet import openai_wire as wire
from edgefleet.generation import ChatMessage, SamplingParams
from edgefleet.sse import SseDecoder
from standin.chat import answer_chat, wants_generation
from standin.handlers import StandInIdentity, StandInRequestError
from standin.llm import LlmAnswer, LlmUnavailable, PromptTooLong, TextSink

IDENTITY = StandInIdentity(backing_model="generalist:1")


@dataclass
class ScriptedLLM:
    """Generator: hands out `pieces`, or fails after `fail_after` pieces."""

    pieces: list[str] = field(default_factory=lambda: ["The capital", " is", " Paris."])
    fail_after: int | None = None
    too_long: bool = False
    name: str = "tiny-llm.gguf"
    calls: list[tuple[tuple[ChatMessage, ...], SamplingParams]] = field(default_factory=list)

    def generate(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        on_text: TextSink | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> LlmAnswer:
        self.calls.append((tuple(messages), params))
        if self.too_long:
            raise PromptTooLong("the prompt has 9000 tokens")
        sent = []
        for i, piece in enumerate(self.pieces):
            if self.fail_after is not None and i == self.fail_after:
                raise RuntimeError("device lost")
            sent.append(piece)
            if on_text is not None and not on_text(piece):
                return LlmAnswer("".join(sent), "cancelled", 12, len(sent), 1.0, 2.0)
        return LlmAnswer("".join(sent), "length", 12, len(sent), 1.0, 2.0)


@dataclass
class Output:
    """ChatOutput in memory; `gone_after` events, the client disappears."""

    gone_after: int | None = None
    whole: tuple[int, dict[str, Any]] | None = None
    opened: bool = False
    closed: bool = False
    events: list[bytes] = field(default_factory=list)

    def json(self, status: int, payload: dict[str, Any]) -> None:
        self.whole = (status, payload)

    def open_stream(self) -> None:
        self.opened = True

    def event(self, data: bytes) -> bool:
        if self.gone_after is not None and len(self.events) >= self.gone_after:
            return False
        self.events.append(data)
        return True

    def close_stream(self) -> None:
        self.closed = True

    def data(self) -> list[str]:
        decoder = SseDecoder()
        lines = b"".join(self.events).decode().split("\n")
        return [e.data for line in lines if (e := decoder.feed(line)) is not None]


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "any", "messages": [{"role": "user", "content": "Capital of France?"}], **extra}


def test_only_free_text_requests_are_generation() -> None:
    assert wants_generation(body()) and wants_generation(body(response_format={"type": "text"}))
    assert not wants_generation(body(response_format={"type": "json_object"}))
    assert not wants_generation([])


def test_whole_answer_with_usage_and_stand_in_labels() -> None:
    llm, out = ScriptedLLM(), Output()
    answer_chat(body(max_tokens=5, temperature=0.5, seed=1, stop=["x"]), lambda: llm, IDENTITY, out)
    assert out.whole is not None
    status, payload = out.whole
    assert status == 200 and payload["object"] == "chat.completion"
    assert payload["choices"][0]["message"]["content"] == "The capital is Paris."
    assert payload["choices"][0]["finish_reason"] == "length"
    assert payload["usage"] == {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    assert (
        payload["system_fingerprint"] == wire.STAND_IN_FINGERPRINT
        and payload["model"] == "edgefleet-stand-in"
    )
    assert (
        payload["edgefleet"]["stand_in"] is True and payload["edgefleet"]["backing_model"] == "tiny-llm.gguf"
    )
    params = llm.calls[0][1]
    assert (params.max_tokens, params.temperature, params.seed, params.stop) == (5, 0.5, 1, ("x",))


def test_stream_with_usage_chunk_and_done() -> None:
    out = Output()
    answer_chat(body(stream=True, stream_options={"include_usage": True}), ScriptedLLM, IDENTITY, out)
    data = out.data()
    assert data[-1] == "[DONE]" and out.opened and out.closed
    chunks = [json.loads(d) for d in data[:-1]]
    assert all(c["system_fingerprint"] == wire.STAND_IN_FINGERPRINT for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "The capital"}
    assert "edgefleet" in chunks[0] and "edgefleet" in chunks[-1]
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3
    parsed = [wire.parse_chat_chunk(d) for d in data[:-1]]
    assert "".join(p.text for p in parsed) == "The capital is Paris."


def test_stream_without_usage_puts_the_stamp_on_the_finish_chunk() -> None:
    out = Output()
    answer_chat(body(stream=True), ScriptedLLM, IDENTITY, out)
    last = json.loads(out.data()[-2])
    assert last["choices"][0]["finish_reason"] == "length" and last["edgefleet"]["stand_in"] is True
    assert "usage" not in last


def test_a_client_that_goes_away_cancels_generation_without_done() -> None:
    llm, out = ScriptedLLM(pieces=["a"] * 10), Output(gone_after=2)
    answer_chat(body(stream=True), lambda: llm, IDENTITY, out)
    assert len(out.events) == 2 and out.closed and "[DONE]" not in out.data()


def test_failure_mid_stream_is_an_error_event_without_done() -> None:
    out = Output()
    answer_chat(body(stream=True), lambda: ScriptedLLM(fail_after=2), IDENTITY, out)
    data = out.data()
    assert data[-1] != "[DONE]" and "device lost" in json.loads(data[-1])["error"]["message"]
    with pytest.raises(wire.WireError, match="device lost"):
        wire.parse_chat_chunk(data[-1])


@pytest.mark.parametrize("stream", [False, True])
def test_errors_before_any_byte_are_http_errors(stream: bool) -> None:
    out = Output()
    with pytest.raises(StandInRequestError) as caught:
        answer_chat(body(stream=stream), lambda: ScriptedLLM(too_long=True), IDENTITY, out)
    assert caught.value.status == 400 and "9000 tokens" in str(caught.value) and not out.opened
    with pytest.raises(StandInRequestError) as caught:
        answer_chat(body(stream=stream, max_tokens=0), ScriptedLLM, IDENTITY, out)
    assert caught.value.status == 400 and caught.value.param == "max_tokens"

    def unavailable() -> ScriptedLLM:
        raise LlmUnavailable("no wheel")

    with pytest.raises(StandInRequestError) as caught:
        answer_chat(body(stream=stream), unavailable, IDENTITY, out)
    assert caught.value.status == 503 and caught.value.kind == "server_error"
    with pytest.raises(StandInRequestError, match="stopping"):
        answer_chat(body(stream=stream), ScriptedLLM, IDENTITY, out, wait=lambda: False)
