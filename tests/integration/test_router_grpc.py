"""The router over real gRPC on 127.0.0.1:0.

Part 1 (fast): the router server with in-memory edge/hosted fakes -- auth, bad
inputs, health, reflection, InferStream, WatchFleet.
Part 2: StaticFleet pointing at real KServe replicas (fleet.serving.kserve_server over
real TextModels from the `model_registry` fixture) and the real STAND-IN +
HostedClient -- edge answers, escalation, hosted down.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from edgefleet.policy.loader import parse_policy
from edgefleet.state import DeploymentState, FleetState, NodeState, ReplicaState
from protos.edgefleet.v1 import common_pb2, fleet_pb2, fleet_pb2_grpc, router_pb2, router_pb2_grpc
from router.edge_client import EdgeClient
from router.errors import TargetError
from router.fleet_source import StaticFleet
from router.server import FLEET_SERVICE, ROUTER_SERVICE, RouterServer, serve
from tests.unit.router_fakes import POLICY_YAML, FakeEdge, FakeHosted, make_state

pytestmark = pytest.mark.integration
KEY_ENV = "EDGEFLEET_TEST_ROUTER_KEYS"
AUTH = (("authorization", "Bearer test-key"),)
OPS = (("authorization", "Bearer ops-key"),)
VIEW = (("x-api-key", "view-key"),)


# ---------------------------------------------------------------- part 1: fakes behind real gRPC


@pytest.fixture(scope="module")
async def fake_router() -> AsyncIterator[tuple[RouterServer, grpc.aio.Channel]]:
    os.environ[KEY_ENV] = "test-key,other-key,ops:operator:ops-key,watch:viewer:view-key"
    policy = parse_policy(
        POLICY_YAML.replace("max_inflight: 8", f"max_inflight: 64\n  api_keys_env: {KEY_ENV}")
    )
    server = await serve(
        policy, StaticFleet(make_state()), {"big": FakeHosted()}, "127.0.0.1:0", edge=FakeEdge()
    )
    channel = grpc.aio.insecure_channel(server.address)
    try:
        yield server, channel
    finally:
        await channel.close()
        await server.stop(0)
        os.environ.pop(KEY_ENV, None)


async def test_infer_with_key_answers_at_the_edge(fake_router: tuple[RouterServer, grpc.aio.Channel]) -> None:
    stub = router_pb2_grpc.RouterStub(fake_router[1])
    resp = await stub.Infer(
        router_pb2.InferRequest(task="classify", text="what is my balance"), metadata=AUTH
    )
    assert resp.results[0].classification.label == "balance" and resp.request_id


async def test_wrong_or_missing_key_is_unauthenticated(
    fake_router: tuple[RouterServer, grpc.aio.Channel],
) -> None:
    stub = router_pb2_grpc.RouterStub(fake_router[1])
    for metadata in ((("x-api-key", "wrong"),), ()):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Infer(router_pb2.InferRequest(task="classify", text="hi"), metadata=metadata)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    stream = stub.InferStream(iter([router_pb2.InferRequest(task="classify", text="hi")]))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in stream:
            pass
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"task": "classify", "text": ""}, "no input"),
        ({"task": "classify", "text": "x" * 101}, "more than router.max_text_chars=100"),
        ({"task": "generate", "text": "x"}, "call the Generate rpc"),
        ({"task": "translate", "text": "x"}, "unknown task 'translate'"),
        ({"task": "classify", "text": "x", "domain": "cooking"}, "unknown domain 'cooking'"),
        ({"task": "classify", "text": "x", "route": "nope"}, "unknown route 'nope'"),
        ({"task": "classify", "text": "x", "constraints": {"max_latency_ms": -5}}, "must be > 0"),
        ({"task": "classify", "text": "x", "constraints": {"max_cost_usd": float("nan")}}, "finite"),
    ],
)
async def test_bad_inputs_are_invalid_argument(
    fake_router: tuple[RouterServer, grpc.aio.Channel], fields: dict[str, Any], message: str
) -> None:
    stub = router_pb2_grpc.RouterStub(fake_router[1])
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Infer(router_pb2.InferRequest(**fields), metadata=AUTH)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in (info.value.details() or "")


async def test_infer_stream_many_requests(fake_router: tuple[RouterServer, grpc.aio.Channel]) -> None:
    stub = router_pb2_grpc.RouterStub(fake_router[1])
    n = 200

    async def requests() -> AsyncIterator[router_pb2.InferRequest]:
        for i in range(n):
            text = "" if i % 50 == 7 else ("what is my balance" if i % 2 else "book a flight")
            yield router_pb2.InferRequest(request_id=f"q{i}", task="classify", text=text)

    got = {r.request_id: r async for r in stub.InferStream(requests(), metadata=AUTH)}
    assert len(got) == n
    errors = {k for k, r in got.items() if r.HasField("error")}
    assert errors == {f"q{i}" for i in range(n) if i % 50 == 7}
    assert got["q1"].results[0].classification.label == "balance"
    assert got["q2"].results[0].classification.label == "book_flight"


async def test_health_and_reflection(fake_router: tuple[RouterServer, grpc.aio.Channel]) -> None:
    channel = fake_router[1]
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", ROUTER_SERVICE, FLEET_SERVICE):
        resp = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
    refl = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = set()
    async for resp in call:
        names |= {s.name for s in resp.list_services_response.service}
    assert {ROUTER_SERVICE, FLEET_SERVICE} <= names


async def test_watch_fleet_yields_snapshots(fake_router: tuple[RouterServer, grpc.aio.Channel]) -> None:
    channel = fake_router[1]
    stub = fleet_pb2_grpc.FleetStub(channel)
    call = stub.WatchFleet(fleet_pb2.WatchFleetRequest(min_interval_ms=20), metadata=VIEW)
    try:
        first = await asyncio.wait_for(call.read(), 10)
        result = await stub.Scale(fleet_pb2.ScaleRequest(deployment="generalist", replicas=3), metadata=OPS)
        assert result.ok
        for _ in range(50):  # traffic changes may produce snapshots first
            event = await asyncio.wait_for(call.read(), 10)
            if event.snapshot.version > first.snapshot.version:
                break
        gen = next(d for d in event.snapshot.deployments if d.name == "generalist")
        assert gen.desired == 3
    finally:
        call.cancel()
    snap = await stub.GetFleet(fleet_pb2.GetFleetRequest(), metadata=VIEW)
    assert snap.routes and snap.hosted[0].name == "big"
    bad = await stub.ReloadPolicy(fleet_pb2.ReloadPolicyRequest(yaml="version: 7"), metadata=OPS)
    assert not bad.ok and "version" in bad.message


async def test_fleet_rpcs_need_their_role(fake_router: tuple[RouterServer, grpc.aio.Channel]) -> None:
    """No key: UNAUTHENTICATED; an app key: PERMISSION_DENIED everywhere on Fleet; a viewer reads
    but may not Scale, Drain or ReloadPolicy; the operator may."""
    stub = fleet_pb2_grpc.FleetStub(fake_router[1])
    calls = {
        "GetFleet": lambda md: stub.GetFleet(fleet_pb2.GetFleetRequest(), metadata=md),
        "Scale": lambda md: stub.Scale(
            fleet_pb2.ScaleRequest(deployment="generalist", replicas=1), metadata=md
        ),
        "Drain": lambda md: stub.Drain(fleet_pb2.DrainRequest(node="n1", undrain=True), metadata=md),
        "ReloadPolicy": lambda md: stub.ReloadPolicy(
            fleet_pb2.ReloadPolicyRequest(yaml="version: 7"), metadata=md
        ),
    }
    for name, call in calls.items():
        for metadata, code in (
            ((), grpc.StatusCode.UNAUTHENTICATED),
            (AUTH, grpc.StatusCode.PERMISSION_DENIED),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call(metadata)
            assert info.value.code() == code, name
        if name != "GetFleet":
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call(VIEW)
            assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "role 'viewer'" in (info.value.details() or "")
    watch = stub.WatchFleet(fleet_pb2.WatchFleetRequest(), metadata=AUTH)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await watch.read()
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await calls["GetFleet"](OPS)).routes


async def test_reload_policy_cannot_turn_authentication_off(
    fake_router: tuple[RouterServer, grpc.aio.Channel],
) -> None:
    server, channel = fake_router
    stub = fleet_pb2_grpc.FleetStub(channel)
    text = POLICY_YAML.replace("max_inflight: 8", "max_inflight: 64\n  api_keys_env: null")
    result = await stub.ReloadPolicy(fleet_pb2.ReloadPolicyRequest(yaml=text), metadata=OPS)
    assert not result.ok and "router.api_keys_env cannot be changed by ReloadPolicy" in result.message
    assert server.api_keys.enabled
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetFleet(fleet_pb2.GetFleetRequest())
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


class RemoteFleet(StaticFleet):
    """A StaticFleet that says it copies a remote state (as the Ray fleet source does)."""

    remote_view = True
    last_error = "FleetError: the EdgeFleet controller is gone"


async def test_stale_fleet_view_turns_health_not_serving_but_requests_are_answered() -> None:
    policy = parse_policy(
        POLICY_YAML.replace("max_inflight: 8", "max_inflight: 8\n  fleet_view_max_age_s: 0.4")
    )
    fleet = RemoteFleet(make_state())
    server = await serve(policy, fleet, {"big": FakeHosted()}, "127.0.0.1:0", edge=FakeEdge())
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            watch = health.Watch(health_pb2.HealthCheckRequest(service=""))
            statuses = [(await asyncio.wait_for(watch.read(), 10)).status]
            fleet.synced_unix = 1.0  # no word from the control plane for decades
            statuses.append((await asyncio.wait_for(watch.read(), 10)).status)
            assert statuses == [
                health_pb2.HealthCheckResponse.SERVING,
                health_pb2.HealthCheckResponse.NOT_SERVING,
            ]
            fleet_health = await health.Check(health_pb2.HealthCheckRequest(service=FLEET_SERVICE))
            assert fleet_health.status == health_pb2.HealthCheckResponse.SERVING  # operators can ask why
            snap = await fleet_pb2_grpc.FleetStub(channel).GetFleet(fleet_pb2.GetFleetRequest())
            assert snap.fleet_status == "degraded" and "controller is gone" in snap.fleet_status_reason
            reply = await router_pb2_grpc.RouterStub(channel).Infer(
                router_pb2.InferRequest(task="classify", text="what is my balance")
            )
            assert reply.results[0].classification.label == "balance"  # the last known fleet still routes
            fleet.confirm()  # the control plane answered again
            assert (await asyncio.wait_for(watch.read(), 10)).status == health_pb2.HealthCheckResponse.SERVING
            watch.cancel()
    finally:
        await server.stop(0)


class GatedEdge(FakeEdge):
    """FakeEdge whose answers wait for `gate` (requests stay in flight until the test opens it)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def infer(self, *args: Any, **kwargs: Any) -> Any:
        await self.gate.wait()
        return await super().infer(*args, **kwargs)


