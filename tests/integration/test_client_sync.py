"""The blocking client SDK (client.EdgeFleetClient) against real routers on 127.0.0.1:0.

- a router over real KServe replicas on a StaticFleet (tests.fixtures.router_rig): infer, API keys,
  bad input, the Fleet service (get, scale, drain, reload, watch);
- a router streaming from a FAKE KServe LLM replica: generate (buffered, retraction, cancellation);
- a SCRIPTED Router service (tests.fixtures.scripted_router): retries, deadlines, TLS.

The servers run in the test's event loop, so every blocking client call runs in a thread.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest

from client import (
    DeadlineExceeded,
    EdgeFleetClient,
    GenerateResult,
    InvalidArgument,
    Retraction,
    RetryPolicy,
    TextDelta,
    Tier,
    TlsConfig,
    Unauthenticated,
    Unavailable,
)
from tests.fixtures.router_rig import RouterRig, generate_router, real_router
from tests.fixtures.scripted_router import ScriptedRouter, scripted_router, tls_files, write_tls_files

pytestmark = pytest.mark.integration
T = TypeVar("T")
BALANCE = "what is the balance of my checking account"
FAST = RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.02)


async def _in_thread(fn: Callable[[], T]) -> T:
    return await asyncio.wait_for(asyncio.to_thread(fn), 30)


@pytest.fixture(scope="module")
async def rig(model_registry: Path) -> AsyncIterator[RouterRig]:
    async with real_router(model_registry, key_env="EDGEFLEET_SDK_SYNC_KEYS") as running:
        yield running


async def test_infer_one_text_and_a_batch(rig: RouterRig) -> None:
    def call() -> Any:
        with EdgeFleetClient(rig.address, api_key=rig.api_key) as ef:
            return ef.infer(BALANCE), ef.infer([BALANCE, "book a flight to Paris"], request_id="b1")

    one, batch = await _in_thread(call)
    r = one.result
    assert r.label == "balance" and r.scores[0].label == "balance" and 0 < r.confidence <= 1
    assert (
        r.served_by.tier is Tier.EDGE
        and r.served_by.model == "clinc-banking"
        and r.served_by.node == "node-a"
    )
    assert [s.target for s in r.trace] == ["domain-router", "clinc-banking"] and not r.escalated
    assert r.cost_usd == pytest.approx(0.000003) and one.request_id and r.raw is not None
    assert batch.request_id == "b1" and len(batch.results) == 2 and batch.results[0].label == "balance"


async def test_a_missing_or_wrong_key_is_unauthenticated_at_once(rig: RouterRig) -> None:
    def call(key: str | None) -> Any:
        with EdgeFleetClient(rig.address, api_key=key) as ef:
            return ef.infer(BALANCE)

    for key in (None, "wrong-key"):
        with pytest.raises(Unauthenticated) as info:
            await _in_thread(lambda key=key: call(key))
        assert info.value.attempts == 1 and info.value.code is grpc.StatusCode.UNAUTHENTICATED


async def test_bad_input_is_invalid_argument_and_not_retried(rig: RouterRig) -> None:
    def call() -> Any:
        with EdgeFleetClient(rig.address, api_key=rig.api_key) as ef:
            return ef.infer("", domain="banking")

    with pytest.raises(InvalidArgument, match="no input") as info:
        await _in_thread(call)
    assert info.value.attempts == 1


async def test_fleet_get_scale_drain_reload_and_watch(rig: RouterRig) -> None:
    def call() -> dict[str, Any]:
        out: dict[str, Any] = {}
        with EdgeFleetClient(rig.address, api_key=rig.api_key) as ef:
            out["snapshot"] = ef.fleet.get()
            out["scaled"] = ef.fleet.scale("generalist", 3)
            out["unknown"] = ef.fleet.scale("nope", 1)
            out["drained"] = ef.fleet.drain("node-a")
            out["undrained"] = ef.fleet.drain("node-a", undrain=True)
            out["bad_policy"] = ef.fleet.reload_policy("version: 7")
            watch = ef.fleet.watch(min_interval_ms=20)
            first = next(watch)
            ef.fleet.scale("generalist", 2)
            for snap in watch:  # traffic changes may come first: read until the new version
                if snap.version > first.version:
                    out["watched"] = snap
                    break
            watch.close()
        return out

    out = await _in_thread(call)
    assert {d.name for d in out["snapshot"].deployments} == {"domain-router", "clinc-banking", "generalist"}
    assert out["scaled"].ok and out["scaled"].snapshot_version > out["snapshot"].version
    assert not out["unknown"].ok and "unknown deployment" in out["unknown"].message
    assert out["drained"].ok and out["undrained"].ok
    assert not out["bad_policy"].ok and "version" in out["bad_policy"].message
    generalist = next(d for d in out["watched"].deployments if d.name == "generalist")
    assert generalist.desired == 2
    assert ("scale", "generalist", "2") in rig.fleet.actions


async def test_generate_streams_deltas_and_the_result() -> None:
    async with generate_router() as g:

        def call() -> Any:
            with (
                EdgeFleetClient(g.address, api_key=g.api_key) as ef,
                ef.generate("Reset my password?", max_tokens=32) as s,
            ):
                return list(s), s

        events, stream = await _in_thread(call)
    assert [type(e) for e in events] == [TextDelta, GenerateResult]
    result = stream.result
    assert result is not None and result.text == stream.text == "A fine edge answer."
    assert result.served_by.tier is Tier.EDGE and result.route == "chat" and result.completion_tokens == 4


async def test_generate_surfaces_a_retraction_and_the_hosted_answer() -> None:
    from tests.integration.test_router_generate import Behaviour

    async with generate_router() as g:
        g.replica.behaviours["smollm"] = Behaviour(text="Not sure at all.", confidence=0.2)

        def call() -> Any:
            with EdgeFleetClient(g.address, api_key=g.api_key) as ef:
                stream = ef.generate("Paris?", max_tokens=32, route="chat-live", allow_retraction=True)
                return list(stream), stream

        events, stream = await _in_thread(call)
    retractions = [e for e in events if isinstance(e, Retraction)]
    assert retractions == [Retraction(len("Not sure at all."), "low_confidence")]
    assert stream.text == stream.result.text == "The hosted answer."
    assert stream.result.served_by.tier is Tier.HOSTED
    assert [(s.target, s.outcome) for s in stream.result.trace] == [
        ("llm-small", "escalate"),
        ("hosted:big", "ok"),
    ]


async def test_leaving_a_generation_early_cancels_it_at_the_replica() -> None:
    from tests.integration.test_router_generate import Behaviour

    async with generate_router() as g:
        g.replica.behaviours["smollm"] = Behaviour(hang_after=2)

        def call() -> str:
            with EdgeFleetClient(g.address, api_key=g.api_key) as ef:
                with ef.generate("Paris?", max_tokens=32, route="chat-live", allow_retraction=True) as s:
                    for event in s:
                        assert isinstance(event, TextDelta)
                        return event.text
                return ""

        assert await _in_thread(call) == "A "
        await asyncio.wait_for(g.replica.cancelled.wait(), 10)


async def test_bad_generation_requests_are_invalid_argument() -> None:
    async with generate_router() as g:

        def call() -> Any:
            with EdgeFleetClient(g.address, api_key=g.api_key) as ef:
                return ef.generate("hi", max_tokens=0).collect()

        with pytest.raises(InvalidArgument, match="max_tokens"):
            await _in_thread(call)


async def test_unavailable_and_overloaded_are_retried_then_answered() -> None:
    script = ScriptedRouter(failures=[grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED])
    async with scripted_router(script) as address:

        def call() -> Any:
            with EdgeFleetClient(address, api_key="k", retry=FAST) as ef:
                return ef.infer("x")

        assert (await _in_thread(call)).result.label == "scripted"
    assert script.attempts == 3
    assert all(m.get("authorization") == "Bearer k" for m in script.metadata)


async def test_fatal_codes_and_deadlines_are_not_retried() -> None:
    script = ScriptedRouter(failures=[grpc.StatusCode.INVALID_ARGUMENT])
    async with scripted_router(script) as address:

        def call(timeout_s: float | None = None) -> Any:
            with EdgeFleetClient(address, retry=FAST) as ef:
                return ef.infer("x", timeout_s=timeout_s)

        with pytest.raises(InvalidArgument):
            await _in_thread(call)
        assert script.attempts == 1
        script.delay_s = 5.0
        with pytest.raises(DeadlineExceeded):
            await _in_thread(lambda: call(0.2))
        assert script.attempts == 2


async def test_an_unreachable_router_is_unavailable_after_the_retries() -> None:
    with socket.socket() as held:  # bound, never listening: connections are refused
        held.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{held.getsockname()[1]}"

        def call() -> Any:
            with EdgeFleetClient(address, retry=FAST, timeout_s=10.0) as ef:
                return ef.infer("x")

        with pytest.raises(Unavailable) as info:
            await _in_thread(call)
    assert info.value.attempts == 3


async def test_mutual_tls(tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    tls = tls_files()
    paths = write_tls_files(tls, tmp_path)
    script = ScriptedRouter()
    async with scripted_router(script, tls) as address:

        def call(config: TlsConfig) -> Any:
            with EdgeFleetClient(address, tls=config, retry=RetryPolicy.never(), timeout_s=10.0) as ef:
                return ef.infer("x")

        good = TlsConfig(
            root_ca=paths["ca"],
            client_cert=paths["cert"],
            client_key=paths["key"],
            server_name=tls.server_name,
        )
        assert (await _in_thread(lambda: call(good))).result.label == "scripted"
        without_cert = TlsConfig(root_ca=tls.ca, server_name=tls.server_name)
        with pytest.raises(Unavailable):
            await _in_thread(lambda: call(without_cert))
    assert script.attempts == 1
