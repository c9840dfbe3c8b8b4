"""Abuse of a live router (gRPC and the front door on 127.0.0.1:0, fakes behind it): a stream
client that never reads, 1,000 WatchFleet opens, Scale to 10,000, a key over its budget and over
its rate, an app key calling the Fleet service. The router must refuse with the right status,
name the limit, keep its memory bounded and keep serving everyone else."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from edgefleet.policy.loader import parse_policy
from protos.edgefleet.v1 import common_pb2, fleet_pb2, fleet_pb2_grpc, router_pb2, router_pb2_grpc
from router.domain import EdgeOutput
from router.fleet_source import StaticFleet
from router.keyfile import add_key
from router.server import RouterServer, serve
from tests.fuzz.live import POLICY_YAML, FuzzEdge, FuzzHosted, fleet_state, rss_mb

pytestmark = pytest.mark.integration


class CountingEdge(FuzzEdge):
    """Counts the texts the router sent to the edge (what it has read of its streams)."""

    def __init__(self) -> None:
        self.texts = 0

    async def infer(
        self,
        address: str,
        model: str,
        version: str,
        texts: Sequence[str],
        task: str,
        timeout_s: float,
        **kw: Any,
    ) -> list[EdgeOutput]:
        self.texts += len(texts)
        return await super().infer(address, model, version, texts, task, timeout_s, **kw)


class Keys:
    app = ""
    ops = ""
    poor = ""
    slow = ""


@pytest.fixture(scope="module")
async def abused(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[RouterServer, CountingEdge, Keys]]:
    folder = tmp_path_factory.mktemp("abuse")
    key_file = folder / "keys.yaml"
    keys = Keys()
    keys.app = add_key(key_file, "shop", "app")
    keys.ops = add_key(key_file, "ops", "operator")
    keys.poor = add_key(key_file, "poor", "app", budget_usd_per_day=0.00005)
    keys.slow = add_key(key_file, "slow", "app", rate_per_s=0.001, burst=2)
    text = POLICY_YAML.replace(
        "  api_keys_env: EDGEFLEET_FUZZ_KEYS\n",
        f"  api_keys_file: {key_file}\n  ledger: {folder / 'ledger.sqlite'}\n",
    )
    edge = CountingEdge()
    server = await serve(
        parse_policy(text), StaticFleet(fleet_state()), {"big": FuzzHosted()}, "127.0.0.1:0",  # type: ignore[dict-item]
        edge=edge, http_listen="127.0.0.1:0", policy_path=folder / "edgefleet.yaml",  # type: ignore[arg-type]
    )  # fmt: skip
    try:
        yield server, edge, keys
    finally:
        await server.stop(0)


def _md(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


async def _until(condition: Any, what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_a_stream_client_that_never_reads(abused: tuple[RouterServer, CountingEdge, Keys]) -> None:
    """The router stops reading a stream whose client stops reading: what it routes stays bounded
    however much the client tries to send, memory stays flat, other callers are served."""
    server, edge, keys = abused
    options = [("grpc.http2.bdp_probe", 0)]  # the client's receive window stays at its initial size
    async with grpc.aio.insecure_channel(server.address, options=options) as channel:
        stub = router_pb2_grpc.RouterStub(channel)
        call = stub.InferStream(metadata=_md(keys.app))
        before_texts, before_mb = edge.texts, rss_mb()
        request = router_pb2.InferRequest(task="classify", text="what is my balance " + "x" * 1900)
        written = 0
        for i in range(5000):
            request.request_id = f"{i:0128d}"
            try:
                await asyncio.wait_for(call.write(request), 2.0)  # blocks once the router stops reading
            except TimeoutError:
                break
            written += 1
        routed = edge.texts - before_texts
        assert written < 5000, "the router kept reading a stream nobody reads"
        assert routed <= 1000, f"routed {routed} requests for a client that reads nothing"
        other = await router_pb2_grpc.RouterStub(channel).Infer(
            router_pb2.InferRequest(task="classify", text="what is my balance"),
            timeout=10,
            metadata=_md(keys.app),
        )
        assert other.results[0].classification.label
        assert rss_mb() - before_mb < 64
        call.cancel()
    await _until(lambda: server.engine.inflight == 0, "the stream's requests to end")


async def test_thousand_watch_fleet_opens(abused: tuple[RouterServer, CountingEdge, Keys]) -> None:
    server, _, keys = abused
    cap = server.policy.router.limits.watch_streams
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = fleet_pb2_grpc.FleetStub(channel)
        calls = [
            stub.WatchFleet(fleet_pb2.WatchFleetRequest(min_interval_ms=1), metadata=_md(keys.ops))
            for _ in range(1000)
        ]

        async def first(call: Any) -> grpc.StatusCode:
            try:
                await asyncio.wait_for(call.read(), 20)
                return grpc.StatusCode.OK
            except grpc.aio.AioRpcError as exc:
                return exc.code()

        codes = await asyncio.gather(*(first(c) for c in calls))
        assert codes.count(grpc.StatusCode.OK) == cap
        assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 1000 - cap
        assert (
            server.engine.inflight == 0
            and (await stub.GetFleet(fleet_pb2.GetFleetRequest(), metadata=_md(keys.ops))).routes
        )
        for call in calls:
            call.cancel()
    await _until(lambda: _watchers(server) == 0, "the watch streams to close")


def _watchers(server: RouterServer) -> int:
    return server.fleet_servicer.watchers if server.fleet_servicer is not None else -1


async def test_scale_to_ten_thousand(abused: tuple[RouterServer, CountingEdge, Keys]) -> None:
    server, _, keys = abused
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = fleet_pb2_grpc.FleetStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Scale(
                fleet_pb2.ScaleRequest(deployment="classifier", replicas=10_000), metadata=_md(keys.ops)
            )
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "fleet.max_replicas_per_deployment" in (info.value.details() or "")
        snap = await stub.GetFleet(fleet_pb2.GetFleetRequest(), metadata=_md(keys.ops))
        assert next(d for d in snap.deployments if d.name == "classifier").desired == 2


async def test_a_key_over_its_budget_or_rate(abused: tuple[RouterServer, CountingEdge, Keys]) -> None:
    """The budget holds against what requests really cost (the ledger, per key id); the refusal is
    RESOURCE_EXHAUSTED (HTTP 429) naming the limit; other keys go on."""
    server, _, keys = abused
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = router_pb2_grpc.RouterStub(channel)
        request = router_pb2.InferRequest(task="classify", text="transfer money")  # unsure at the edge
        answers, details, code = [], "", grpc.StatusCode.OK
        for _ in range(20):
            try:
                answers.append(await stub.Infer(request, timeout=10, metadata=_md(keys.poor)))
            except grpc.aio.AioRpcError as exc:
                code, details = exc.code(), exc.details() or ""
                break
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "daily budget of key 'poor' is spent" in details
        # the hosted fallback ($0.00065) never fitted the key's $0.00005: the edge answers were kept
        assert answers and all(a.results[0].served_by.tier == common_pb2.EDGE for a in answers)
        spent = server.engine.accounting.ledger.day("poor").total_usd
        assert 0.00005 - 1e-9 <= spent <= 0.00005 + 1e-9
        assert server.engine.accounting.ledger.day(keys.poor).total_usd == 0.0
        assert (await stub.Infer(request, timeout=10, metadata=_md(keys.app))).results
        slow = [await _code(stub, keys.slow) for _ in range(3)]
        assert (
            slow[:2] == [grpc.StatusCode.OK, grpc.StatusCode.OK]
            and slow[2] == grpc.StatusCode.RESOURCE_EXHAUSTED
        )
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
        response = await http.post(
            "/chat/completions", json=body, headers={"Authorization": f"Bearer {keys.poor}"}
        )
        assert response.status_code == 429 and "budget of key 'poor'" in response.json()["error"]["message"]
        response = await http.post(
            "/chat/completions", json=body, headers={"Authorization": f"Bearer {keys.slow}"}
        )
        assert (
            response.status_code == 429 and "rate limit of key 'slow'" in response.json()["error"]["message"]
        )


async def _code(stub: router_pb2_grpc.RouterStub, key: str) -> grpc.StatusCode:
    """OK, RESOURCE_EXHAUSTED for the key's rate limit, or UNKNOWN for anything else."""
    request = router_pb2.InferRequest(task="classify", text="what is my balance")
    try:
        await stub.Infer(request, timeout=10, metadata=_md(key))
    except grpc.aio.AioRpcError as exc:
        return exc.code() if "rate limit of key 'slow'" in (exc.details() or "") else grpc.StatusCode.UNKNOWN
    return grpc.StatusCode.OK


async def test_an_app_key_calling_fleet(abused: tuple[RouterServer, CountingEdge, Keys]) -> None:
    server, _, keys = abused
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = fleet_pb2_grpc.FleetStub(channel)
        for call in (
            stub.GetFleet(fleet_pb2.GetFleetRequest(), metadata=_md(keys.app)),
            stub.Scale(fleet_pb2.ScaleRequest(deployment="classifier", replicas=1), metadata=_md(keys.app)),
            stub.Drain(fleet_pb2.DrainRequest(node="node-0"), metadata=_md(keys.app)),
            stub.ReloadPolicy(fleet_pb2.ReloadPolicyRequest(yaml="version: 1"), metadata=_md(keys.app)),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call
            assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "key 'shop' has role 'app'" in (info.value.details() or "")
        watch = stub.WatchFleet(fleet_pb2.WatchFleetRequest(), metadata=_md(keys.app))
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await watch.read()
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert Path(server.policy_path or "").name == "edgefleet.yaml"