async def test_graceful_stop_not_serving_first_then_refuses_new_calls_and_finishes_accepted_ones() -> None:
    edge = GatedEdge()
    policy = parse_policy(POLICY_YAML.replace("default_timeout_ms: 1000", "default_timeout_ms: 20000"))
    server = await serve(policy, StaticFleet(make_state()), {"big": FakeHosted()}, "127.0.0.1:0", edge=edge)
    channel = grpc.aio.insecure_channel(server.address)
    other = grpc.aio.insecure_channel(server.address)
    watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=ROUTER_SERVICE))
    try:
        assert (await asyncio.wait_for(watch.read(), 10)).status == health_pb2.HealthCheckResponse.SERVING
        stub = router_pb2_grpc.RouterStub(channel)
        accepted = [
            asyncio.ensure_future(
                stub.Infer(router_pb2.InferRequest(task="classify", text="what is my balance"))
            )
            for _ in range(5)
        ]
        for _ in range(500):  # bounded: until the five are in the router
            if server.engine.inflight == 5:
                break
            await asyncio.sleep(0.01)
        assert server.engine.inflight == 5
        stopping = asyncio.create_task(server.stop())
        update = await asyncio.wait_for(watch.read(), 10)  # health flips before anything else
        assert update.status == health_pb2.HealthCheckResponse.NOT_SERVING
        assert not any(task.done() for task in accepted)
        watch.cancel()
        fleet = fleet_pb2_grpc.FleetStub(other)
        refused = None
        for _ in range(500):  # bounded: until the server stops accepting
            try:
                await fleet.GetFleet(fleet_pb2.GetFleetRequest(), timeout=5)
            except grpc.aio.AioRpcError as exc:
                refused = exc
                break
            await asyncio.sleep(0.01)
        assert refused is not None and refused.code() == grpc.StatusCode.UNAVAILABLE
        edge.gate.set()  # the accepted requests finish and are answered
        answers = await asyncio.wait_for(asyncio.gather(*accepted), 20)
        assert [a.results[0].classification.label for a in answers] == ["balance"] * 5
        await asyncio.wait_for(stopping, 20)
    finally:
        edge.gate.set()
        watch.cancel()
        await channel.close()
        await other.close()
        await server.stop(0)


