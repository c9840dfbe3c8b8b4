"""Router servicer: proto <-> domain translation and error mapping (fake context, no sockets)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import grpc
import pytest

from protos.edgefleet.v1 import common_pb2, router_pb2
from router.accounting import Accounting
from router.auth import ApiKeys
from router.engine import RouterEngine
from router.errors import InvalidRequest, Overloaded
from router.fleet_source import StaticFleet
from router.servicer import RouterServicer, raw_request, status_of
from tests.unit.router_fakes import FakeEdge, FakeHosted, make_policy, make_state


class Aborted(Exception):
    pass


class FakeContext:
    def __init__(self, metadata: list[tuple[str, str]] | None = None, remaining: float | None = None) -> None:
        self.metadata = metadata or []
        self.remaining = remaining
        self.code: grpc.StatusCode | None = None
        self.details = ""

    def invocation_metadata(self) -> list[tuple[str, str]]:
        return self.metadata

    def time_remaining(self) -> float | None:
        return self.remaining

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.code, self.details = code, details
        raise Aborted(details)


def _servicer(keys: ApiKeys | None = None) -> RouterServicer:
    engine = RouterEngine(
        make_policy(),
        StaticFleet(make_state()),
        FakeEdge(),
        {"big": FakeHosted()},
        accounting=Accounting(None),
        rng=random.Random(0),
    )
    return RouterServicer(engine, lambda: keys or ApiKeys())


def test_raw_request_keeps_unset_constraints_none() -> None:
    msg = router_pb2.InferRequest(task="classify", text="hi")
    assert raw_request(msg).max_latency_ms is None
    msg.constraints.max_cost_usd = 0.0
    raw = raw_request(msg)
    assert raw.max_cost_usd == 0.0 and raw.max_latency_ms is None and raw.min_confidence is None


def test_status_codes_follow_the_error_tree() -> None:
    assert status_of(InvalidRequest("x")) == grpc.StatusCode.INVALID_ARGUMENT
    assert status_of(Overloaded("x")) == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_infer_answers_with_served_by_and_trace() -> None:
    servicer = _servicer()
    resp = await servicer.Infer(
        router_pb2.InferRequest(request_id="q1", task="classify", text="what is my balance"), FakeContext()
    )
    (res,) = resp.results
    assert resp.request_id == "q1" and res.classification.label == "balance"
    assert res.served_by.tier == common_pb2.EDGE and res.served_by.model == "clinc-banking"
    assert [s.target for s in res.trace] == ["domain-router", "clinc-banking"]
    assert res.classification.scores[0].label == "balance" and res.domain == "banking"


async def test_infer_maps_errors_to_status() -> None:
    servicer = _servicer(ApiKeys.from_secrets(["secret"], "$K"))
    ctx = FakeContext()
    with pytest.raises(Aborted):
        await servicer.Infer(router_pb2.InferRequest(task="classify", text="hi"), ctx)
    assert ctx.code == grpc.StatusCode.UNAUTHENTICATED
    ctx = FakeContext([("x-api-key", "secret")])
    with pytest.raises(Aborted):
        await servicer.Infer(router_pb2.InferRequest(task="classify", text=""), ctx)
    assert ctx.code == grpc.StatusCode.INVALID_ARGUMENT and "no input" in ctx.details


async def test_infer_stream_reports_bad_requests_and_goes_on() -> None:
    servicer = _servicer()

    async def requests() -> AsyncIterator[router_pb2.InferRequest]:
        yield router_pb2.InferRequest(request_id="a", task="classify", text="what is my balance")
        yield router_pb2.InferRequest(request_id="b", task="generate", text="x")
        yield router_pb2.InferRequest(request_id="c", task="embed", text="hello")

    got = {r.request_id: r async for r in servicer.InferStream(requests(), FakeContext())}
    assert set(got) == {"a", "b", "c"}
    assert got["b"].error.code == "INVALID_ARGUMENT" and "call the Generate rpc" in got["b"].error.message
    assert got["a"].results[0].classification.label == "balance"
    assert list(got["c"].results[0].embedding.values) == pytest.approx([0.6, 0.8])


async def test_a_degraded_answer_is_flagged_in_the_result() -> None:
    servicer = _servicer()
    servicer.engine.targets.hosted = {"big": FakeHosted(down=True)}
    resp = await servicer.Infer(
        router_pb2.InferRequest(task="classify", text="transfer money"), FakeContext()
    )
    (res,) = resp.results
    assert (
        res.degraded and res.degraded_reason == "hosted_unavailable" and res.served_by.tier == common_pb2.EDGE
    )
