"""The OpenAI-compatible wire format, server side: chat requests parsed into kernel types
(:class:`ChatRequest`), answers built as ``chat.completion`` bodies or ``chat.completion.chunk``
events, and errors in OpenAI's shape (``{"error": {"message", "type", "param", "code"}}``).

Shared by the offline stand-in (:mod:`standin`) and the router's front door (:mod:`router.http`),
so both accept and answer exactly the same requests. Pure code, no I/O.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgefleet.generation import (
    MAX_NEW_TOKENS_LIMIT,
    ChatMessage,
    GenerationInputError,
    Role,
    SamplingParams,
    check_messages,
    check_sampling,
)

DEFAULT_MAX_TOKENS = 256
"""max_tokens when a request sets none."""

_ROLE_ALIASES: dict[str, Role] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
}
_SAMPLING_FIELDS = ("max_tokens", "temperature", "top_p", "stop", "seed")


class OpenAIError(Exception):
    """A request refused in OpenAI's error format, with its HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.param = param
        self.code = code

    def body(self, suffix: str = "") -> dict[str, Any]:
        """The error object (``suffix`` is appended to the message, e.g. a server tag)."""
        return {
            "error": {"message": f"{self}{suffix}", "type": self.kind, "param": self.param, "code": self.code}
        }


@dataclass(frozen=True)
class ChatRequest:
    """A validated ``POST /v1/chat/completions`` request for generation."""

    model: str
    messages: tuple[ChatMessage, ...]
    params: SamplingParams
    stream: bool = False
    include_usage: bool = False
    extension: Mapping[str, Any] = field(default_factory=dict)  # the request's `edgefleet` object


def bad(message: str, param: str | None = None, code: str | None = None) -> OpenAIError:
    """A 400 invalid_request_error."""
    return OpenAIError(400, message, param=param, code=code)


def _content(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value:  # [{"type": "text", "text": "..."}, ...]
        parts = [p.get("text") if isinstance(p, dict) and p.get("type") == "text" else None for p in value]
        if all(isinstance(p, str) for p in parts):
            return "\n".join(str(p) for p in parts)
    raise bad(f"{where}.content must be a string or a list of text parts", f"{where}.content")


def _messages(raw: Any) -> list[ChatMessage]:
    if not isinstance(raw, list) or not raw:
        raise bad("'messages' must be a non-empty list", "messages")
    out = []
    for i, message in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise bad(f"{where} must be an object with a string 'role'", where)
        role = _ROLE_ALIASES.get(message["role"])
        if role is None:
            raise bad(
                f"{where}.role {message['role']!r} is not supported; use system, developer, user or assistant",
                f"{where}.role",
            )
        out.append(ChatMessage(role, _content(message.get("content"), where)))
    return out


def _number(body: Mapping[str, Any], key: str, default: float) -> float:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad(f"'{key}' must be a finite number", key)
    return float(value)


def _integer(body: Mapping[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"'{key}' must be an integer", key)
    return value


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return tuple(value)
    raise bad("'stop' must be a string or a list of strings", "stop")


def _unsupported(body: Mapping[str, Any]) -> None:
    n = body.get("n")
    if n is not None and n != 1:
        raise bad("only n=1 is supported", "n")
    for key in ("tools", "functions", "tool_choice", "function_call", "audio", "prediction"):
        if body.get(key):
            raise bad(f"'{key}' is not supported", key)
    response_format = body.get("response_format")
    if response_format is not None and (
        not isinstance(response_format, dict) or response_format.get("type") != "text"
    ):
        raise bad("only response_format {'type': 'text'} is supported for generation", "response_format")


def parse_chat_request(
    body: Any,
    *,
    max_chars: int,
    max_tokens_limit: int = MAX_NEW_TOKENS_LIMIT,
    default_temperature: float = 0.0,
) -> ChatRequest:
    """Validate a chat completions request body (a decoded JSON value) for generation.

    Accepts what the OpenAI SDK sends: string or text-part content, the ``developer`` role (read
    as ``system``), ``max_completion_tokens`` (preferred over ``max_tokens``), ``stop`` as a string
    or list, ``stream_options.include_usage``, and an ``edgefleet`` extension object. Unlike
    OpenAI (1.0), an absent ``temperature`` means `default_temperature` (greedy decoding by
    default: small models answer better and reproducibly). Raises OpenAIError (400) naming the
    bad field.
    """
    if not isinstance(body, dict):
        raise bad("request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad("'model' must be a non-empty string", "model")
    messages = _messages(body.get("messages"))
    _unsupported(body)
    max_tokens = _integer(body, "max_completion_tokens")
    max_tokens = max_tokens if max_tokens is not None else _integer(body, "max_tokens")
    seed = _integer(body, "seed")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad("'stream' must be a boolean", "stream")
    options = body.get("stream_options")
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise bad("'stream_options' must be an object", "stream_options")
    extension = body.get("edgefleet")
    extension = {} if extension is None else extension
    if not isinstance(extension, dict):
        raise bad("'edgefleet' must be an object", "edgefleet")
    params = SamplingParams(
        max_tokens=DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens,
        temperature=_number(body, "temperature", default_temperature),
        top_p=_number(body, "top_p", 1.0),
        stop=_stop(body.get("stop")),
        seed=seed,
    )
    try:
        checked = check_messages(messages, max_chars)
    except GenerationInputError as exc:
        raise bad(str(exc), "messages") from None
    try:
        check_sampling(params, max_tokens_limit)
    except GenerationInputError as exc:
        param = next((name for name in _SAMPLING_FIELDS if name in str(exc)), None)
        raise bad(str(exc), param) from None
    return ChatRequest(
        model=model,
        messages=tuple(checked),
        params=params,
        stream=stream,
        include_usage=bool(options.get("include_usage", False)),
        extension=extension,
    )


def completion_id() -> str:
    """A fresh ``chatcmpl-...`` id."""
    return f"chatcmpl-{secrets.token_hex(12)}"


@dataclass(frozen=True)
class Completion:
    """What identifies one answer on the wire: its id, model name, creation time and extras."""

    id: str
    model: str
    created: int = field(default_factory=lambda: int(time.time()))
    system_fingerprint: str | None = None

    def _head(self, kind: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": self.system_fingerprint,
        }

    def body(
        self,
        text: str,
        finish_reason: str,
        prompt_tokens: int,
        completion_tokens: int,
        extension: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The whole ``chat.completion`` body (stream: false)."""
        body = self._head("chat.completion")
        body["choices"] = [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ]
        body["usage"] = usage(prompt_tokens, completion_tokens)
        if extension is not None:
            body["edgefleet"] = dict(extension)
        return body

    def chunk(
        self,
        text: str | None = None,
        *,
        first: bool = False,
        finish_reason: str | None = None,
        extension: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One ``chat.completion.chunk`` with a choice: the first carries the role, the last the
        finish reason (and, without a usage chunk after it, the extension)."""
        delta: dict[str, Any] = {"role": "assistant"} if first else {}
        if text is not None:
            delta["content"] = text
        body = self._head("chat.completion.chunk")
        body["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
        if extension is not None:
            body["edgefleet"] = dict(extension)
        return body

    def usage_chunk(
        self, prompt_tokens: int, completion_tokens: int, extension: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The last chunk when the client asked for usage: no choices, the token counts."""
        body = self._head("chat.completion.chunk")
        body["choices"] = []
        body["usage"] = usage(prompt_tokens, completion_tokens)
        if extension is not None:
            body["edgefleet"] = dict(extension)
        return body


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    """An OpenAI ``usage`` object."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