# ---------------------------------------------------------------- part 2: real replicas + stand-in

MODELS = ("domain-router", "clinc-banking", "generalist")
PRICES = {"domain-router": 0.000001, "clinc-banking": 0.000002, "generalist": 0.000005}
REAL_POLICY = """
version: 1
router: {{default_timeout_ms: 5000}}
deployments:
  - {{name: domain-router, model: domain-router, price_per_call_usd: 0.000001}}
  - {{name: clinc-banking, model: clinc-banking, price_per_call_usd: 0.000002}}
  - {{name: generalist, model: generalist, price_per_call_usd: 0.000005}}
hosted:
  - name: big
    base_url: {url}
    model: stand-in
    price_per_1k_input_usd: 0.005
    price_per_1k_output_usd: 0.015
    timeout_ms: 3000
    retries: 0
    circuit: {{failures: 100, reset_s: 1}}
routes:
  - name: intents
    task: classify
    domain_model: domain-router
    specialists: {{banking: [clinc-banking]}}
    targets: [generalist]
    fallback: big
    min_confidence: 0.5
  - {{name: hosted-only, task: classify, fallback: big}}
"""


@pytest.fixture(scope="module")
def text_models(model_registry: Path) -> dict[str, Any]:
    from fleet.models.manifest import load_bundle, resolve_model_dir
    from fleet.serving.runtime import TextModel

    return {name: TextModel.load(load_bundle(resolve_model_dir(model_registry, name))) for name in MODELS}


