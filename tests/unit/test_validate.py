"""Request validation messages."""

from __future__ import annotations

import math

import pytest

from router.errors import InvalidRequest
from router.validate import RawRequest, known_domains, validate_request
from tests.unit.router_fakes import make_policy

POLICY = make_policy()
DOMAINS = known_domains(POLICY, {"travel"})


def _check(**kwargs: object) -> None:
    validate_request(RawRequest(**kwargs), POLICY, DOMAINS)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "classify"}, "no input"),
        ({"task": "classify", "text": "   "}, "text is empty or blank"),
        ({"task": "classify", "texts": ["ok", " "]}, r"texts\[1\] is empty or blank"),
        ({"task": "classify", "text": "x" * 101}, "101 characters, more than router.max_text_chars=100"),
        ({"task": "classify", "text": "a", "texts": ["b"]}, "not both"),
        ({"task": "classify", "texts": ["a"] * 5}, "batch of 5 texts exceeds router.max_batch=4"),
        ({"task": "generate", "text": "a"}, "task 'generate' is not supported yet"),
        ({"task": "summarise", "text": "a"}, "unknown task 'summarise'"),
        ({"task": "", "text": "a"}, "task is empty"),
        (
            {"task": "classify", "text": "a", "domain": "cooking"},
            "unknown domain 'cooking'; known: banking, travel",
        ),
        (
            {"task": "classify", "text": "a", "route": "nope"},
            "unknown route 'nope'; known: embeddings, intents",
        ),
        ({"task": "classify", "text": "a", "route": "embeddings"}, "serves task 'embed', not 'classify'"),
        ({"task": "classify", "text": "a", "max_latency_ms": -1.0}, "max_latency_ms must be > 0"),
        ({"task": "classify", "text": "a", "max_latency_ms": 0.0}, "max_latency_ms must be > 0"),
        (
            {"task": "classify", "text": "a", "max_latency_ms": math.inf},
            "max_latency_ms must be a finite number",
        ),
        ({"task": "classify", "text": "a", "max_cost_usd": math.nan}, "max_cost_usd must be a finite number"),
        ({"task": "classify", "text": "a", "max_cost_usd": -0.5}, "max_cost_usd must be >= 0"),
        ({"task": "classify", "text": "a", "min_confidence": 1.5}, r"min_confidence must be within \[0, 1\]"),
        ({"task": "classify", "text": "a", "min_confidence": math.nan}, "min_confidence must be within"),
    ],
)
def test_invalid_requests_say_what_is_wrong(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        _check(**kwargs)


def test_valid_request_is_normalised() -> None:
    req = validate_request(
        RawRequest(task="classify", texts=["a", "b"], domain="banking", max_cost_usd=0.0, min_confidence=0.7),
        POLICY,
        DOMAINS,
    )
    assert req.texts == ("a", "b") and req.domain == "banking" and req.route is None
    assert req.constraints.max_cost_usd == 0.0 and req.constraints.min_confidence == 0.7
    assert req.constraints.max_latency_ms is None
    assert len(req.request_id) == 16


def test_request_id_is_kept_and_domains_come_from_policy() -> None:
    req = validate_request(RawRequest(request_id="r1", task="embed", text="hi"), POLICY, DOMAINS)
    assert req.request_id == "r1"
    assert known_domains(POLICY) == {"banking"}
