"""In-memory fakes for generation tests: a policy with generate routes, a fleet of edge LLM
deployments, and FAKE edge / hosted generators implementing router.domain.EdgeGenerator and
router.domain.HostedGenerator with scripted answers (no sockets)."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field

from edgefleet.generation import ChatMessage, GenerationChunk, SamplingParams
from edgefleet.policy.loader import parse_policy
from edgefleet.policy.schema import Policy
from edgefleet.state import DeploymentState, FleetState, ReplicaState
from router.accounting import Accounting
from router.domain import GenerateConstraints, GenerateInput
from router.engine import RouterEngine
from router.errors import TargetError
from router.estimates import Estimates
from router.fleet_source import StaticFleet
from tests.unit.router_fakes import FakeEdge

GEN_POLICY_YAML = """
version: 1
router:
  max_inflight: 8
  max_prompt_chars: 4000
deployments:
  - {name: llm-small, model: smollm, price_per_call_usd: 0.00001}
  - {name: llm-large, model: qwen, price_per_call_usd: 0.0001}
  - {name: llm-banking, model: smollm-banking, price_per_call_usd: 0.00002}
  - {name: classifier, model: clinc-banking, price_per_call_usd: 0.00001}
hosted:
  - name: big
    base_url: http://big.example/v1
    model: big-model
    price_per_1k_input_usd: 0.01
    price_per_1k_output_usd: 0.03
routes:
  - name: chat
    task: generate
    specialists: {banking: [llm-banking]}
    targets: [llm-large, llm-small]
    fallback: big
    min_confidence: 0.5
  - name: chat-live
    task: generate
    domains: [travel]
    targets: [llm-small]
    fallback: big
    edge_stream: immediate
    max_tokens: 32
  - name: edge-only
    task: generate
    domains: [cooking]
    targets: [llm-small]
  - name: intents
    task: classify
    targets: [classifier]