@pytest.fixture(scope="module")
def replicas(text_models: dict[str, Any]) -> Iterator[FleetState]:
    from fleet.serving.kserve_aio import serve_kserve

    servers: list[Any] = []
    deployments = []
    try:
        for name, model in text_models.items():
            server, port = serve_kserve(model, node="node-a", replica=f"{name}-0")
            servers.append(server)
            rep = ReplicaState(f"{name}-0", name, "n1", "node-a", model.device, f"127.0.0.1:{port}", "ready")
            deployments.append(
                DeploymentState(
                    name,
                    name,
                    model.manifest.version,
                    model.manifest.precision,
                    1,
                    1,
                    [rep],
                    price_per_call_usd=PRICES[name],
                    task="classify",
                    labels=list(model.labels),
                )
            )
        yield FleetState(1, 0.0, [NodeState("n1", "node-a", "127.0.0.1")], deployments, [])
    finally:
        for server in servers:
            server.stop(0)


@pytest.fixture(scope="module")
def stand_in(text_models: dict[str, Any]) -> Iterator[str]:
    from standin.server import StandInServer

    server = StandInServer(text_models["generalist"])
    try:
        yield server.start()
    finally:
        server.stop()


async def _real_router(state: FleetState, url: str) -> tuple[RouterServer, Any, grpc.aio.Channel]:
    from router.hosted import HostedClient

    policy = parse_policy(REAL_POLICY.format(url=url))
    hosted = HostedClient(policy.hosted_endpoint("big"), base_url=url)
    server = await serve(policy, StaticFleet(state), {"big": hosted}, "127.0.0.1:0")
    return server, hosted, grpc.aio.insecure_channel(server.address)


@pytest.fixture(scope="module")
async def real_router(replicas: FleetState, stand_in: str) -> AsyncIterator[router_pb2_grpc.RouterStub]:
    server, hosted, channel = await _real_router(replicas, stand_in)
    try:
        yield router_pb2_grpc.RouterStub(channel)
    finally:
        await channel.close()
        await server.stop(0)
        await hosted.aclose()


async def test_banking_text_answered_at_the_edge(real_router: router_pb2_grpc.RouterStub) -> None:
    resp = await real_router.Infer(
        router_pb2.InferRequest(task="classify", text="what is the balance of my checking account")
    )
    (res,) = resp.results
    assert res.served_by.tier == common_pb2.EDGE, res.trace
    assert res.domain == "banking" and res.classification.label == "balance"
    assert [s.target for s in res.trace] == ["domain-router", "clinc-banking"]
    assert res.served_by.replica == "clinc-banking-0" and res.served_by.node == "node-a"
    assert res.cost_usd == pytest.approx(0.000003)


