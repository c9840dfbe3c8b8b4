"""In-memory fakes for router unit tests: a policy, a fleet state, an edge caller
and a hosted client implementing the same interfaces as the real ones."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from edgefleet.policy.loader import parse_policy
from edgefleet.policy.schema import Policy
from edgefleet.state import DeploymentState, FleetState, NodeState, ReplicaState
from router.domain import EdgeOutput
from router.errors import TargetError

POLICY_YAML = """
version: 1
router:
  max_text_chars: 100
  max_batch: 4
  default_timeout_ms: 1000
  max_inflight: 8
deployments:
  - {name: domain-router, model: domain-router, price_per_call_usd: 0.00001}
  - {name: clinc-banking, model: clinc-banking, price_per_call_usd: 0.00002}
  - {name: generalist, model: generalist, price_per_call_usd: 0.00005}
  - {name: embedder, model: minilm, price_per_call_usd: 0.00001}
hosted:
  - name: big
    base_url: http://big.example/v1
    model: big-model
    price_per_1k_input_usd: 0.01
    price_per_1k_output_usd: 0.03
routes:
  - name: intents
    task: classify
    domain_model: domain-router
    specialists: {banking: [clinc-banking]}
    targets: [generalist]
    fallback: big
    min_confidence: 0.6
  - name: embeddings
    task: embed
    targets: [embedder]
    fallback: big
"""

LABELS = {
    "domain-router": ["banking", "travel", "oos"],
    "clinc-banking": ["balance", "transfer", "oos"],
    "generalist": ["balance", "transfer", "book_flight", "oos"],
    "embedder": [],
}

# text keyword -> (label, confidence) per model; first match wins, else the default
SCRIPT: dict[str, list[tuple[str, str, float]]] = {
    "domain-router": [
        ("balance", "banking", 0.95),
        ("transfer", "banking", 0.9),
        ("flight", "travel", 0.9),
        ("unsure", "banking", 0.4),
        ("", "oos", 0.9),
    ],
    "clinc-banking": [("balance", "balance", 0.97), ("transfer", "transfer", 0.45), ("", "oos", 0.8)],
    "generalist": [("transfer", "transfer", 0.55), ("flight", "book_flight", 0.85), ("", "oos", 0.7)],
}


def make_policy(text: str = POLICY_YAML) -> Policy:
    """The test policy."""
    return parse_policy(text)


def make_state(replicas_per_deployment: int = 2, version: int = 1) -> FleetState:
    """A fleet state matching the test policy: every deployment with ready replicas."""
    policy = make_policy()
    deployments = []
    for dep in policy.deployments:
        reps = [
            ReplicaState(
                replica_id=f"{dep.name}-{i}",
                deployment=dep.name,
                node_id=f"n{i}",
                node_name=f"node-{i}",
                device="CPU",
                address=f"{dep.name}:{i}",
                state="ready",
                model=dep.model,
                version="1",
            )
            for i in range(replicas_per_deployment)
        ]
        deployments.append(
            DeploymentState(
                name=dep.name,
                model=dep.model,
                version="1",
                precision="FP32",
                desired=replicas_per_deployment,
                ready=replicas_per_deployment,
                replicas=reps,
                price_per_call_usd=dep.price_per_call_usd,
                task="embed" if dep.name == "embedder" else "classify",
                labels=list(LABELS[dep.name]),
            )
        )
    nodes = [
        NodeState(node_id=f"n{i}", name=f"node-{i}", address="127.0.0.1")
        for i in range(replicas_per_deployment)
    ]
    return FleetState(version=version, unix_ms=1.0, nodes=nodes, deployments=deployments, events=["started"])


def scripted(model: str, text: str) -> EdgeOutput:
    """The scripted output of `model` for `text`."""
    if model == "minilm":
        return EdgeOutput(None, None, (0.6, 0.8), device="CPU")
    labels = LABELS[model]
    for keyword, label, conf in SCRIPT[model]:
        if keyword in text:
            rest = (1.0 - conf) / (len(labels) - 1)
            probs = tuple(conf if lbl == label else rest for lbl in labels)
            return EdgeOutput(None, probs, None, device="CPU")
    raise AssertionError("script has a default")


class FakeEdge:
    """EdgeCaller: scripted answers; `fail[address or model]` raises that TargetError."""

    def __init__(self, answer: Callable[[str, str], EdgeOutput] = scripted) -> None:
        self.answer = answer
        self.fail: dict[str, TargetError] = {}
        self.calls: list[tuple[str, str, str, float]] = []  # (address, model, text, timeout_s)
        self.metadata: list[Sequence[tuple[str, str]] | None] = []  # gRPC metadata of each call
        self.closed = False

    async def infer(
        self,
        address: str,
        model: str,
        version: str,
        texts: Sequence[str],
        task: str,
        timeout_s: float,
        *,
        metadata: Sequence[tuple[str, str]] | None = None,
    ) -> list[EdgeOutput]:
        self.calls.append((address, model, texts[0], timeout_s))
        self.metadata.append(metadata)
        err = self.fail.get(address) or self.fail.get(model)
        if err is not None:
            raise err
        return [self.answer(model, t) for t in texts]

    async def aclose(self) -> None:
        self.closed = True


@dataclass
class FakeAnswer:
    """Same fields as router.hosted.HostedAnswer."""

    label: str | None
    confidence: float
    embedding: list[float] | None
    input_tokens: int
    output_tokens: int
    latency_ms: float
    model: str
    stand_in: bool


@dataclass
class FakeHosted:
    """HostedCaller: answers "transfer" for transfer texts, "oos" otherwise; `down` fails."""

    down: bool = False
    circuit_state: str = "closed"
    base_url: str = "http://big.example/v1"
    error: TargetError | None = None  # raised instead of "connection refused" when down
    unavailable_reason: str | None = None  # as router.hosted.HostedClient: refused unsent (e.g. rate limited)
    calls: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    headers: list[Mapping[str, str] | None] = field(default_factory=list)  # extra HTTP headers per call

    async def classify(
        self, text: str, labels: Sequence[str], timeout_s: float, *, headers: Mapping[str, str] | None = None
    ) -> FakeAnswer:
        self.calls.append((text, tuple(labels)))
        self.headers.append(headers)
        if self.down:
            raise self.error or TargetError("hosted endpoint 'big' failed: connection refused")
        label = "transfer" if "transfer" in text else "oos"
        return FakeAnswer(label, 0.93, None, 1000, 10, 5.0, "big-model", False)

    async def embed(
        self, texts: Sequence[str], timeout_s: float, *, headers: Mapping[str, str] | None = None
    ) -> list[FakeAnswer]:
        self.headers.append(headers)
        if self.down:
            raise TargetError("hosted endpoint 'big' failed: connection refused")
        return [FakeAnswer(None, 1.0, [1.0, 0.0], 10, 0, 5.0, "big-model", False) for _ in texts]
