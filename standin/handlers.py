"""Request handling of the offline hosted-model STAND-IN, without any socket.

Each function takes a decoded JSON request body and returns the JSON answer
an OpenAI-compatible server would give, or raises :class:`StandInRequestError`
(status + OpenAI-style error object). :mod:`standin.server` wraps these
in an HTTP server. Every answer is labelled as coming from the STAND-IN
(``system_fingerprint`` and an ``edgefleet`` block), never from a real
hosted model.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edgefleet.openai_wire import STAND_IN_FINGERPRINT
from edgefleet.tokens import estimate_chat_tokens, estimate_tokens

STAND_IN_MODEL_ID = "edgefleet-stand-in"
STAND_IN_NOTE = "EdgeFleet STAND-IN for a hosted model: answers come from a local OpenVINO model"


class LabelModel(Protocol):
    """What the stand-in needs from its model (fleet.serving.runtime.TextModel fits)."""

    labels: list[str]

    def classify(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities [N, len(labels)]."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings [N, D]."""
        ...


class StandInRequestError(Exception):
    """A request the stand-in refuses; becomes an OpenAI-style error response."""

    def __init__(
        self, status: int, message: str, *, param: str | None = None, kind: str = "invalid_request_error"
    ) -> None:
        super().__init__(message)
        self.status = status
        self.param = param
        self.kind = kind

    def body(self) -> dict[str, Any]:
        """The OpenAI-style error object."""
        return {
            "error": {
                "message": f"{self} [{STAND_IN_MODEL_ID}]",
                "type": self.kind,
                "param": self.param,
                "code": None,
            }
        }


@dataclass(frozen=True)
class StandInIdentity:
    """How the stand-in names itself and its backing model in answers."""

    model_id: str = STAND_IN_MODEL_ID
    backing_model: str = "unknown"

    def stamp(self) -> dict[str, Any]:
        """The block added to every answer saying it comes from the stand-in."""
        return {"stand_in": True, "backing_model": self.backing_model, "note": STAND_IN_NOTE}


def _content_text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": "..."}, ...]
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        if all(isinstance(p, str) for p in parts) and parts:
            return "\n".join(str(p) for p in parts)
    raise StandInRequestError(
        400, f"{where}.content must be a string or a list of text parts", param=f"{where}.content"
    )


def _messages(body: dict[str, Any]) -> tuple[list[str], str]:
    """All message texts, and the text of the last user message."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise StandInRequestError(400, "'messages' must be a non-empty list", param="messages")
    texts: list[str] = []
    last_user: str | None = None
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise StandInRequestError(
                400, f"messages[{i}] must be an object with a 'role'", param=f"messages[{i}]"
            )
        text = _content_text(message.get("content"), f"messages[{i}]")
        texts.append(text)
        if message["role"] == "user":
            last_user = text
    if last_user is None or not last_user.strip():
        raise StandInRequestError(400, "no non-empty user message to classify", param="messages")
    return texts, last_user


def _candidate_labels(response_format: Any, model_labels: list[str]) -> tuple[list[str], bool]:
    """(candidate labels, answer as JSON?) from the request's response_format."""
    if response_format is None:
        return model_labels, False
    if not isinstance(response_format, dict) or not isinstance(response_format.get("type"), str):
        raise StandInRequestError(
            400, "'response_format' must be an object with a 'type'", param="response_format"
        )
    kind = response_format["type"]
    if kind == "text":
        return model_labels, False
    if kind == "json_object":
        return model_labels, True
    if kind != "json_schema":
        raise StandInRequestError(
            400, f"unsupported response_format type {kind!r}", param="response_format.type"
        )
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    properties = schema.get("properties") if isinstance(schema, dict) else None
    label = properties.get("label") if isinstance(properties, dict) else None
    enum = label.get("enum") if isinstance(label, dict) else None
    if not isinstance(enum, list) or not enum or not all(isinstance(x, str) for x in enum):
        raise StandInRequestError(
            400,
            "the stand-in needs response_format.json_schema.schema.properties.label.enum: "
            "a non-empty list of candidate labels",
            param="response_format.json_schema",
        )
    return list(dict.fromkeys(enum)), True


def oos_threshold_of(model: object) -> float | None:
    """The out-of-scope threshold the model was calibrated with (manifest metric), if any."""
    metrics = getattr(getattr(model, "manifest", None), "metrics", None) or {}
    value = metrics.get("oos_threshold")
    return float(value) if value is not None else None


