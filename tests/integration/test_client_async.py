"""The asyncio client SDK (client.AsyncEdgeFleetClient) against real routers on 127.0.0.1:0: a
router over real KServe replicas (infer, auth, the Fleet service), a router streaming from a FAKE
KServe LLM replica (generate), and a SCRIPTED Router service (retries, deadlines)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from client import (
    AsyncEdgeFleetClient,
    DeadlineExceeded,
    GenerateResult,
    InvalidArgument,
    Overloaded,
    Retraction,
    RetryPolicy,
    TextDelta,
    Tier,
    Unauthenticated,
)
from tests.fixtures.router_rig import RouterRig, generate_router, real_router
from tests.fixtures.scripted_router import ScriptedRouter, scripted_router

pytestmark = pytest.mark.integration
FAST = RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.02)
WAIT_S = 10.0


@pytest.fixture(scope="module")
async def rig(model_registry: Path) -> AsyncIterator[RouterRig]:
    async with real_router(model_registry, key_env="EDGEFLEET_SDK_ASYNC_KEYS") as running:
        yield running


async def test_infer_and_auth(rig: RouterRig) -> None:
    async with AsyncEdgeFleetClient(rig.address, api_key=rig.api_key) as ef:
        answer = (await ef.infer("how much money is in my savings", domain="banking")).result
        assert answer.served_by.tier is Tier.EDGE and answer.served_by.model == "clinc-banking"
        assert answer.domain == "banking" and [s.target for s in answer.trace] == ["clinc-banking"]
        with pytest.raises(InvalidArgument, match="unknown domain"):
            await ef.infer("x", domain="cooking")
    async with AsyncEdgeFleetClient(rig.address, api_key="wrong-key") as anonymous:
        with pytest.raises(Unauthenticated) as info:
            await anonymous.infer("x")
        assert info.value.attempts == 1


async def test_fleet_get_scale_and_watch(rig: RouterRig) -> None:
    async with AsyncEdgeFleetClient(rig.address, api_key=rig.api_key) as ef:
        before = await ef.fleet.get()
        watch = ef.fleet.watch(min_interval_ms=20)
        first = await asyncio.wait_for(anext(watch), WAIT_S)
        result = await ef.fleet.scale("clinc-banking", 4)
        assert result.ok and "desired replicas 4" in result.message
        for _ in range(50):  # traffic changes may come first: read until the new version
            snap = await asyncio.wait_for(anext(watch), WAIT_S)
            if snap.version > first.version:
                break
        await watch.aclose()
        banking = next(d for d in snap.deployments if d.name == "clinc-banking")
        assert banking.desired == 4 and snap.version > before.version
        assert not (await ef.fleet.drain("no-such-node")).ok
        assert (await ef.fleet.reload_policy("version: 7")).ok is False


async def test_generate_with_a_retraction() -> None:
    from tests.integration.test_router_generate import Behaviour

    async with generate_router() as g, AsyncEdgeFleetClient(g.address, api_key=g.api_key) as ef:
        buffered = ef.generate([("user", "Reset my password?")], max_tokens=32)
        events = [e async for e in buffered]
        assert [type(e) for e in events] == [TextDelta, GenerateResult]
        assert buffered.text == "A fine edge answer."
        g.replica.behaviours["smollm"] = Behaviour(text="Not sure at all.", confidence=0.2)
        live = ef.generate("Paris?", max_tokens=32, route="chat-live", allow_retraction=True)
        result = await live.collect()
        assert live.retractions == [Retraction(len("Not sure at all."), "low_confidence")]
        assert result.text == live.text == "The hosted answer." and result.served_by.tier is Tier.HOSTED


async def test_leaving_a_generation_cancels_it_at_the_replica() -> None:
    from tests.integration.test_router_generate import Behaviour

    async with generate_router() as g, AsyncEdgeFleetClient(g.address, api_key=g.api_key) as ef:
        g.replica.behaviours["smollm"] = Behaviour(hang_after=2)
        async with ef.generate("Paris?", max_tokens=32, route="chat-live", allow_retraction=True) as stream:
            first = await asyncio.wait_for(anext(aiter(stream)), WAIT_S)
        assert first == TextDelta("A ")
        await asyncio.wait_for(g.replica.cancelled.wait(), WAIT_S)


async def test_retries_and_deadlines() -> None:
    script = ScriptedRouter(failures=[grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE])
    async with scripted_router(script) as address, AsyncEdgeFleetClient(address, retry=FAST) as ef:
        assert (await ef.infer("x")).result.label == "scripted" and script.attempts == 3
        script.failures = [grpc.StatusCode.RESOURCE_EXHAUSTED] * 3
        with pytest.raises(Overloaded) as info:
            await ef.infer("x")
        assert info.value.attempts == 3 and script.attempts == 6
        script.delay_s = 5.0
        with pytest.raises(DeadlineExceeded):
            await ef.infer("x", timeout_s=0.2)
        assert script.attempts == 7
