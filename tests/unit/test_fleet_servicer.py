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


async def test_watch_streams_are_capped_and_rate_limited() -> None:
    """router.limits.watch_streams open at once (more: RESOURCE_EXHAUSTED naming the limit); a
    min_interval_ms under router.limits.watch_min_interval_ms is raised to it; closed streams free
    their slot."""
    servicer, engine, _, _ = _servicer()
    limits = engine.policy.router.limits
    streams = [
        servicer.WatchFleet(fleet_pb2.WatchFleetRequest(min_interval_ms=1), FakeContext())  # type: ignore[arg-type]
        for _ in range(limits.watch_streams)
    ]
    for stream in streams:
        await asyncio.wait_for(anext(stream), 5)
    assert servicer.watchers == limits.watch_streams
    ctx = FakeContext()
    extra = servicer.WatchFleet(fleet_pb2.WatchFleetRequest(), ctx)  # type: ignore[arg-type]
    with pytest.raises(Aborted, match=r"WatchFleet streams are open \(router.limits.watch_streams=32\)"):
        await anext(extra)
    assert ctx.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    for stream in streams:
        await stream.aclose()  # type: ignore[attr-defined]
    assert servicer.watchers == 0
    loop = asyncio.get_running_loop()
    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def record(delay: float) -> None:
        sleeps.append(delay)
        await real_sleep(0)

    stream = servicer.WatchFleet(fleet_pb2.WatchFleetRequest(min_interval_ms=1), FakeContext())  # type: ignore[arg-type]
    import router.fleet_servicer as module

    module.asyncio.sleep = record  # type: ignore[assignment]
    try:
        await anext(stream)
        await engine.infer(InferInput("r2", "classify", ("what is my balance",)))
        await asyncio.wait_for(anext(stream), 5)
    finally:
        module.asyncio.sleep = real_sleep  # type: ignore[assignment]
        await stream.aclose()  # type: ignore[attr-defined]
    assert sleeps and min(sleeps) == pytest.approx(limits.watch_min_interval_ms / 1000.0)
    assert loop.is_running()


async def test_snapshot_redacts_url_credentials_and_optionally_text() -> None:
    servicer, engine, _, _ = _servicer()
    hosted = FakeHosted()
    hosted.base_url = "https://user:s3cret@api.example/v1?api_key=abc"
    servicer.hosted = {"big": hosted}
    await engine.infer(InferInput("r1", "classify", ("what is my balance",)))
    snap = await servicer.GetFleet(fleet_pb2.GetFleetRequest(), FakeContext())  # type: ignore[arg-type]
    assert snap.hosted[0].base_url == "https://api.example/v1"
    assert snap.recent[0].text == "what is my balance"
    router = engine.policy.router.model_copy(update={"redact_text": True})
    engine.reload_policy(engine.policy.model_copy(update={"router": router}))
    snap = await servicer.GetFleet(fleet_pb2.GetFleetRequest(), FakeContext())  # type: ignore[arg-type]
    assert snap.recent[0].text == "" and snap.recent[0].label == "balance"


async def test_escalation_log_write_failures_are_reported(tmp_path: object) -> None:
    """A failed escalation-log write never fails the (paid) request: it is counted in GetFleet."""
    from pathlib import Path

    folder = Path(str(tmp_path)) / "not-a-dir"
    folder.write_text("a file where the log's folder should be")
    fleet = StaticFleet(make_state())
    engine = RouterEngine(
        make_policy(), fleet, FakeEdge(), {"big": FakeHosted()}, accounting=Accounting(folder / "esc.jsonl")
    )
    servicer = FleetServicer(engine, fleet, {}, lambda text: asyncio.sleep(0, "x"), lambda: ("", ""))
    out = await engine.infer(InferInput("r1", "classify", ("transfer money",)))
    assert out.results[0].served_by.tier == "hosted"  # answered although the log could not be written
    snap = await servicer.GetFleet(fleet_pb2.GetFleetRequest(), FakeContext())  # type: ignore[arg-type]
    assert snap.logs.escalation_write_errors == 1 and snap.logs.escalation_written == 0
    assert "esc.jsonl" in snap.logs.escalation_log and snap.logs.escalation_last_error


async def test_scale_beyond_the_replica_cap_is_invalid() -> None:
    servicer, _, fleet, _ = _servicer()
    ctx = FakeContext()
    with pytest.raises(
        Aborted, match=r"replicas must be <= 32 \(fleet.max_replicas_per_deployment\), got 10000"
    ):
        await servicer.Scale(fleet_pb2.ScaleRequest(deployment="generalist", replicas=10_000), ctx)  # type: ignore[arg-type]
    assert ctx.code == grpc.StatusCode.INVALID_ARGUMENT
    assert (await fleet.state()).deployment("generalist").desired != 10_000  # type: ignore[union-attr]


async def test_snapshot_says_when_the_fleet_view_is_stale() -> None:
    servicer, _, fleet, _ = _servicer()
    snap = await servicer.GetFleet(fleet_pb2.GetFleetRequest(), FakeContext())  # type: ignore[arg-type]
    assert snap.fleet_status == "ok" and list(snap.events) == ["started"]
    fleet.remote_view = True  # type: ignore[attr-defined]  # as the Ray source: a copy that can go stale
    fleet.synced_unix = 1.0  # heard from the control plane long ago
    fleet.last_error = "FleetError: the EdgeFleet controller is gone"  # type: ignore[attr-defined]
    snap = await servicer.GetFleet(fleet_pb2.GetFleetRequest(), FakeContext())  # type: ignore[arg-type]
    assert snap.fleet_status == "degraded" and snap.fleet_view_age_s > 30
    assert "controller is gone" in snap.fleet_status_reason
    assert {d.name for d in snap.deployments} == {"domain-router", "clinc-banking", "generalist", "embedder"}


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