def pick_label(
    probs: np.ndarray, model_labels: list[str], candidates: list[str], oos_threshold: float | None = None
) -> tuple[str, float]:
    """Best candidate label and its probability renormalised over the candidates.

    Candidates the model does not know get probability 0; if none is known, 400. When "oos" is a
    candidate and the model's own top probability is under `oos_threshold` (calibrated on
    validation data at build time), the answer is "oos": the model is unsure it is in scope.
    """
    if (
        oos_threshold is not None
        and "oos" in candidates
        and len(probs)
        and float(np.max(probs)) < oos_threshold
    ):
        return "oos", float(1.0 - np.max(probs))
    index = {label: i for i, label in enumerate(model_labels)}
    known = [c for c in candidates if c in index]
    if not known:
        raise StandInRequestError(
            400,
            f"none of the {len(candidates)} candidate labels is known to the stand-in model",
            param="response_format",
        )
    restricted = np.array([max(0.0, float(probs[index[c]])) for c in known], dtype=np.float64)
    total = float(restricted.sum())
    if total <= 0.0 or not np.isfinite(total):
        restricted = np.full(len(known), 1.0 / len(known))
    else:
        restricted /= total
    best = int(restricted.argmax())
    return known[best], float(restricted[best])


def chat_completion(body: Any, model: LabelModel, identity: StandInIdentity) -> dict[str, Any]:
    """Answer ``POST /v1/chat/completions`` by classifying the last user message."""
    if not isinstance(body, dict):
        raise StandInRequestError(400, "request body must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise StandInRequestError(400, "'model' must be a non-empty string", param="model")
    texts, text = _messages(body)
    candidates, as_json = _candidate_labels(body.get("response_format"), list(model.labels))
    try:
        probs = model.classify([text])[0]
    except ValueError as exc:
        raise StandInRequestError(400, f"cannot classify the user message: {exc}", param="messages") from None
    label, confidence = pick_label(probs, list(model.labels), candidates, oos_threshold_of(model))
    if as_json:
        content = json.dumps({"label": label, "confidence": round(confidence, 6)})
    else:
        content = (
            f"{label} (confidence {confidence:.3f}; answered by the EdgeFleet STAND-IN, "
            f"local model {identity.backing_model})"
        )
    prompt_tokens = estimate_chat_tokens(texts)
    completion_tokens = estimate_tokens(content)
    return {
        "id": f"chatcmpl-standin-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": identity.model_id,
        "system_fingerprint": STAND_IN_FINGERPRINT,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "edgefleet": identity.stamp(),
    }


def embeddings(body: Any, model: LabelModel, identity: StandInIdentity) -> dict[str, Any]:
    """Answer ``POST /v1/embeddings`` with the model's EMBEDDING output."""
    if not isinstance(body, dict):
        raise StandInRequestError(400, "request body must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise StandInRequestError(400, "'model' must be a non-empty string", param="model")
    raw = body.get("input")
    inputs = [raw] if isinstance(raw, str) else raw
    if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) for t in inputs):
        raise StandInRequestError(
            400, "'input' must be a string or a non-empty list of strings", param="input"
        )
    if body.get("encoding_format", "float") != "float":
        raise StandInRequestError(
            400, "the stand-in only supports encoding_format 'float'", param="encoding_format"
        )
    try:
        vectors = model.embed(inputs)
    except ValueError as exc:
        raise StandInRequestError(400, f"cannot embed the input: {exc}", param="input") from None
    prompt_tokens = sum(estimate_tokens(t) for t in inputs)
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": [float(v) for v in row]}
            for i, row in enumerate(np.asarray(vectors, dtype=np.float32))
        ],
        "model": identity.model_id,
        "system_fingerprint": STAND_IN_FINGERPRINT,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        "edgefleet": identity.stamp(),
    }


def models_list(identity: StandInIdentity, created_unix: float) -> dict[str, Any]:
    """Answer ``GET /v1/models``: one model, plainly labelled a stand-in."""
    return {
        "object": "list",
        "data": [
            {
                "id": identity.model_id,
                "object": "model",
                "created": int(created_unix),
                "owned_by": "edgefleet-stand-in",
                "description": f"{STAND_IN_NOTE} ({identity.backing_model}); not a real hosted model",
                "edgefleet": identity.stamp(),
            }
        ],
        "system_fingerprint": STAND_IN_FINGERPRINT,
    }
