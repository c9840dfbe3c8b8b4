"""The narrow interface the HTTP front door routes through (:class:`RoutingPort`), and its
implementation over the router's :class:`router.engine.RouterEngine` (:class:`EnginePort`).

The front door sees nothing of the engine but this: the policy in force (routes, limits), the
known domains, ``infer`` (classify/embed) and ``generate`` with the router/domain.py generation
contract (GenerateInput in; TextDelta, Retraction and GenerateFinal events out). Tests plug in a
fake.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from edgefleet.policy.schema import Policy
from edgefleet.policy.security_options import KeyLimits
from router.domain import GenerateEvent, GenerateInput, InferInput, InferOutput
from router.engine import RouterEngine


class RoutingPort(Protocol):
    """What the front door needs from the routing engine."""

    @property
    def policy(self) -> Policy:
        """The policy in force (routes, request limits)."""
        ...

    async def known_domains(self) -> set[str]:
        """Domains a request may name."""
        ...

    def admit(self, key_id: str, limits: KeyLimits, /) -> None:
        """Count one request of the key against its rate limit (raises router.errors.LimitExceeded)."""
        ...

    async def infer(self, req: InferInput, timeout_s: float | None, /) -> InferOutput:
        """Answer a validated classify/embed request; raises router.errors.RouterError."""
        ...

    def generate(self, req: GenerateInput, timeout_s: float | None, /) -> AsyncIterator[GenerateEvent]:
        """The events of one generation, the last a GenerateFinal; raises router.errors.RouterError
        (before the first event or mid-way). Closing the iteration cancels the generation."""
        ...


class EnginePort:
    """RoutingPort over a RouterEngine. ``generate`` is ``RouterEngine.generate(req, timeout_s)``
    when the engine has one (the Generate engine is written in parallel); until then generation
    answers Unavailable."""

    def __init__(self, engine: RouterEngine) -> None:
        self.engine = engine

    @property
    def policy(self) -> Policy:
        """The engine's policy (follows reloads)."""
        return self.engine.policy

    async def known_domains(self) -> set[str]:
        """The engine's known domains."""
        return await self.engine.known_domains()

    def admit(self, key_id: str, limits: KeyLimits, /) -> None:
        """The engine's key gate."""
        self.engine.gate.admit(key_id, limits)

    async def infer(self, req: InferInput, timeout_s: float | None, /) -> InferOutput:
        """RouterEngine.infer."""
        return await self.engine.infer(req, timeout_s)

    def generate(self, req: GenerateInput, timeout_s: float | None, /) -> AsyncIterator[GenerateEvent]:
        """RouterEngine.generate."""
        return self.engine.generate(req, timeout_s)
