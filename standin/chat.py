"""Generation in the offline stand-in: ``POST /v1/chat/completions`` without a structured
``response_format`` is answered by the local LLM (:mod:`standin.llm`), whole or streamed as
server-sent events (``stream: true``), with usage, and labelled a stand-in in every answer
(``system_fingerprint`` on every chunk, the ``edgefleet`` block on the first and the last chunk;
the server adds the header). With recorded answers (:mod:`standin.replay`), a known SQuAD question
is answered with its recorded answer instead, labelled a replay.

No socket here: :func:`answer_chat` writes through a :class:`ChatOutput` (the HTTP handler, or a
list in tests). Errors before any byte is sent raise :class:`standin.handlers.StandInRequestError`
(an HTTP error status); a failure after the stream has started is sent as an ``error`` event and
the stream ends without ``[DONE]``, so clients can tell it from a complete answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from edgefleet.generation import ChatMessage, SamplingParams
from edgefleet.openai_serve import Completion, OpenAIError, completion_id, parse_chat_request
from edgefleet.openai_wire import REPLAY_FINGERPRINT, SSE_DONE, STAND_IN_FINGERPRINT
from edgefleet.sse import encode_data, encode_json
from edgefleet.tokens import estimate_chat_tokens, estimate_tokens
from standin.handlers import StandInIdentity, StandInRequestError
from standin.llm import LlmAnswer, LlmUnavailable, PromptTooLong, TextSink
from standin.replay import RecordedAnswers, Replay

MAX_PROMPT_CHARS = 32_000
"""Longest conversation (characters) the stand-in accepts; the LLM's context is checked too."""


class Generator(Protocol):
    """What the stand-in needs from its LLM (standin.llm.LocalLLM fits)."""

    name: str

    def generate(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        on_text: TextSink | None = None,
        cancelled: Callable[[], bool] = ...,
    ) -> LlmAnswer:
        """Generate, handing each new piece of text to `on_text`; PromptTooLong when too long."""
        ...


class ChatOutput(Protocol):
    """Where an answer goes (the HTTP handler)."""

    def json(self, status: int, payload: dict[str, Any]) -> None:
        """Send one whole JSON answer."""
        ...

    def open_stream(self) -> None:
        """Send the headers of an event stream."""
        ...

    def event(self, data: bytes) -> bool:
        """Send one encoded event; False when the client has gone."""
        ...

    def close_stream(self) -> None:
        """End the event stream."""
        ...


def wants_generation(body: Any) -> bool:
    """True when a chat completions body asks for free text (no ``response_format``, or type
    ``text``): the LLM answers it. Structured output is the classifier's (standin.handlers)."""
    if not isinstance(body, dict):
        return False
    response_format = body.get("response_format")
    return response_format is None or (
        isinstance(response_format, dict) and response_format.get("type") == "text"
    )


def answer_chat(
    body: Any,
    llm: Callable[[], Generator],
    identity: StandInIdentity,
    out: ChatOutput,
    *,
    wait: Callable[[], bool] = lambda: True,
    cancelled: Callable[[], bool] = lambda: False,
    replay: RecordedAnswers | None = None,
) -> None:
    """Answer one generation request. `llm` returns the (lazily loaded) LLM; `wait` applies the
    configured added latency before the first byte and returns False when the server is stopping;
    `replay`: recorded answers given instead of generating for the questions they know."""
    try:
        req = parse_chat_request(body, max_chars=MAX_PROMPT_CHARS)
    except OpenAIError as exc:
        raise StandInRequestError(exc.status, str(exc), param=exc.param, kind=exc.kind) from None
    recorded = replay.find(req.messages) if replay is not None else None
    if recorded is not None:
        _replay(req.messages, req.stream, req.include_usage, recorded, identity, out, wait)
        return
    try:
        model = llm()
    except LlmUnavailable as exc:
        raise StandInRequestError(503, str(exc), kind="server_error") from None
    stamp = StandInIdentity(identity.model_id, model.name).stamp()
    completion = Completion(completion_id(), identity.model_id, system_fingerprint=STAND_IN_FINGERPRINT)
    if not wait():
        raise StandInRequestError(503, "the stand-in is stopping", kind="server_error")
    if not req.stream:
        try:
            answer = model.generate(req.messages, req.params, cancelled=cancelled)
        except PromptTooLong as exc:
            raise StandInRequestError(400, str(exc), param="messages") from None
        finish = "stop" if answer.finish_reason == "cancelled" else answer.finish_reason
        out.json(
            200, completion.body(answer.text, finish, answer.prompt_tokens, answer.completion_tokens, stamp)
        )
        return
    _stream(req.messages, req.params, req.include_usage, model, completion, stamp, out, cancelled)


