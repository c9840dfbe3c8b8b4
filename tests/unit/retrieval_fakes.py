"""In-memory fakes for retrieval through the router: a policy whose generate routes retrieve, a
fleet with a retriever deployment, a FAKE retriever (router.domain.EdgeRetriever) with scripted
passages or failures, and an edge generator that records the messages it was sent (no sockets)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from edgefleet.generation import ChatMessage, GenerationChunk, SamplingParams
from edgefleet.kserve_retrieval import Passage, Retrieved
from edgefleet.policy.loader import parse_policy
from edgefleet.state import DeploymentState, FleetState, ReplicaState
from router.accounting import Accounting
from router.engine import RouterEngine
from router.errors import TargetError
from router.estimates import Estimates
from router.fleet_source import StaticFleet
from tests.unit.generate_fakes import FakeEdgeGenerator, FakeHostedGenerator
from tests.unit.router_fakes import FakeEdge

RAG_POLICY_YAML = """
version: 1
deployments:
  - {name: llm-small, model: smollm, price_per_call_usd: 0.00001}
  - {name: squad-retriever, model: squad-dev, price_per_call_usd: 0.000002}
  - {name: classifier, model: clinc-banking}
hosted:
  - name: big
    base_url: http://big.example/v1
    model: big-model
    price_per_1k_input_usd: 0.01
    price_per_1k_output_usd: 0.03
routes:
  - name: qa
    task: generate
    targets: [llm-small]
    fallback: big
    min_confidence: 0.5
    retrieval:
      deployment: squad-retriever
      top_k: 3
      template: "P:\\n{passages}\\nQ: {question}"
      timeout_ms: 500
  - name: qa-private
    task: generate
    domains: [private]
    targets: [llm-small]
    fallback: big
    retrieval: {deployment: squad-retriever, send_to_hosted: false, template: "{passages} | {question}"}
  - name: qa-wrong
    task: generate
    domains: [wrong]
    targets: [llm-small]
    retrieval: {deployment: classifier}
"""

PASSAGES = (
    Passage("0-1", 0, "Normans", "The Normans were in France.", 1.21, 0.76, 1.0),
    Passage("0-2", 0, "Normans", "Rollo led them.", 0.80, 0.55, 0.55),
    Passage("3-4", 1, "Other", "Unrelated text.", 0.31, 0.31, 0.0),
)


@dataclass
class FakeRetriever:
    """FAKE EdgeRetriever: answers `passages` (or raises `error`, or waits `delay_s`)."""

    passages: tuple[Passage, ...] = PASSAGES
    error: Exception | None = None
    delay_s: float = 0.0
    calls: list[tuple[str, str, tuple[str, ...], int, float]] = field(default_factory=list)

    async def retrieve(
        self, address: str, model: str, version: str, queries: Sequence[str], top_k: int, timeout_s: float
    ) -> list[Retrieved]:
        self.calls.append((address, model, tuple(queries), top_k, timeout_s))
        if self.delay_s:
            try:
                async with asyncio.timeout(timeout_s):
                    await asyncio.sleep(self.delay_s)
            except TimeoutError:
                raise TargetError(f"{model} at {address} timed out", timeout=True) from None
        if self.error is not None:
            raise self.error
        return [Retrieved(self.passages[:top_k], (0.1,) * 4, "squad-dev", "1-abc") for _ in queries]


class RecordingEdge(FakeEdgeGenerator):
    """FakeEdgeGenerator that also records the messages of every call."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.messages: list[tuple[ChatMessage, ...]] = []

    def generate(
        self,
        address: str,
        model: str,
        version: str,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        timeout_s: float,
    ) -> AsyncIterator[GenerationChunk]:
        self.messages.append(tuple(messages))
        return super().generate(address, model, version, messages, params, timeout_s)


def rag_state(retriever_ready: bool = True) -> FleetState:
    """The policy's deployments: an LLM, a retriever (task retrieve) and a classifier."""
    tasks = {"llm-small": "generate", "squad-retriever": "retrieve", "classifier": "classify"}
    deployments = []
    for dep in parse_policy(RAG_POLICY_YAML).deployments:
        ready = retriever_ready or dep.name != "squad-retriever"
        state = "ready" if ready else "starting"
        reps = [ReplicaState(f"{dep.name}-0", dep.name, "n0", "node-0", "CPU", f"{dep.name}:0", state)]
        deployments.append(
            DeploymentState(
                name=dep.name,
                model=dep.model,
                version="1",
                precision="FP32",
                desired=1,
                ready=int(ready),
                replicas=reps,
                price_per_call_usd=dep.price_per_call_usd,
                task=tasks[dep.name],
                context_length=2048 if dep.name == "llm-small" else 0,
            )
        )
    return FleetState(version=1, deployments=deployments)


def rag_engine(
    retriever: FakeRetriever | None = None,
    edge: RecordingEdge | None = None,
    hosted: FakeHostedGenerator | None = None,
    retriever_ready: bool = True,
) -> tuple[RouterEngine, FakeRetriever, RecordingEdge, FakeHostedGenerator]:
    """A RouterEngine over the retrieval fakes."""
    retriever = retriever or FakeRetriever()
    edge = edge or RecordingEdge()
    hosted = hosted or FakeHostedGenerator()
    engine = RouterEngine(
        parse_policy(RAG_POLICY_YAML),
        StaticFleet(rag_state(retriever_ready)),
        FakeEdge(),
        {"big": hosted},  # type: ignore[dict-item]
        accounting=Accounting(None),
        estimates=Estimates(),
        rng=random.Random(0),
        generator=edge,
        retriever=retriever,
    )
    return engine, retriever, edge, hosted
