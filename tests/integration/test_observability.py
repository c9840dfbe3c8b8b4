"""Metrics and traces over real sockets: a router (gRPC + its HTTP front door on 127.0.0.1:0) in
front of a real replica (:class:`fleet.serving.replica.Replica`, KServe v2 + its own /metrics
server, no Ray) and the real stand-in. Both /metrics endpoints are scraped over HTTP and parsed
with prometheus_client's parser; a routed request must move the right counters, and its trace must
continue the caller's traceparent and reach the hosted endpoint."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import grpc
import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from edgefleet.policy.loader import parse_policy
from edgefleet.state import DeploymentState, FleetState, NodeState, ReplicaPhase, ReplicaState
from protos.edgefleet.v1 import common_pb2, router_pb2, router_pb2_grpc
from router.fleet_source import StaticFleet
from router.server import RouterServer, serve
from router.tracing import Tracing

pytestmark = pytest.mark.integration
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_PARENT = f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"
POLICY = """
version: 1
router: {{default_timeout_ms: 5000}}
deployments:
  - {{name: generalist, model: generalist, price_per_call_usd: 0.000005}}
hosted:
  - {{name: big, base_url: {url}, model: stand-in, price_per_1k_input_usd: 0.005, price_per_1k_output_usd: 0.015,
      timeout_ms: 3000, retries: 0}}
routes:
  - {{name: intents, task: classify, targets: [generalist], fallback: big, min_confidence: 0.3}}
  - {{name: hosted-only, task: classify, fallback: big}}
"""


def _families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _value(families: dict[str, Any], sample: str, **labels: str) -> float:
    for family in families.values():
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


@pytest.fixture(scope="module")
def replica(model_bundle: Callable[[str], Any]) -> Iterator[Any]:
    from fleet.serving.replica import Replica

    rep = Replica(
        "generalist-r0", "generalist", model_bundle("generalist"), ["CPU"], "node-a", host="127.0.0.1"
    )
    rep.start()
    try:
        yield rep
    finally:
        rep.stop(0.5)


class _HeaderRecorder(BaseHTTPRequestHandler):
    """A hosted endpoint that records the headers it receives and answers 503 (never a label)."""

    seen: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        self.seen.append({k.lower(): v for k, v in self.headers.items()})
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(503)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def hosted_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HeaderRecorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
async def router(replica: Any, hosted_url: str) -> AsyncIterator[tuple[RouterServer, InMemorySpanExporter]]:
    from router.hosted import HostedClient

    health = replica.health()
    rep = ReplicaState(
        "generalist-r0", "generalist", "n1", "node-a", health["device"], health["address"], ReplicaPhase.READY
    )
    dep = DeploymentState("generalist", "generalist", health["version"], "FP32", 1, 1, [rep],
                          price_per_call_usd=0.000005, task="classify",
                          labels=list(replica._model.labels))  # fmt: skip
    state = FleetState(1, 0.0, [NodeState("n1", "node-a", "127.0.0.1")], [dep], [])
    policy = parse_policy(POLICY.format(url=hosted_url))
    hosted = HostedClient(policy.hosted_endpoint("big"), base_url=hosted_url)
    exporter = InMemorySpanExporter()
    server = await serve(
        policy, StaticFleet(state), {"big": hosted}, "127.0.0.1:0", http_listen="127.0.0.1:0",
        tracing=Tracing(exporter=exporter),
    )  # fmt: skip
    try:
        yield server, exporter
    finally:
        await server.stop(0)
        await hosted.aclose()


async def test_a_routed_request_moves_router_and_replica_metrics(
    router: tuple[RouterServer, InMemorySpanExporter], replica: Any
) -> None:
    server, _ = router
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = router_pb2_grpc.RouterStub(channel)
        resp = await stub.Infer(
            router_pb2.InferRequest(
                task="classify", route="intents", text="what is my checking account balance"
            ),
            timeout=10,
        )
    assert resp.results[0].served_by.tier == common_pb2.EDGE
    async with httpx.AsyncClient(timeout=10) as client:
        router_text = (await client.get(f"http://{server.http_address}/metrics")).text
        replica_text = (await client.get(f"http://{replica.health()['metrics_address']}/metrics")).text
    r = _families(router_text)
    assert r["edgefleet_router_requests"].type == "counter"
    assert r["edgefleet_router_request_duration_seconds"].type == "histogram"
    assert r["edgefleet_router_circuit_breakers"].type == "gauge"
    labels = {"route": "intents", "task": "classify"}
    assert _value(r, "edgefleet_router_requests_total", tier="edge", outcome="ok", **labels) == 1
    assert _value(r, "edgefleet_router_request_duration_seconds_count", **labels) == 1
    assert _value(r, "edgefleet_router_spend_usd_total", kind="edge") == pytest.approx(0.000005)
    assert _value(r, "edgefleet_fleet_replicas", deployment="generalist", state="ready") == 1
    assert _value(r, "edgefleet_router_circuit_breakers", target="generalist", state="closed") == 1
    assert _value(r, "edgefleet_router_fleet_view_age_seconds") >= 0
    p = _families(replica_text)
    assert p["edgefleet_replica_requests"].type == "counter"
    assert p["edgefleet_replica_request_duration_seconds"].type == "histogram"
    assert p["edgefleet_replica_queue_depth"].type == "gauge"
    assert _value(p, "edgefleet_replica_requests_total", deployment="generalist") == 1
    assert _value(p, "edgefleet_replica_request_duration_seconds_count", deployment="generalist") == 1
    assert _value(p, "edgefleet_replica_batch_size_sum", deployment="generalist") == 1
    assert _value(p, "edgefleet_replica_info", replica="generalist-r0", node="node-a") == 1


async def test_the_callers_trace_reaches_the_hosted_endpoint_and_comes_back(
    router: tuple[RouterServer, InMemorySpanExporter],
) -> None:
    server, exporter = router
    _HeaderRecorder.seen.clear()
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = router_pb2_grpc.RouterStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as failed:  # the hosted endpoint answers 503
            await stub.Infer(
                router_pb2.InferRequest(task="classify", route="hosted-only", text="hello there"),
                metadata=(("traceparent", CALLER_PARENT),),
                timeout=10,
            )
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    (headers,) = _HeaderRecorder.seen
    hosted_call = next(s for s in exporter.get_finished_spans() if s.name == "hosted_call")
    assert headers["traceparent"] == f"00-{CALLER_TRACE}-{hosted_call.context.span_id:016x}-01"
    root = next(s for s in exporter.get_finished_spans() if s.context.span_id == hosted_call.parent.span_id)
    assert root.name == "edgefleet.v1.Router/Infer" and not root.status.is_ok
    assert format(root.context.trace_id, "032x") == CALLER_TRACE
    async with httpx.AsyncClient(timeout=10) as client:
        r = _families((await client.get(f"http://{server.http_address}/metrics")).text)
    assert (
        _value(r, "edgefleet_router_requests_total", route="hosted-only", tier="none", outcome="unavailable")
        == 1
    )
    assert (
        _value(r, "edgefleet_router_circuit_breakers", target="hosted:big", tier="hosted", state="closed")
        == 1
    )
