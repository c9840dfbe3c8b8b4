"""A scripted RoutingPort for the HTTP front door's tests (router/http/port.py): generation answers
from a script keyed on words in the last user message, infer delegates to a real RouterEngine when
one is given (else a fixed embedding)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from edgefleet.policy.loader import parse_policy
from edgefleet.policy.schema import Policy
from router.domain import (
    GenerateEvent,
    GenerateFinal,
    GenerateInput,
    InferInput,
    InferOutput,
    Result,
    Retraction,
    ServedBy,
    Step,
    TextDelta,
)
from router.engine import RouterEngine
from router.errors import DeadlineExceeded, Overloaded, Unavailable

FRONT_DOOR_POLICY = """
version: 1
router:
  max_text_chars: 200
  default_timeout_ms: 2000
  api_keys_env: {keys_env}
deployments:
  - {{name: encoder, model: generalist, price_per_call_usd: 0.000001}}
hosted:
  - {{name: big, base_url: "http://127.0.0.1:9/v1", model: big-model, price_per_1k_input_usd: 0.01}}
routes:
  - {{name: chat, task: generate, fallback: big}}
  - {{name: chat-hosted, task: generate, fallback: big}}
  - {{name: intents, task: classify, fallback: big}}
  - {{name: embed, task: embed, targets: [encoder]}}
"""

ANSWER = "The capital of France is Paris."
SERVED = ServedBy("smollm2", "1", "llm-0", "edge-a", "CPU", "edge")
HOSTED = ServedBy("big-model", "", "", "", "", "hosted", stand_in=True)


def front_door_policy(keys_env: str = "EDGEFLEET_TEST_HTTP_KEYS") -> Policy:
    """The front door tests' policy: two generate routes, a classify route, an embed route."""
    return parse_policy(FRONT_DOOR_POLICY.format(keys_env=keys_env))


def final(req: GenerateInput, text: str, served: ServedBy = SERVED) -> GenerateFinal:
    """A GenerateFinal for `text`."""
    return GenerateFinal(
        request_id=req.request_id,
        text=text,
        served_by=served,
        prompt_tokens=21,
        completion_tokens=8,
        cost_usd=0.0000123,
        confidence=0.87,
        finish_reason="length" if req.params.max_tokens < 8 else "stop",
        latency_ms=42.0,
        time_to_first_token_ms=7.5,
        trace=(Step("smollm2", "ok", "confident (0.87)", 40.0),),
        route=req.route or "",
        domain=req.domain or "",
    )


@dataclass
class ScriptedPort:
    """RoutingPort: "refuse" -> Overloaded, "unavailable" -> Unavailable, "deadline" ->
    DeadlineExceeded before any event; "break" -> Unavailable after the first delta; "retract" ->
    a Retraction; "hosted" -> served by the stand-in; anything else streams ANSWER word by word."""

    policy: Policy = field(default_factory=front_door_policy)
    engine: RouterEngine | None = None
    requests: list[tuple[GenerateInput, float | None]] = field(default_factory=list)
    closed: int = 0

    def admit(self, key_id: str, limits: object, /) -> None:
        """No rate limits here."""

    async def known_domains(self) -> set[str]:
        return {"banking", "travel"}

    async def infer(self, req: InferInput, timeout_s: float | None, /) -> InferOutput:
        if self.engine is not None:
            return await self.engine.infer(req, timeout_s)
        results = tuple(
            Result(
                None,
                (),
                (0.6, 0.8),
                1.0,
                SERVED,
                0.000001,
                3.0,
                (Step("encoder", "ok", "embedding", 3.0),),
                "",
                "embed",
            )
            for _ in req.texts
        )
        return InferOutput(req.request_id, results, 0.000001 * len(results), 4.0)

    def generate(self, req: GenerateInput, timeout_s: float | None, /) -> AsyncIterator[GenerateEvent]:
        self.requests.append((req, timeout_s))
        return self._events(req)

    async def _events(self, req: GenerateInput) -> AsyncIterator[GenerateEvent]:
        try:
            prompt = req.messages[-1].content
            for word, error in (
                ("refuse", Overloaded),
                ("unavailable", Unavailable),
                ("deadline", DeadlineExceeded),
            ):
                if word in prompt:
                    raise error(f"scripted {word}")
            words = ANSWER.split(" ")
            pieces = [w if i == 0 else " " + w for i, w in enumerate(words)][: req.params.max_tokens]
            for i, piece in enumerate(pieces):
                await asyncio.sleep(0)
                yield TextDelta(piece)
                if i == 0 and "break" in prompt:
                    raise Unavailable("hosted stream broke after 3 characters: connection reset")
                if i == 0 and "retract" in prompt:
                    yield Retraction(3, "low confidence")
            yield final(req, "".join(pieces), HOSTED if "hosted" in prompt else SERVED)
        finally:
            self.closed += 1
