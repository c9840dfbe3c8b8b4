"""client.results: the router's messages as typed dataclasses."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from client import results
from client.results import LabelScore, Retraction, TextDelta, Tier, TraceStep
from protos.edgefleet.v1 import common_pb2, fleet_pb2, router_pb2
from tests.unit.client_fakes import delta, final, retraction

EDGE = common_pb2.ServedBy(
    model="clinc-banking",
    version="3",
    replica="clinc-banking-0",
    node="edge-a",
    device="CPU",
    tier=common_pb2.EDGE,
)
TRACE = [
    common_pb2.TraceStep(target="domain-router", outcome="ok", reason="banking 0.95", ms=0.4),
    common_pb2.TraceStep(target="clinc-banking", outcome="escalate", reason="confidence 0.41 < 0.6", ms=0.6),
]


def _classified() -> router_pb2.Result:
    return router_pb2.Result(
        classification=router_pb2.Classification(
            label="balance", scores=[router_pb2.LabelScore(label="balance", score=0.75)]
        ),
        confidence=0.75,
        served_by=EDGE,
        cost_usd=0.000003,
        latency_ms=1.5,
        trace=TRACE,
        domain="banking",
        route="intents",
    )


def test_a_classification_result() -> None:
    r = results.infer_result(_classified())
    assert r.label == "balance" and r.embedding is None
    assert r.scores == (LabelScore("balance", pytest.approx(0.75)),)
    assert (
        r.served_by.tier is Tier.EDGE
        and r.served_by.replica == "clinc-banking-0"
        and not r.served_by.stand_in
    )
    assert r.trace[1] == TraceStep("clinc-banking", "escalate", "confidence 0.41 < 0.6", pytest.approx(0.6))
    assert (
        r.escalated
        and r.cost_usd == pytest.approx(0.000003)
        and (r.domain, r.route) == ("banking", "intents")
    )
    assert r.citations == () and r.raw is not None


def test_a_degraded_result_says_so() -> None:
    msg = _classified()
    assert not results.infer_result(msg).degraded
    msg.degraded, msg.degraded_reason = True, "hosted_unavailable"
    r = results.infer_result(msg)
    assert (r.degraded, r.degraded_reason) == (True, "hosted_unavailable")
    event = results.generate_event(
        router_pb2.GenerateResponse(
            final=router_pb2.GenerateResult(degraded=True, degraded_reason="hosted_timeout")
        )
    )
    assert isinstance(event, results.GenerateResult) and event.degraded_reason == "hosted_timeout"


def test_an_embedding_result_and_tiers() -> None:
    msg = router_pb2.Result(
        embedding=router_pb2.Embedding(values=[0.5, -0.25]),
        served_by=common_pb2.ServedBy(tier=common_pb2.HOSTED, stand_in=True),
    )
    r = results.infer_result(msg)
    assert r.label is None and r.scores == () and r.embedding == (0.5, -0.25)
    assert r.served_by.tier is Tier.HOSTED and r.served_by.stand_in and not r.escalated
    assert results.served_by(common_pb2.ServedBy()).tier is Tier.UNSPECIFIED
    assert results.served_by(common_pb2.ServedBy(tier=9)).tier is Tier.UNSPECIFIED  # a newer router's tier


def test_an_infer_response_and_its_single_result() -> None:
    one = results.infer_response(
        router_pb2.InferResponse(request_id="q1", results=[_classified()], cost_usd=0.1)
    )
    assert one.request_id == "q1" and one.result.label == "balance" and one.cost_usd == pytest.approx(0.1)
    two = results.infer_response(router_pb2.InferResponse(results=[_classified(), _classified()]))
    assert len(two.results) == 2
    with pytest.raises(ValueError, match="2 results"):
        _ = two.result


def test_generate_events() -> None:
    assert results.generate_event(delta("Hel")) == TextDelta("Hel")
    assert results.generate_event(retraction(5, "error")) == Retraction(5, "error")
    assert results.generate_event(router_pb2.GenerateResponse(request_id="g1")) is None
    end = results.generate_event(
        final("Hello", served_by=EDGE, completion_tokens=2, finish_reason="stop", trace=TRACE, route="chat")
    )
    assert isinstance(end, results.GenerateResult)
    assert (end.request_id, end.text, end.completion_tokens, end.finish_reason) == ("g1", "Hello", 2, "stop")
    assert end.served_by.model == "clinc-banking" and len(end.trace) == 2 and end.route == "chat"


def test_action_results() -> None:
    r = results.action_result(
        fleet_pb2.ActionResult(ok=False, message="unknown deployment", snapshot_version=7)
    )
    assert (r.ok, r.message, r.snapshot_version) == (False, "unknown deployment", 7)


def test_citations_are_read_when_the_message_has_them() -> None:
    """A Result type with a `citations` field (as the retrieval work adds) maps them to dicts."""
    file = descriptor_pb2.FileDescriptorProto(name="cited.proto", package="cited", syntax="proto3")
    citation = file.message_type.add(name="Citation")
    citation.field.add(name="source", number=1, type=9, label=1)
    citation.field.add(name="score", number=2, type=2, label=1)
    result = file.message_type.add(name="Result")
    result.field.add(name="citations", number=1, type=11, label=3, type_name=".cited.Citation")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("cited.Result"))
    msg = cls()
    msg.citations.add(source="faq.md#reset", score=0.5)
    assert results.citations(msg) == ({"source": "faq.md#reset", "score": 0.5},)
    assert results.citations(router_pb2.Result()) == ()