async def test_out_of_scope_text_escalated_to_the_stand_in(real_router: router_pb2_grpc.RouterStub) -> None:
    resp = await real_router.Infer(
        router_pb2.InferRequest(task="classify", text="what is the airspeed velocity of an unladen swallow")
    )
    (res,) = resp.results
    assert res.served_by.tier == common_pb2.HOSTED and res.served_by.stand_in, res.trace
    assert res.trace[-1].target == "hosted:big" and res.trace[-1].outcome == "ok"
    assert any(s.outcome == "escalate" for s in res.trace)
    assert res.cost_usd > 0.000001


async def test_hosted_down_keeps_edge_answer_or_unavailable(replicas: FleetState) -> None:
    server, hosted, channel = await _real_router(replicas, "http://127.0.0.1:9/v1")
    try:
        stub = router_pb2_grpc.RouterStub(channel)
        resp = await stub.Infer(
            router_pb2.InferRequest(
                task="classify", text="what is my balance", constraints={"min_confidence": 1.0}
            )
        )
        (res,) = resp.results
        assert res.served_by.tier == common_pb2.EDGE
        assert "hosted unavailable" in res.trace[-1].reason and "kept edge answer" in res.trace[-1].reason
        assert res.degraded and res.degraded_reason == "hosted_unavailable"
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Infer(
                router_pb2.InferRequest(task="classify", text="what is my balance", route="hosted-only")
            )
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "no target could answer" in (info.value.details() or "")
    finally:
        await channel.close()
        await server.stop(0)
        await hosted.aclose()


async def test_deferred_escalations_reach_the_log_once_the_hosted_tier_is_back(
    replicas: FleetState, stand_in: str, tmp_path: Path
) -> None:
    from edgefleet.escalation_log import read_log
    from router.hosted import HostedClient

    text = REAL_POLICY.format(url=stand_in).replace(
        "router: {default_timeout_ms: 5000}",
        f"router: {{default_timeout_ms: 5000, escalation_log: {tmp_path / 'esc.jsonl'}, "
        f"deferred_queue: {tmp_path / 'deferred.db'}}}",
    )
    policy = parse_policy(
        text.replace("    min_confidence: 0.5\n", "    min_confidence: 0.5\n    defer_escalations: true\n", 1)
    )
    hosted = HostedClient(policy.hosted_endpoint("big"), base_url=stand_in)
    for _ in range(100):  # the uplink is down: the hosted circuit is open
        hosted.breaker.record_failure()
    server = await serve(policy, StaticFleet(replicas), {"big": hosted}, "127.0.0.1:0")
    channel = grpc.aio.insecure_channel(server.address)
    try:
        stub = router_pb2_grpc.RouterStub(channel)
        texts = ["what is my balance", "transfer money to my savings", "how much do i have in checking"]
        for text in texts:
            req = router_pb2.InferRequest(task="classify", text=text, constraints={"min_confidence": 1.0})
            (res,) = (await stub.Infer(req)).results
            assert (
                res.degraded
                and res.degraded_reason == "hosted_unavailable"
                and res.served_by.tier == common_pb2.EDGE
            )
        deferred = server.engine.deferred
        assert deferred is not None and deferred.counts() == (3, 0, 0)
        snap = await fleet_pb2_grpc.FleetStub(channel).GetFleet(fleet_pb2.GetFleetRequest())
        assert snap.degraded.active and snap.degraded.deferred_queued == 3 and snap.degraded.answers == 3
        hosted.breaker.record_success()  # the uplink is back
        assert await deferred.drain_once() == 3 and deferred.counts() == (0, 3, 0)
    finally:
        await channel.close()
        await server.stop(0)
        await hosted.aclose()
    records, _ = read_log(tmp_path / "esc.jsonl")
    assert sorted(r.text for r in records) == sorted(texts)
    assert all(r.deferred and r.hosted.label and r.hosted.stand_in for r in records)


async def test_edge_client_against_a_real_replica(replicas: FleetState) -> None:
    dep = replicas.deployments[1]
    client = EdgeClient()
    try:
        (out,) = await client.infer(
            dep.replicas[0].address, dep.model, dep.version, ["transfer $20"], "classify", 5
        )
        assert out.probs is not None and len(out.probs) == len(dep.labels) and out.label in dep.labels
        assert out.replica == "clinc-banking-0"
        with pytest.raises(TargetError):
            await client.infer("127.0.0.1:9", "m", "1", ["x"], "classify", timeout_s=0.5)
    finally:
        await client.aclose()
