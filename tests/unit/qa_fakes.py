"""In-memory fakes for extractive answering, the learned escalation policy and shadow traffic
through the router: a policy with an extractive route asking a policy deployment first and
shadowing its edge answers, a fleet with LLM, retriever and policy deployments, and a FAKE policy
replica answering a scripted p(good) (no sockets)."""

from __future__ import annotations

import random
from pathlib import Path

from edgefleet.extractive import Example, FewShot
from edgefleet.policy.loader import parse_policy
from edgefleet.state import DeploymentState, FleetState, ReplicaState
from router.accounting import Accounting
from router.domain import EdgeOutput
from router.engine import RouterEngine
from router.estimates import Estimates
from router.fleet_source import StaticFleet
from tests.unit.generate_fakes import FakeHostedGenerator
from tests.unit.retrieval_fakes import FakeRetriever, RecordingEdge
from tests.unit.router_fakes import FakeEdge

QA_POLICY_YAML = """
version: 1
deployments:
  - {name: llm-small, model: smollm, price_per_call_usd: 0.00001}
  - {name: squad-retriever, model: squad-dev, price_per_call_usd: 0.000002}
  - {name: policy, model: squad-policy, price_per_call_usd: 0.000001}
hosted:
  - name: big
    base_url: "http://big.example/v1"
    model: big-model
    price_per_1k_input_usd: 0.01
    price_per_1k_output_usd: 0.03
routes:
  - name: qa
    task: generate
    targets: [llm-small]
    fallback: big
    min_confidence: 0.0
    retrieval:
      {deployment: squad-retriever, top_k: 3, answer: extractive, fewshot: FEWSHOT,
       template: "{passages}\\nQuestion: {question}"}
    escalation_policy: {deployment: policy, threshold: 0.4, timeout_ms: 100}
    shadow: {share: SHARE, budget_usd_per_day: BUDGET, log: LOG}
"""

SHOTS = FewShot({"person": (Example("Rollo led them.", "Who led them?", "Rollo", "t1"),)}, split="tune")


def qa_policy_text(tmp: Path, share: float = 0.0, budget: float = 1.0) -> str:
    """The policy with the few-shot file and the shadow log in `tmp`."""
    fewshot = tmp / "fewshot.json"
    fewshot.write_text(SHOTS.to_json())
    return (
        QA_POLICY_YAML.replace("FEWSHOT", str(fewshot))
        .replace("SHARE", str(share))
        .replace("BUDGET", str(budget))
        .replace("LOG", str(tmp / "shadow.jsonl"))
    )


def qa_state() -> FleetState:
    """One ready replica per deployment, with its task (and the policy's labels)."""
    tasks = {"llm-small": "generate", "squad-retriever": "retrieve", "policy": "classify"}
    deployments = []
    for name, model in (
        ("llm-small", "smollm"),
        ("squad-retriever", "squad-dev"),
        ("policy", "squad-policy"),
    ):
        rep = ReplicaState(f"{name}-0", name, "n0", "node-0", "CPU", f"{name}:0", "ready")
        deployments.append(
            DeploymentState(
                name=name,
                model=model,
                version="1",
                precision="FP32",
                desired=1,
                ready=1,
                replicas=[rep],
                price_per_call_usd=0.0,
                task=tasks[name],
                context_length=8192 if name == "llm-small" else 0,
                labels=["bad", "good"] if name == "policy" else [],
            )
        )
    return FleetState(version=1, deployments=deployments)


class FakePolicy(FakeEdge):
    """The policy replica: p(good) = `p_good` for any feature vector."""

    def __init__(self, p_good: float = 0.9) -> None:
        super().__init__(lambda model, text: EdgeOutput(None, (1.0 - self.p_good, self.p_good), None))
        self.p_good = p_good


def qa_engine(
    tmp: Path,
    *,
    p_good: float = 0.9,
    share: float = 0.0,
    budget: float = 1.0,
    edge: RecordingEdge | None = None,
    hosted: FakeHostedGenerator | None = None,
) -> tuple[RouterEngine, RecordingEdge, FakeHostedGenerator, FakePolicy]:
    """A RouterEngine over these fakes."""
    edge = edge or RecordingEdge()
    hosted = hosted or FakeHostedGenerator()
    policy_replica = FakePolicy(p_good)
    engine = RouterEngine(
        parse_policy(qa_policy_text(tmp, share, budget)),
        StaticFleet(qa_state()),
        policy_replica,
        {"big": hosted},  # type: ignore[dict-item]
        accounting=Accounting(None),
        estimates=Estimates(),
        rng=random.Random(0),
        generator=edge,
        retriever=FakeRetriever(),
    )
    return engine, edge, hosted, policy_replica
