"""Fleet servicer: snapshots and actions (fake context, no sockets)."""

from __future__ import annotations

import asyncio
import random

import grpc
import pytest

from edgefleet.state import FleetState
from protos.edgefleet.v1 import fleet_pb2
from router.accounting import Accounting
from router.domain import InferInput
from router.engine import RouterEngine
from router.fleet_servicer import FleetServicer
from router.fleet_source import StaticFleet
from tests.unit.router_fakes import FakeEdge, FakeHosted, make_policy, make_state


class Aborted(Exception):
    pass


class FakeContext:
    code: grpc.StatusCode | None = None

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.code = code
        raise Aborted(details)


def _servicer(state: FleetState | None = None) -> tuple[FleetServicer, RouterEngine, StaticFleet, list[str]]:
    fleet = StaticFleet(state or make_state())
    engine = RouterEngine(
        make_policy(),
        fleet,
        FakeEdge(),
        {"big": FakeHosted()},
        accounting=Accounting(None),
        rng=random.Random(0),
    )
    reloads: list[str] = []

    async def reload(text: str) -> str:
        reloads.append(text)
        return "reloaded"

    servicer = FleetServicer(engine, fleet, {"big": FakeHosted()}, reload, lambda: ("edgefleet.yaml", "abc"))
    return servicer, engine, fleet, reloads


async def test_snapshot_has_fleet_routes_hosted_and_traffic() -> None:
    servicer, engine, _, _ = _servicer()
    await engine.infer(InferInput("r1", "classify", ("what is my balance",)))
    snap = await servicer.GetFleet(fleet_pb2.GetFleetRequest(), FakeContext())  # type: ignore[arg-type]
    assert snap.version == 1 and snap.policy_path == "edgefleet.yaml" and snap.policy_sha256 == "abc"
    assert {d.name for d in snap.deployments} == {"domain-router", "clinc-banking", "generalist", "embedder"}
    banking = next(d for d in snap.deployments if d.name == "clinc-banking")
    assert sum(r.stats.requests for r in banking.replicas) == 1
    intents = next(r for r in snap.routes if r.name == "intents")
    assert list(intents.candidates) == ["domain-router", "clinc-banking", "generalist", "hosted:big"]
    assert snap.hosted[0].circuit == "closed" and snap.hosted[0].base_url == "http://big.example/v1"
    assert snap.traffic.requests == 1 and snap.traffic.edge == 1 and snap.traffic.saved_usd > 0
    assert snap.recent[0].request_id == "r1" and snap.recent[0].label == "balance"
    assert len(snap.recent[0].trace) == 2 and len(snap.nodes) == 2


async def test_snapshot_carries_precision_isa_and_detail() -> None:
    state = make_state()
    banking = state.deployment("clinc-banking")
    assert banking is not None
    banking.precision_policy = "bf16"
    first = banking.replicas[0]
    first.inference_precision, first.isa = "f32", ["AVX2", "VNNI"]
    first.detail = "precision bf16 requested but this CPU has no BF16 support; compiled with f32"
    servicer, _, _, _ = _servicer(state)
    snap = await servicer.GetFleet(fleet_pb2.GetFleetRequest(), FakeContext())  # type: ignore[arg-type]
    dep = next(d for d in snap.deployments if d.name == "clinc-banking")
    assert dep.precision_policy == "bf16" and dep.precision == "FP32"
    replica = dep.replicas[0]
    assert (replica.inference_precision, list(replica.isa)) == ("f32", ["AVX2", "VNNI"])
    assert "no BF16" in replica.detail
    other = next(d for d in snap.deployments if d.name == "generalist")
    assert other.precision_policy == "auto" and other.replicas[0].inference_precision == ""


async def test_watch_yields_now_then_on_change() -> None:
    servicer, _, fleet, _ = _servicer()
    stream = servicer.WatchFleet(fleet_pb2.WatchFleetRequest(min_interval_ms=10), FakeContext())  # type: ignore[arg-type]
    first = await asyncio.wait_for(anext(stream), 5)
    assert first.snapshot.version == 1
    await fleet.scale("generalist", 3)
    second = await asyncio.wait_for(anext(stream), 5)
    assert second.snapshot.version == 2 and second.message == "scaled generalist to 3"
    await stream.aclose()  # type: ignore[attr-defined]


async def test_actions_report_ok_or_the_error() -> None:
    servicer, _, _, reloads = _servicer()
    ctx = FakeContext()
    ok = await servicer.Scale(fleet_pb2.ScaleRequest(deployment="generalist", replicas=2), ctx)  # type: ignore[arg-type]
    assert ok.ok and ok.snapshot_version == 2
    bad = await servicer.Scale(fleet_pb2.ScaleRequest(deployment="nope", replicas=2), ctx)  # type: ignore[arg-type]
    assert not bad.ok and "unknown deployment 'nope'" in bad.message
    drained = await servicer.Drain(fleet_pb2.DrainRequest(node="node-0"), ctx)  # type: ignore[arg-type]
    assert drained.ok and "drained" in drained.message
    with pytest.raises(Aborted):
        await servicer.Scale(fleet_pb2.ScaleRequest(deployment="g", replicas=-1), ctx)  # type: ignore[arg-type]
    assert ctx.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(Aborted):
        await servicer.Drain(fleet_pb2.DrainRequest(node=""), ctx)  # type: ignore[arg-type]
    res = await servicer.ReloadPolicy(fleet_pb2.ReloadPolicyRequest(yaml="v"), ctx)  # type: ignore[arg-type]
    assert res.ok and reloads == ["v"]


async def test_snapshot_carries_the_collection_of_a_retriever_deployment() -> None:
    from edgefleet.state import CollectionInfo

    state = make_state()
    embedder = state.deployment("embedder")
    assert embedder is not None
    embedder.task = "retrieve"
    embedder.collection = CollectionInfo(
        2464, 2067, "brute", "all-MiniLM-L6-v2 (passages FP32, queries INT8)"
    )
    servicer, _, _, _ = _servicer(state)
    snap = await servicer.GetFleet(fleet_pb2.GetFleetRequest(), FakeContext())  # type: ignore[arg-type]
    dep = next(d for d in snap.deployments if d.name == "embedder")
    assert (dep.task, dep.collection.chunks, dep.collection.documents, dep.collection.index) == (
        "retrieve", 2464, 2067, "brute",
    )  # fmt: skip
    assert "queries INT8" in dep.collection.encoder
    other = next(d for d in snap.deployments if d.name == "generalist")
    assert not other.HasField("collection")


async def test_snapshot_shows_the_degraded_state_and_the_deferred_queue() -> None:
    servicer, engine, _, _ = _servicer()
    servicer.hosted = {"big": FakeHosted(circuit_state="open")}
    engine.targets.hosted = servicer.hosted
    (res,) = (await engine.infer(InferInput("r1", "classify", ("transfer money",)))).results
    assert res.degraded
    snap = await servicer.GetFleet(fleet_pb2.GetFleetRequest(), FakeContext())  # type: ignore[arg-type]
    assert snap.degraded.active and snap.degraded.reason == "hosted 'big' circuit open"
    assert snap.degraded.answers == 1 and snap.degraded.answers_last_minute == 1
    assert dict(snap.degraded.by_reason) == {"hosted_unavailable": 1}
    assert snap.degraded.deferred_queued == 0
