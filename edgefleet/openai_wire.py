"""The OpenAI-compatible wire format: request bodies and response parsing.

Pure functions (no I/O) shared by :mod:`router.hosted.client` and tested on
their own. Parsing failures raise :class:`WireError` with a message that says
what was wrong with the server's answer; the client wraps it in a
``TargetError`` naming the endpoint.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

STAND_IN_FINGERPRINT = "edgefleet-stand-in"
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
