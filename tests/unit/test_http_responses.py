"""EdgeFleet's answer in headers and the edgefleet field (router/http/responses.py)."""

from __future__ import annotations

import dataclasses

from edgefleet.generation import ChatMessage, SamplingParams
from router.domain import GenerateInput, InferOutput, Result, ServedBy, Step
from router.http import responses
from tests.unit.frontdoor_fakes import HOSTED, SERVED, final


def test_headers_are_printable_ascii_and_bounded() -> None:
    req = GenerateInput("r", (ChatMessage("user", "x"),), SamplingParams(), route="chat")
    done = final(req, "x")
    weird = dataclasses.replace(done, trace=(Step("big", "ok", "é", 1.0),) * 500)
    headers = responses.generate_headers(weird)
    assert all(v.isascii() and len(v) <= responses.MAX_HEADER_CHARS for v in headers.values())
    assert headers[responses.H_TRACE].endswith("...")
    assert responses.served_by_text(HOSTED) == "big-model"
    assert responses.served_by_text(SERVED) == "smollm2:1 replica=llm-0 node=edge-a device=CPU"


def test_mixed_tiers_for_a_batch() -> None:
    edge = Result(None, (), (1.0,), 1.0, SERVED, 0.1, 1.0, (), "", "embed")
    hosted = Result(
        None, (), (1.0,), 1.0, ServedBy("big", "", "", "", "", "hosted", True), 0.2, 1.0, (), "", "embed"
    )
    out = InferOutput("r", (edge, hosted), 0.3, 2.0)
    headers = responses.infer_headers(out, "embed")
    assert headers[responses.H_TIER] == "mixed" and headers[responses.H_STAND_IN] == "1"
    assert headers[responses.H_SERVED_BY] == "smollm2:1 replica=llm-0 node=edge-a device=CPU, big"


def test_a_degraded_answer_says_so_in_headers_and_the_edgefleet_field() -> None:
    req = GenerateInput("r", (ChatMessage("user", "x"),), SamplingParams(), route="chat")
    done = dataclasses.replace(final(req, "x"), degraded=True, degraded_reason="hosted_timeout")
    assert responses.generate_headers(done)[responses.H_DEGRADED] == "hosted_timeout"
    ext = responses.generate_extension(done)
    assert (ext["degraded"], ext["degraded_reason"]) == (True, "hosted_timeout")
    assert responses.H_DEGRADED not in responses.generate_headers(final(req, "x"))
    kept = Result(None, (), (1.0,), 1.0, SERVED, 0.1, 1.0, (), "", "embed", degraded=True,
                  degraded_reason="hosted_unavailable")  # fmt: skip
    out = InferOutput("r", (kept,), 0.1, 1.0)
    assert responses.infer_headers(out, "embed")[responses.H_DEGRADED] == "hosted_unavailable"
    body = responses.embeddings_body(out, ["x"], "embed", as_base64=False)
    assert body["edgefleet"]["results"][0]["degraded"] is True
