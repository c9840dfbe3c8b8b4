"""The OpenAI-compatible wire format, client side: request bodies and response parsing.

Pure functions (no I/O) shared by :mod:`router.hosted.client` and tested on
their own. Parsing failures raise :class:`WireError` with a message that says
what was wrong with the server's answer; the client wraps it in a
``TargetError`` naming the endpoint. Chat completions: :func:`chat_request`,
:func:`parse_chat_completion` and, for ``stream: true``, :func:`parse_chat_chunk` (one ``chat.completion.chunk``, the
data of a server-sent event decoded by :mod:`edgefleet.sse`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edgefleet.generation import ChatMessage, FinishReason, SamplingParams

STAND_IN_FINGERPRINT = "edgefleet-stand-in"
REPLAY_FINGERPRINT = "edgefleet-stand-in-replay"  # the stand-in replaying a recorded answer
"""``system_fingerprint`` of every answer from the offline stand-in server."""

STAND_IN_HEADER = "X-EdgeFleet-Stand-In"
"""Response header set by the offline stand-in server."""

OOS_LABEL = "oos"


class WireError(ValueError):
    """A hosted server's response does not have the expected shape or content."""


@dataclass(frozen=True)
class ParsedLabel:
    """The label and confidence a chat completion answered."""

    label: str
    confidence: float
    content: str


def system_prompt(labels: Sequence[str]) -> str:
    """Instructions telling the model to classify the user message into one of `labels`."""
    text = (
        "You are an intent classifier. Classify the user's message into exactly one of these "
        f"labels: {', '.join(labels)}."
    )
    if OOS_LABEL in labels:
        text += f' If the message fits none of the other labels, answer "{OOS_LABEL}" (out of scope).'
    text += (
        ' Reply only with JSON {"label": <one of the labels>, "confidence": <your probability, '
        "between 0 and 1, that the label is right>}."
    )
    return text


def intent_schema(labels: Sequence[str]) -> dict[str, Any]:
    """The strict JSON schema whose ``label`` is an enum of the candidate labels."""
    return {
        "type": "object",
        "properties": {
            "label": {"type": "string", "enum": list(labels)},
            "confidence": {"type": "number"},
        },
        "required": ["label", "confidence"],
        "additionalProperties": False,
    }


def classify_request(model: str, text: str, labels: Sequence[str]) -> dict[str, Any]:
    """Body of ``POST /chat/completions`` asking for a structured classification."""
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": system_prompt(labels)},
            {"role": "user", "content": text},
        ],
        "temperature": 0,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "intent", "strict": True, "schema": intent_schema(labels)},
        },
    }


def embeddings_request(model: str, texts: Sequence[str]) -> dict[str, Any]:
    """Body of ``POST /embeddings``."""
    return {"model": model, "input": list(texts), "encoding_format": "float"}


def _strip_code_fence(content: str) -> str:
    """Remove a Markdown code fence some servers wrap JSON in (```json ... ```)."""
    stripped = content.strip()
    if stripped.startswith("```") and stripped.endswith("```") and len(stripped) >= 6:
        inner = stripped[3:-3]
        first_newline = inner.find("\n")
        if first_newline >= 0 and inner[:first_newline].strip().isalpha():
            inner = inner[first_newline + 1 :]
        return inner.strip()
    return stripped


def parse_classification(body: Any, labels: Sequence[str]) -> ParsedLabel:
    """Label and confidence from a chat.completion body; WireError when malformed.

    The label must be one of `labels`; the confidence must be a finite number
    and is clamped to [0, 1].
    """
    if not isinstance(body, dict):
        raise WireError("response is not a JSON object")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise WireError("response has no choices")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise WireError("first choice has no message")
    refusal = message.get("refusal")
    if refusal:
        raise WireError(f"model refused: {str(refusal)[:200]}")
    content = message.get("content")
    if not isinstance(content, str) or not content.strip():
        raise WireError("message content is empty")
    try:
        answer = json.loads(_strip_code_fence(content))
    except json.JSONDecodeError as exc:
        raise WireError(f"message content is not valid JSON ({exc.msg}): {content[:120]!r}") from None
    if not isinstance(answer, dict):
        raise WireError(f"message content is not a JSON object: {content[:120]!r}")
    label = answer.get("label")
    if not isinstance(label, str):
        raise WireError(f"answer has no string 'label': {content[:120]!r}")
    if label not in labels:
        raise WireError(
            f"answered label {label[:80]!r}, which is not one of the {len(labels)} candidate labels"
        )
    confidence = answer.get("confidence")
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, int | float)
        or not math.isfinite(confidence)
    ):
        raise WireError(f"answer has no finite numeric 'confidence': {content[:120]!r}")
    return ParsedLabel(label=label, confidence=min(1.0, max(0.0, float(confidence))), content=content)


def parse_embeddings(body: Any, count: int) -> list[list[float]]:
    """The `count` embedding vectors of an embeddings body, in input order; WireError when malformed."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise WireError("response has no 'data' list")
    items = body["data"]
    if len(items) != count:
        raise WireError(f"expected {count} embeddings, got {len(items)}")
    vectors: list[list[float] | None] = [None] * count
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise WireError(f"data[{position}] is not an object")
        index = item.get("index", position)
        vector = item.get("embedding")
        if not isinstance(index, int) or not 0 <= index < count or vectors[index] is not None:
            raise WireError(f"data[{position}] has a bad or repeated index {index!r}")
        if not isinstance(vector, list) or not vector:
            raise WireError(f"data[{position}].embedding is not a list of numbers")
        try:
            floats = [float(v) for v in vector]
        except (TypeError, ValueError):
            raise WireError(f"data[{position}].embedding is not a list of numbers") from None
        if not all(math.isfinite(v) for v in floats):
            raise WireError(f"data[{position}].embedding holds NaN or infinity")
        vectors[index] = floats
    return [v for v in vectors if v is not None]


def usage_tokens(body: Any) -> tuple[int | None, int | None]:
    """(prompt_tokens, completion_tokens) from a body's ``usage``; None where absent."""
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return None, None

    def count(key: str) -> int | None:
        value = usage.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None

    return count("prompt_tokens"), count("completion_tokens")


