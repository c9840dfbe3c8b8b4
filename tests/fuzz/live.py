"""The live servers the fuzzing and abuse suites attack, all on 127.0.0.1:0 in this process:

- a router (gRPC Router + Fleet, and the OpenAI front door) over in-memory fakes of the edge
  replicas and the hosted tier, with API keys (app, operator, and an app key with a tiny budget),
  run on its own event loop in a background thread so the tests can be plain (hypothesis) functions;
- a text replica (KServe v2 ModelInfer over a fake model) and an LLM replica (KServe v2
  ModelStreamInfer over the continuous-batching engine on a fake pipeline), the real servicers
  and gRPC servers, with the fleet token.

The fakes keep no per-call records, so memory measured over thousands of inputs is the servers'.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from edgefleet.generation import ChatMessage, GenerationChunk, SamplingParams
from edgefleet.policy.loader import parse_policy
from edgefleet.replica_guard import ReplicaGuard
from edgefleet.state import DeploymentState, FleetState, NodeState, ReplicaState
from fleet.models.manifest import Manifest, TensorSpec
from fleet.serving.kserve_aio import AioKServeEndpoint, AioKServeServicer
from fleet.serving.kserve_server import KServeEndpoint, start_kserve
from fleet.serving.llm_engine import BatchingEngine
from fleet.serving.llm_model import LLMModel
from fleet.serving.llm_servicer import LLMServicer
from router.domain import EdgeOutput
from router.fleet_source import StaticFleet
from router.server import RouterServer, serve
from tests.unit.llm_fakes import ANSWERS, FakeBatchPipeline, llm_manifest

T = TypeVar("T")
KEYS_ENV = "EDGEFLEET_FUZZ_KEYS"
APP_KEY, OPS_KEY, POOR_KEY = "fuzz-app-key", "fuzz-ops-key", "fuzz-poor-key"
FLEET_TOKEN = "fuzz-fleet-token"
LABELS = ["balance", "transfer", "oos"]

POLICY_YAML = f"""
version: 1
router:
  max_inflight: 64
  max_text_chars: 2000
  max_batch: 16
  max_prompt_chars: 4000
  default_timeout_ms: 2000
  generate_timeout_ms: 5000
  api_keys_env: {KEYS_ENV}
  limits: {{watch_streams: 8, stream_window: 16}}
deployments:
  - {{name: llm-small, model: smollm, price_per_call_usd: 0.00001}}
  - {{name: classifier, model: classifier, price_per_call_usd: 0.00001}}
  - {{name: embedder, model: embedder, price_per_call_usd: 0.00001}}
hosted:
  - name: big
    base_url: http://big.example/v1
    model: big-model
    price_per_1k_input_usd: 0.01
    price_per_1k_output_usd: 0.03
routes:
  - {{name: chat, task: generate, targets: [llm-small], fallback: big, min_confidence: 0.5, max_tokens: 64}}
  - {{name: intents, task: classify, targets: [classifier], fallback: big, min_confidence: 0.6}}
  - {{name: embed, task: embed, targets: [embedder], fallback: big}}
