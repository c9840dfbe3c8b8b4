"""The front door's engine port over a real RouterEngine with fakes (router/http/port.py)."""

from __future__ import annotations

import pytest

from edgefleet.generation import ChatMessage, SamplingParams
from router.domain import GenerateInput, InferInput, TextDelta
from router.engine import RouterEngine
from router.errors import InvalidRequest
from router.fleet_source import StaticFleet
from router.http.port import EnginePort, RoutingPort
from tests.unit.router_fakes import FakeEdge, FakeHosted, make_policy, make_state

REQUEST = GenerateInput("r1", (ChatMessage("user", "hi"),), SamplingParams())


def engine() -> RouterEngine:
    return RouterEngine(make_policy(), StaticFleet(make_state()), FakeEdge(), {"big": FakeHosted()})


async def test_infer_policy_and_domains_come_from_the_engine() -> None:
    port: RoutingPort = EnginePort(engine())
    out = await port.infer(InferInput("q", "embed", ("hello",)), 1.0)
    assert out.results[0].embedding == (0.6, 0.8) and out.results[0].route == "embeddings"
    assert port.policy.routes[0].name == "intents" and "banking" in await port.known_domains()


async def test_generate_goes_to_the_real_engine() -> None:
    port = EnginePort(engine())  # the fake policy has no generate route: the engine says so
    with pytest.raises(InvalidRequest, match="generate"):
        await anext(port.generate(REQUEST, 1.0))


async def test_generate_delegates_when_the_engine_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = engine()
    seen = []

    async def generate(req: GenerateInput, timeout_s: float | None):  # type: ignore[no-untyped-def]
        seen.append((req.request_id, timeout_s))
        yield TextDelta("hi")

    monkeypatch.setattr(real, "generate", generate, raising=False)
    events = [e async for e in EnginePort(real).generate(REQUEST, 2.5)]
    assert events == [TextDelta("hi")] and seen == [("r1", 2.5)]