def _replay(
    messages: Sequence[ChatMessage],
    stream: bool,
    include_usage: bool,
    recorded: Replay,
    identity: StandInIdentity,
    out: ChatOutput,
    wait: Callable[[], bool],
) -> None:
    """Answer with a recorded answer, labelled a replay (fingerprint, header, ``edgefleet`` block)."""
    stamp = {
        **StandInIdentity(identity.model_id, f"replay:{recorded.source}").stamp(),
        "replay": recorded.stamp(),
    }
    completion = Completion(completion_id(), identity.model_id, system_fingerprint=REPLAY_FINGERPRINT)
    mark = getattr(out, "mark_replay", None)
    if mark is not None:
        mark(recorded.source)
    if not wait():
        raise StandInRequestError(503, "the stand-in is stopping", kind="server_error")
    prompt_tokens = estimate_chat_tokens(m.content for m in messages)
    completion_tokens = estimate_tokens(recorded.answer)
    if not stream:
        out.json(200, completion.body(recorded.answer, "stop", prompt_tokens, completion_tokens, stamp))
        return
    out.open_stream()
    out.event(encode_json(completion.chunk(recorded.answer, first=True, extension=stamp)))
    if include_usage:
        out.event(encode_json(completion.chunk(finish_reason="stop")))
        out.event(encode_json(completion.usage_chunk(prompt_tokens, completion_tokens, stamp)))
    else:
        out.event(encode_json(completion.chunk(finish_reason="stop", extension=stamp)))
    out.event(encode_data(SSE_DONE))
    out.close_stream()


def _stream(
    messages: Sequence[ChatMessage],
    params: SamplingParams,
    include_usage: bool,
    model: Generator,
    completion: Completion,
    stamp: dict[str, Any],
    out: ChatOutput,
    cancelled: Callable[[], bool],
) -> None:
    """Stream the answer; the headers go out with the first piece of text, so a request refused
    before generation (prompt too long) still gets an HTTP error status."""
    state = {"open": False, "alive": True}

    def send(payload: dict[str, Any]) -> bool:
        if not state["open"]:
            out.open_stream()
            state["open"] = True
        state["alive"] = state["alive"] and out.event(encode_json(payload))
        return state["alive"]

    def on_text(text: str) -> bool:
        first = not state["open"]
        return send(completion.chunk(text, first=first, extension=stamp if first else None))

    try:
        answer = model.generate(messages, params, on_text, cancelled)
    except PromptTooLong as exc:
        if not state["open"]:
            raise StandInRequestError(400, str(exc), param="messages") from None
        raise
    except Exception as exc:
        if not state["open"]:
            raise
        error = OpenAIError(500, f"stand-in generation failed: {exc}", kind="server_error")
        out.event(encode_json(error.body(f" [{completion.model}]")))
        out.close_stream()
        return
    if not state["alive"] or answer.finish_reason == "cancelled":
        if state["open"]:
            out.close_stream()
        return
    if not state["open"]:  # an empty answer
        send(completion.chunk("", first=True, extension=stamp))
    if include_usage:
        send(completion.chunk(finish_reason=answer.finish_reason))
        send(completion.usage_chunk(answer.prompt_tokens, answer.completion_tokens, stamp))
    else:
        send(completion.chunk(finish_reason=answer.finish_reason, extension=stamp))
    out.event(encode_data(SSE_DONE))
    out.close_stream()