"""


def fleet_state() -> FleetState:
    """Two ready replicas of every deployment."""
    tasks = {"llm-small": "generate", "classifier": "classify", "embedder": "embed"}
    deployments = []
    for name, task in tasks.items():
        replicas = [
            ReplicaState(f"{name}-{i}", name, f"n{i}", f"node-{i}", "CPU", f"{name}:{i}", "ready", model=name)
            for i in range(2)
        ]
        deployments.append(
            DeploymentState(
                name=name, model="smollm" if task == "generate" else name, version="1", precision="FP32",
                desired=2, ready=2, replicas=replicas, price_per_call_usd=0.00001, task=task,
                labels=LABELS if task == "classify" else [], context_length=2048 if task == "generate" else 0,
            )
        )  # fmt: skip
    nodes = [NodeState(node_id=f"n{i}", name=f"node-{i}", address="127.0.0.1") for i in range(2)]
    return FleetState(version=1, unix_ms=1.0, nodes=nodes, deployments=deployments, events=["started"])


class FuzzEdge:
    """Edge replicas: classify (confident on "balance", unsure otherwise), embed, generate."""

    async def infer(
        self,
        address: str,
        model: str,
        version: str,
        texts: Sequence[str],
        task: str,
        timeout_s: float,
        **_: Any,
    ) -> list[EdgeOutput]:
        if task == "embed":
            return [EdgeOutput(None, None, (0.6, 0.8)) for _ in texts]
        return [
            EdgeOutput(None, (0.9, 0.05, 0.05) if "balance" in t else (0.4, 0.3, 0.3), None) for t in texts
        ]

    def generate(
        self, address: str, model: str, version: str, messages: Sequence[ChatMessage], params: SamplingParams,
        timeout_s: float, **_: Any,
    ) -> AsyncIterator[GenerationChunk]:  # fmt: skip
        return _words("An edge answer.", math.log(0.9))

    async def aclose(self) -> None:
        """Nothing to close."""


class FuzzHosted:
    """The hosted tier: classify, embed and chat_stream."""

    circuit_state = "closed"
    base_url = "http://big.example/v1"

    async def classify(self, text: str, labels: Sequence[str], timeout_s: float, **_: Any) -> Any:
        return _HostedAnswer("transfer" if "transfer" in labels else labels[0])

    async def embed(self, texts: Sequence[str], timeout_s: float, **_: Any) -> list[Any]:
        return [_HostedAnswer(None, [1.0, 0.0]) for _ in texts]

    def chat_stream(
        self, messages: Sequence[ChatMessage], params: SamplingParams, timeout_s: float, **_: Any
    ) -> AsyncIterator[GenerationChunk]:
        return _words("The hosted answer.", math.log(0.95))


class _HostedAnswer:
    def __init__(self, label: str | None, embedding: list[float] | None = None) -> None:
        self.label, self.confidence, self.embedding = label, 0.93, embedding
        self.input_tokens, self.output_tokens, self.latency_ms = 50, 5, 1.0
        self.model, self.stand_in = "big-model", False


async def _words(text: str, logprob: float) -> AsyncIterator[GenerationChunk]:
    words = text.split(" ")
    for w in words:
        await asyncio.sleep(0)
        yield GenerationChunk(w + " ", (logprob,))
    yield GenerationChunk("", (), True, "stop", prompt_tokens=10, completion_tokens=len(words))


class FakeTextModel:
    """A classify model for the text replica (no OpenVINO)."""

    labels = LABELS
    device = "CPU"
    manifest = Manifest(
        name="fuzz-clf", version="1", task="classify", labels=LABELS, precision="FP32", featurizer={},
        inputs=[TensorSpec(name="TEXT", datatype="BYTES", shape=[-1])],
        outputs=[TensorSpec(name="PROBS", datatype="FP32", shape=[-1, 3])], files={}, created_unix=0.0,
    )  # fmt: skip

    def infer(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return {"PROBS": np.tile(np.array([[0.7, 0.2, 0.1]], dtype=np.float32), (len(texts), 1))}


class LiveServers:
    """The router (own loop, background thread) and two replicas; `stop()` ends them all."""

    def __init__(self) -> None:
        os.environ[KEYS_ENV] = f"fuzz-app:app:{APP_KEY},fuzz-ops:operator:{OPS_KEY},fuzz-poor:app:{POOR_KEY}"
        self.policy_text = POLICY_YAML
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fuzz-router", daemon=True)
        self._thread.start()
        self.router: RouterServer = self.run(self._start_router(), timeout_s=60)
        guard = ReplicaGuard(token=FLEET_TOKEN, max_batch=16, max_message_bytes=1 << 20)
        # the text replica runs the fleet's grpc.aio batching server, the LLM one the threaded server
        self.text_replica = AioKServeEndpoint(
            AioKServeServicer(FakeTextModel(), replica="fuzz-text", max_batch=16),  # type: ignore[arg-type]
            guard=guard,
        )
        engine = BatchingEngine(FakeBatchPipeline(ANSWERS), context_length=2048, max_queue=32)
        files = dict.fromkeys(("a",), b"x")
        model = LLMModel(llm_manifest(files), engine, "CPU", None, Path("."), 0.0)
        self.llm_replica: KServeEndpoint = start_kserve(
            LLMServicer(model, replica="fuzz-llm", max_queue=32), guard=guard
        )

    async def _start_router(self) -> RouterServer:
        policy = parse_policy(self.policy_text)
        server = await serve(
            policy, StaticFleet(fleet_state()), {"big": FuzzHosted()}, "127.0.0.1:0",  # type: ignore[dict-item]
            edge=FuzzEdge(), http_listen="127.0.0.1:0",  # type: ignore[arg-type]
        )  # fmt: skip
        server.engine.gate.admit(
            "fuzz-poor", policy.router.key_defaults.model_copy(update={"budget_usd_per_day": 0.0})
        )
        return server

    @property
    def text_address(self) -> str:
        """The text replica's host:port."""
        return f"127.0.0.1:{self.text_replica.port}"

    @property
    def llm_address(self) -> str:
        """The LLM replica's host:port."""
        return f"127.0.0.1:{self.llm_replica.port}"

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 30.0) -> T:
        """Run `coro` on the router's loop and wait for it (bounded)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def stop(self) -> None:
        """Stop the replicas and the router, then the loop."""
        self.text_replica.stop(0).wait(10)
        self.llm_replica.stop(0)
        self.llm_replica.servicer.model.close()  # type: ignore[attr-defined]
        try:
            self.run(self.router.stop(0), timeout_s=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()
            os.environ.pop(KEYS_ENV, None)


def rss_mb() -> float:
    """This process's resident memory in MB."""
    import psutil

    return psutil.Process().memory_info().rss / (1 << 20)


def monotonic() -> float:
    """Seconds (for hang detection)."""
    return time.monotonic()
