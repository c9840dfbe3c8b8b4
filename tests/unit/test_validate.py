"""Request validation messages (Infer and Generate)."""

from __future__ import annotations

import math

import pytest

from edgefleet.generation import ChatMessage, SamplingParams
from router.domain import GenerateInput
from router.errors import InvalidRequest
from router.validate import (
    RawGenerateRequest,
    RawRequest,
    known_domains,
    validate_generate,
    validate_request,
)
from tests.unit.generate_fakes import gen_policy
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
        (
            {"task": "generate", "text": "a"},
            "task 'generate' is not supported by Infer: call the Generate rpc",
        ),
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


# -- Generate ------------------------------------------------------------------------------------

GEN_POLICY = gen_policy()
GEN_DOMAINS = known_domains(GEN_POLICY)
HI = (("user", "hello"),)


def _generate(**kwargs: object) -> GenerateInput:
    fields: dict[str, object] = {"messages": HI, "max_tokens": 16, **kwargs}
    return validate_generate(RawGenerateRequest(**fields), GEN_POLICY, GEN_DOMAINS)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"messages": ()}, "messages must not be empty"),
        ({"messages": (("robot", "hi"),)}, r"messages\[0\].role 'robot' is unknown"),
        ({"messages": (("user", "hi"), ("assistant", "yes"))}, "the last message must come from the user"),
        ({"messages": (("user", "   "),)}, "the user messages are empty"),
        ({"messages": (("user", "x" * 4001),)}, "4001 characters; the limit is 4000"),
        ({"max_tokens": 0}, "max_tokens must be between 1 and 4096, got 0"),
        ({"max_tokens": 10**9}, "max_tokens must be between 1 and 4096, got 1000000000"),
        ({"temperature": 2.5}, "temperature must be between 0 and 2"),
        ({"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
        ({"stop": ("a", "b", "c", "d", "e")}, "at most 4 stop strings"),
        ({"seed": -1}, "seed must be a non-negative"),
        ({"request_id": "r" * 129}, "request_id has 129 characters; the limit is 128"),
        ({"route": "nope"}, "unknown route 'nope'"),
        ({"route": "intents"}, "route 'intents' serves task 'classify', not 'generate'"),
        ({"domain": "astrology"}, "unknown domain 'astrology'"),
        ({"max_time_to_first_token_ms": 0.0}, "constraints.max_time_to_first_token_ms must be > 0"),
        ({"max_latency_ms": math.inf}, "constraints.max_latency_ms must be a finite number"),
        ({"max_cost_usd": -1.0}, "constraints.max_cost_usd must be >= 0"),
        ({"min_confidence": 1.5}, r"constraints.min_confidence must be within \[0, 1\]"),
    ],
)
def test_invalid_generate_requests_say_what_is_wrong(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        _generate(**kwargs)


def test_valid_generate_request() -> None:
    req = _generate(
        request_id="g" * 128,
        messages=(("system", "Be brief."), ("user", "hello")),
        temperature=0.7,
        stop=("\n",),
        seed=3,
        route="chat-live",
        domain="travel",
        allow_retraction=True,
        max_time_to_first_token_ms=200.0,
        max_cost_usd=0.0,
    )
    assert req.request_id == "g" * 128 and req.route == "chat-live" and req.domain == "travel"
    assert req.messages == (ChatMessage("system", "Be brief."), ChatMessage("user", "hello"))
    assert req.params == SamplingParams(max_tokens=16, temperature=0.7, stop=("\n",), seed=3, logprobs=True)
    assert req.constraints.max_time_to_first_token_ms == 200.0 and req.constraints.max_cost_usd == 0.0
    assert req.constraints.max_latency_ms is None and req.allow_retraction
    defaults = _generate()
    assert defaults.params.temperature == 0.0 and defaults.params.top_p == 1.0  # greedy by default
    assert len(defaults.request_id) == 16 and defaults.route is None and not defaults.allow_retraction


def test_request_ids_are_bounded_and_printable() -> None:
    """A request id is kept (recent requests, logs): a 4 MB id is refused, not stored."""
    for bad, message in (
        ("x" * 129, "the limit is 128"),
        ("x" * (4 << 20), "the limit is 128"),
        ("a\nb", "control"),
    ):
        with pytest.raises(InvalidRequest, match=message):
            validate_request(RawRequest(request_id=bad, task="classify", text="hi"), POLICY, set())
    assert validate_request(
        RawRequest(request_id="x" * 128, task="classify", text="hi"), POLICY, set()
    ).request_id