def error_detail(body: Any) -> str:
    """The human message of an OpenAI-style error body (``{"error": {"message": ...}}``), or ''."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"][:300]
        if isinstance(error, str):
            return error[:300]
    return ""


# -- chat completions (generation) --------------------------------------------------------------

SSE_DONE = "[DONE]"
"""The data of the server-sent event that ends an OpenAI stream."""


@dataclass(frozen=True)
class ChatAnswer:
    """The generated text of a (non-streamed) chat.completion body."""

    text: str
    finish_reason: FinishReason
    logprobs: tuple[float, ...]


@dataclass(frozen=True)
class ChatChunk:
    """One ``chat.completion.chunk`` of a stream: new text (may be empty), its token
    log-probabilities, the finish reason (on the last choice chunk) and usage (on the usage
    chunk, whose ``choices`` is empty)."""

    text: str
    logprobs: tuple[float, ...] = ()
    finish_reason: FinishReason | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    model: str | None = None
    system_fingerprint: str | None = None


def chat_request(
    model: str, messages: Sequence[ChatMessage], params: SamplingParams, *, stream: bool
) -> dict[str, Any]:
    """Body of ``POST /chat/completions`` for generation; when streaming, asks for a final usage
    chunk (``stream_options.include_usage``)."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "max_tokens": params.max_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "stream": stream,
    }
    if params.stop:
        body["stop"] = list(params.stop)
    if params.seed is not None:
        body["seed"] = params.seed
    if params.logprobs:
        body["logprobs"] = True
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def finish_reason_of(raw: Any) -> FinishReason:
    """OpenAI's finish reason as ours: ``length`` stays, ``content_filter`` is an error, anything
    else (``stop``, tool calls, unknown values) is a normal stop."""
    if raw == "length":
        return "length"
    if raw == "content_filter":
        return "error"
    return "stop"


def _token_logprobs(choice: dict[str, Any], where: str) -> tuple[float, ...]:
    """Per-token log-probabilities of a choice (``logprobs.content[].logprob``), () when absent."""
    block = choice.get("logprobs")
    if block is None:
        return ()
    content = block.get("content") if isinstance(block, dict) else None
    if content is None:
        return ()
    if not isinstance(content, list):
        raise WireError(f"{where}.logprobs.content is not a list")
    values = []
    for item in content:
        value = item.get("logprob") if isinstance(item, dict) else None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise WireError(f"{where}.logprobs.content holds an entry without a finite logprob")
        values.append(min(0.0, float(value)))
    return tuple(values)


def _server_error(body: dict[str, Any]) -> None:
    if body.get("error"):
        raise WireError(f"server sent an error: {error_detail(body) or str(body['error'])[:300]}")


def parse_chat_completion(body: Any) -> ChatAnswer:
    """The answer of a chat.completion body (stream: false); WireError when malformed."""
    if not isinstance(body, dict):
        raise WireError("response is not a JSON object")
    _server_error(body)
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise WireError("response has no choices")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise WireError("first choice has no message")
    if message.get("refusal"):
        raise WireError(f"model refused: {str(message['refusal'])[:200]}")
    content = message.get("content")
    if not isinstance(content, str):
        raise WireError("message content is not a string")
    return ChatAnswer(
        content, finish_reason_of(choices[0].get("finish_reason")), _token_logprobs(choices[0], "choices[0]")
    )


def parse_chat_chunk(data: str) -> ChatChunk:
    """One ``chat.completion.chunk`` from the data of a server-sent event; WireError when it is
    not JSON, is an error object, or lacks ``choices``."""
    try:
        body = json.loads(data)
    except json.JSONDecodeError as exc:
        raise WireError(f"event is not valid JSON ({exc.msg}): {data[:120]!r}") from None
    if not isinstance(body, dict):
        raise WireError(f"event is not a JSON object: {data[:120]!r}")
    _server_error(body)
    choices = body.get("choices")
    if not isinstance(choices, list):
        raise WireError(f"chunk has no 'choices' list: {data[:120]!r}")
    prompt, completion = usage_tokens(body)
    model = body.get("model") if isinstance(body.get("model"), str) else None
    fingerprint = body.get("system_fingerprint")
    fingerprint = fingerprint if isinstance(fingerprint, str) else None
    if not choices:  # the usage chunk
        return ChatChunk("", (), None, prompt, completion, model, fingerprint)
    choice = choices[0]
    if not isinstance(choice, dict):
        raise WireError("chunk choices[0] is not an object")
    delta = choice.get("delta") or {}
    if not isinstance(delta, dict):
        raise WireError("chunk choices[0].delta is not an object")
    if delta.get("refusal"):
        raise WireError(f"model refused: {str(delta['refusal'])[:200]}")
    text = delta.get("content") or ""
    if not isinstance(text, str):
        raise WireError("chunk choices[0].delta.content is not a string")
    raw_finish = choice.get("finish_reason")
    finish = finish_reason_of(raw_finish) if raw_finish is not None else None
    logprobs = _token_logprobs(choice, "chunk choices[0]")
    return ChatChunk(text, logprobs, finish, prompt, completion, model, fingerprint)