"""

CONTEXT = {"smollm": 2048, "qwen": 4096, "smollm-banking": 0, "clinc-banking": 0}
LP_SURE = math.log(0.9)  # confidence 0.9
LP_UNSURE = math.log(0.3)  # confidence 0.3


def gen_policy(text: str = GEN_POLICY_YAML) -> Policy:
    """The generation test policy."""
    return parse_policy(text)


def gen_state(replicas: int = 2, version: int = 1) -> FleetState:
    """Every deployment of the policy with `replicas` ready replicas (LLMs: task generate)."""
    deployments = []
    for dep in gen_policy().deployments:
        reps = [
            ReplicaState(f"{dep.name}-{i}", dep.name, f"n{i}", f"node-{i}", "CPU", f"{dep.name}:{i}", "ready")
            for i in range(replicas)
        ]
        task = "classify" if dep.name == "classifier" else "generate"
        deployments.append(
            DeploymentState(
                name=dep.name,
                model=dep.model,
                version="1",
                precision="INT4",
                desired=replicas,
                ready=replicas,
                replicas=reps,
                price_per_call_usd=dep.price_per_call_usd,
                task=task,
                context_length=CONTEXT[dep.model],
            )
        )
    return FleetState(version=version, deployments=deployments)


def chunks(
    text: str, logprob: float, *, prompt_tokens: int = 12, finish: str = "stop"
) -> list[GenerationChunk]:
    """`text` as one chunk per word, one token each, with a final chunk carrying the counts."""
    words = [w + " " for w in text.split(" ")]
    words[-1] = words[-1].rstrip(" ")
    out = [GenerationChunk(w, (logprob,)) for w in words]
    out.append(
        GenerationChunk("", (), True, finish, prompt_tokens=prompt_tokens, completion_tokens=len(words))  # type: ignore[arg-type]
    )
    return out


@dataclass
class Script:
    """What a FAKE generator does for one model: yield `chunks`; after `gate_after` chunks wait
    for `gate` (None: never wait; an unset event: hang); after `fail_after` chunks raise `error`."""

    chunks: list[GenerationChunk]
    gate_after: int | None = None
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    fail_after: int | None = None
    error: Exception = field(default_factory=lambda: TargetError("replica failed: INTERNAL"))


class FakeEdgeGenerator:
    """FAKE EdgeGenerator: scripted streams per model. Records the calls, the streams still open
    and the streams closed before their end (cancelled, as the replica would see it)."""

    def __init__(self, scripts: dict[str, Script] | None = None) -> None:
        self.scripts = scripts or {}
        self.calls: list[tuple[str, str, SamplingParams, float]] = []  # (address, model, params, timeout_s)
        self.metadata: list[Sequence[tuple[str, str]] | None] = []  # gRPC metadata of each call
        self.open = 0
        self.cancelled: list[str] = []
        self.started = asyncio.Event()

    def generate(
        self,
        address: str,
        model: str,
        version: str,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        timeout_s: float,
        *,
        metadata: Sequence[tuple[str, str]] | None = None,
    ) -> AsyncIterator[GenerationChunk]:
        self.calls.append((address, model, params, timeout_s))
        self.metadata.append(metadata)
        return self._stream(model)

    async def _stream(self, model: str) -> AsyncIterator[GenerationChunk]:
        script = self.scripts.get(model) or Script(chunks("A fine edge answer.", LP_SURE))
        self.open += 1
        self.started.set()
        done = False
        try:
            for i, chunk in enumerate(script.chunks):
                if i == script.gate_after:
                    await script.gate.wait()
                if i == script.fail_after:
                    done = True  # the replica ended it, not the caller
                    raise script.error
                await asyncio.sleep(0)
                done = chunk.final  # the caller may close the stream once it has the final chunk
                yield chunk
        finally:
            self.open -= 1
            if not done:
                self.cancelled.append(model)


class FakeHostedGenerator:
    """FAKE HostedGenerator (router.hosted.HostedClient.chat_stream's interface): answers
    `text` word by word with usage (100 prompt tokens); `fail_after` chunks then TargetError."""

    def __init__(self, text: str = "The hosted answer.", fail_after: int | None = None) -> None:
        self.text = text
        self.fail_after = fail_after
        self.circuit_state = "closed"
        self.base_url = "http://big.example/v1"
        self.calls: list[tuple[tuple[ChatMessage, ...], SamplingParams, float]] = []
        self.headers: list[Mapping[str, str] | None] = []  # extra HTTP headers of each call
        self.cancelled = 0

    async def chat_stream(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        timeout_s: float,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[GenerationChunk]:
        self.calls.append((tuple(messages), params, timeout_s))
        self.headers.append(headers)
        done = False
        try:
            for i, chunk in enumerate(chunks(self.text, math.log(0.95), prompt_tokens=100)):
                if i == self.fail_after:
                    raise TargetError("hosted endpoint 'big' failed mid-stream: connection reset")
                await asyncio.sleep(0)
                done = chunk.final
                yield chunk
        finally:
            if not done:
                self.cancelled += 1


def gen_engine(
    edge: FakeEdgeGenerator | None = None,
    hosted: FakeHostedGenerator | None = None,
    policy: Policy | None = None,
    accounting: Accounting | None = None,
) -> tuple[RouterEngine, FakeEdgeGenerator, FakeHostedGenerator]:
    """A RouterEngine over the generation fakes."""
    edge = edge or FakeEdgeGenerator()
    hosted = hosted or FakeHostedGenerator()
    engine = RouterEngine(
        policy or gen_policy(),
        StaticFleet(gen_state()),
        FakeEdge(),
        {"big": hosted},  # type: ignore[dict-item]
        accounting=accounting or Accounting(None),
        estimates=Estimates(),
        rng=random.Random(0),
        generator=edge,
    )
    return engine, edge, hosted


def gen_input(
    text: str = "How do I reset my password?",
    *,
    route: str | None = None,
    domain: str | None = None,
    max_tokens: int = 64,
    allow_retraction: bool = False,
    **constraints: float,
) -> GenerateInput:
    """A validated generation request."""
    return GenerateInput(
        "g1",
        (ChatMessage("user", text),),
        SamplingParams(max_tokens=max_tokens),
        route=route,
        domain=domain,
        constraints=GenerateConstraints(**constraints),
        allow_retraction=allow_retraction,
    )
