"""Question answering through the real router, for outcomes (``edgefleet rag outcomes``, TUNE split)
and the benchmark (``edgefleet bench rag``, REPORT split).

:class:`RagFleet` starts the replicas and the replaying stand-in (:mod:`bench.rag_services`) in one
process and a router (StaticFleet) in another, with routes over the same extractive retrieval:
``edge`` (edge LLM only), ``hosted`` (the hosted fallback only, with the route's passages) and, when
a policy model is given, ``routed`` (the policy asked first, at a threshold). :meth:`RagFleet.ask`
calls the router's Generate with the client SDK as an app would; :meth:`RagFleet.retrieve` calls the
retriever replica directly for the policy's features (the router does the same call on its way);
:meth:`RagFleet.ask_gold` sends the edge replica the request the router would build, but over the
question's gold paragraph instead of the retrieved passages (no retrieval: separates retrieval
errors from generation errors).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import ServerHost
from edgefleet.escalation_features import RetrievalView, answer_signals, features, sentence_view
from edgefleet.extractive import clean_answer, load_fewshot, plan, resolve_fewshot
from edgefleet.generation import ChatMessage, SamplingParams
from edgefleet.kserve_retrieval import Retrieved
from edgefleet.qa_metrics import exact_match, token_f1
from edgefleet.rag_outcomes import Outcome, TierAnswer

PASSAGE_WEIGHT = 8.0  # the routes' retrieval.passage_weight (its default)
EDGE_PRICE = 0.00001
RETRIEVER_PRICE = 0.000001
POLICY_PRICE = 0.000001
HOSTED_IN_PER_1K = 0.0025
HOSTED_OUT_PER_1K = 0.01
HOSTED_TEMPLATE = (
    "Answer the question with a short phrase from the passages below.\\n\\n{passages}\\n\\n"
    "Question: {question}\\nAnswer:"
)


@dataclass(frozen=True)
class RagSetup:
    """What the fleet serves."""

    registry: Path
    llm: str = "smollm2-135m"
    collection: str = "squad-dev"
    policy: str | None = None
    threshold: float = 0.5
    hosted_latency_ms: float = 150.0
    max_tokens: int = 64


def _retrieval(answer: str) -> str:
    return (
        f"{{deployment: retriever, top_k: 5, answer: {answer}, fewshot: collection, sentences: 1, "
        f'template: "{HOSTED_TEMPLATE}", passage_template: "[{{n}}] {{title}}: {{text}}", '
        "max_passage_chars: 1200, timeout_ms: 5000}"
    )


def router_policy(setup: RagSetup, threshold: float | None = None) -> str:
    """The router's policy YAML for `setup` (routes edge, hosted and, with a policy, routed)."""
    deployments = [
        f"  - {{name: llm, model: {setup.llm}, price_per_call_usd: {EDGE_PRICE}}}",
        f"  - {{name: retriever, model: {setup.collection}, price_per_call_usd: {RETRIEVER_PRICE}}}",
    ]
    routes = [
        f"  - {{name: edge, task: generate, targets: [llm], min_confidence: 0.0, max_tokens: {setup.max_tokens}, "
        f"retrieval: {_retrieval('extractive')}}}",
        f"  - {{name: hosted, task: generate, fallback: big, max_tokens: {setup.max_tokens}, "
        f"retrieval: {_retrieval('extractive')}}}",
    ]
    if setup.policy:
        deployments.append(f"  - {{name: policy, model: {setup.policy}, price_per_call_usd: {POLICY_PRICE}}}")
        t = setup.threshold if threshold is None else threshold
        routes.append(
            f"  - {{name: routed, task: generate, targets: [llm], fallback: big, min_confidence: 0.0, "
            f"max_tokens: {setup.max_tokens}, retrieval: {_retrieval('extractive')}, "
            f"escalation_policy: {{deployment: policy, threshold: {t}, timeout_ms: 2000}}}}"
        )
    return "\n".join(
        [
            "version: 1",
            f"registry: {setup.registry}",
            'router: {listen: "127.0.0.1:0", escalation_log: null, ledger: null, http_listen: null, '
            "generate_timeout_ms: 120000, default_timeout_ms: 120000}",
            "deployments:",
            *deployments,
            "hosted:",
            f"  - {{name: big, model: edgefleet-stand-in, stand_in: {{model: generalist, replay: squad-bert, "
            f"latency_ms: {setup.hosted_latency_ms}}}, price_per_1k_input_usd: {HOSTED_IN_PER_1K}, "
            f"price_per_1k_output_usd: {HOSTED_OUT_PER_1K}, timeout_ms: 60000}}",
            "routes:",
            *routes,
        ]
    )


class RagFleet:
    """The fleet of :mod:`bench.rag_services` plus a router (see the module docstring)."""

    def __init__(self, setup: RagSetup, *, retrieval_only: bool = False) -> None:
        from fleet.models.manifest import resolve_model_dir

        self.setup = setup
        self.retrieval_only = retrieval_only
        reg = setup.registry
        self.folders = {
            "llm": resolve_model_dir(reg, setup.llm),
            "collection": resolve_model_dir(reg, setup.collection),
            "generalist": resolve_model_dir(reg, "generalist"),
        }
        if setup.policy:
            self.folders["policy"] = resolve_model_dir(reg, setup.policy)
        self.fewshot = load_fewshot(resolve_fewshot(reg, setup.collection))
        self._fleet: ServerHost | None = None
        self._router: ServerHost | None = None
        self.addresses: dict[str, str] = {}
        self.router_address = ""
        self._client: Any = None
        self._channel: Any = None

    def __enter__(self) -> RagFleet:
        spec = {
            "llm": None if self.retrieval_only else str(self.folders["llm"]),
            "llm_options": {"continuous_batching": True, "max_batch": 4, "prefix_caching": True},
            "collection": str(self.folders["collection"]),
            "policy": str(self.folders["policy"]) if "policy" in self.folders else None,
            "stand_in": {
                "generalist": str(self.folders["generalist"]),
                "latency_ms": self.setup.hosted_latency_ms,
                "replay": "squad-bert",
            },
        }
        try:
            self._fleet = ServerHost("bench.rag_services:build_rag_fleet", spec)
            self.addresses = self._fleet.__enter__()
            if not self.retrieval_only:
                self.start_router()
        except BaseException:
            self.__exit__()
            raise
        return self

    def start_router(self, threshold: float | None = None) -> str:
        """(Re)start the router (with the routed route at `threshold`); returns its address."""
        from client import EdgeFleetClient, RetryPolicy

        self._stop_router()
        deployments = [self._dep("llm", self.setup.llm, "llm", "generate", EDGE_PRICE, [])]
        deployments.append(
            self._dep("retriever", self.setup.collection, "collection", "retrieve", RETRIEVER_PRICE, [])
        )
        if "policy" in self.addresses and self.setup.policy:
            deployments.append(
                self._dep("policy", self.setup.policy, "policy", "classify", POLICY_PRICE, ["bad", "good"])
            )
        spec = {
            "routers": {"r": router_policy(self.setup, threshold)},
            "deployments": deployments,
            "hosted_urls": {"big": self.addresses["stand_in"]},
        }
        self._router = ServerHost("bench.services:build_routers", spec)
        self.router_address = self._router.__enter__()["r"]
        self._client = EdgeFleetClient(self.router_address, retry=RetryPolicy.never(), generate_timeout_s=180)
        return self.router_address

    def _dep(
        self, name: str, model: str, folder_key: str, task: str, price: float, labels: list[str]
    ) -> dict[str, Any]:
        from fleet.models.registry import read_manifest

        manifest = read_manifest(self.folders[folder_key])
        key = "policy" if name == "policy" else name
        return {
            "name": name, "address": self.addresses[key if key != "retriever" else "retriever"],
            "model": model, "version": manifest.version, "precision": manifest.precision,
            "price_per_call_usd": price, "task": task, "labels": labels,
        }  # fmt: skip

    def _stop_router(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._router is not None:
            self._router.close()
            self._router = None

    def __exit__(self, *exc: object) -> None:
        self._stop_router()
        if self._channel is not None:
            self._channel.close()
        if self._fleet is not None:
            self._fleet.close()
            self._fleet = None

    # -- asking ------------------------------------------------------------------------------
    def ask(self, question: str, route: str) -> tuple[Any, float]:
        """The router's GenerateResult for `question` on `route`, and the client-side TTFT (ms)."""
        started = time.perf_counter()
        ttft = 0.0
        with self._client.generate(question, max_tokens=self.setup.max_tokens, route=route) as stream:
            for _event in stream:
                if not ttft:
                    ttft = (time.perf_counter() - started) * 1000.0
            return stream.result, ttft

    def retrieve(self, question: str, k: int = 5) -> Retrieved:
        """The retriever replica's answer for `question` (what the router's retrieval step gets)."""
        import grpc

        from edgefleet.kserve_retrieval import read_retrieval_response, retrieve_request
        from protos.inference import grpc_service_pb2_grpc as kserve_grpc

        if self._channel is None:
            self._channel = grpc.insecure_channel(self.addresses["retriever"])
            self._stub = kserve_grpc.GRPCInferenceServiceStub(self._channel)
        response = self._stub.ModelInfer(
            retrieve_request(self.setup.collection, "", [question], k), timeout=30
        )
        return read_retrieval_response(response, 1)[0]

    def ask_gold(self, question: str, paragraph: str) -> tuple[str, list[float], float]:
        """The edge replica's answer over the gold paragraph (the router's extractive request
        with that paragraph as the only passage): text, token log-probabilities, ms."""
        import grpc

        from edgefleet.kserve_llm import generate_request, read_chunk
        from protos.inference import grpc_service_pb2_grpc as kserve_grpc

        chosen = plan(self.fewshot, [paragraph], question)
        params = SamplingParams(
            max_tokens=32, grammar=chosen.grammar, chat_template=False, stop=("\n",), temperature=0.0
        )
        request = generate_request(self.setup.llm, "", [ChatMessage("user", chosen.prompt)], params)
        started = time.perf_counter()
        with grpc.insecure_channel(self.addresses["llm"]) as channel:
            response = kserve_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=120)
        chunk = read_chunk(response)
        return clean_answer(chunk.text), list(chunk.logprobs), (time.perf_counter() - started) * 1000.0


def tier_answer(
    result: Any, ttft_ms: float, references: Sequence[str], passages: Sequence[str]
) -> TierAnswer:
    """A router result scored against the references."""
    text = result.text.strip()
    confidence = float(result.confidence)
    import math

    mean_lp = math.log(confidence) if confidence > 0 else None
    grounded = answer_signals(text, [], passages).grounded
    served = result.served_by
    return TierAnswer(
        answer=text,
        f1=token_f1(text, references),
        em=exact_match(text, references),
        cost_usd=float(result.cost_usd),
        latency_ms=float(result.latency_ms),
        ttft_ms=ttft_ms,
        confidence=confidence,
        mean_logprob=mean_lp,
        grounded=grounded,
        served_by=f"{served.tier.value.lower()}:{served.model}",
    )


def question_outcome(
    fleet: RagFleet,
    qid: str,
    split: str,
    question: str,
    references: Sequence[str],
    gold_doc: str,
    hosted: bool = True,
) -> Outcome:
    """One question through the `edge` (and `hosted`) routes, with the policy's features."""
    vector, gold_rank, retrieval_ms, passages = question_features(fleet, question, gold_doc)
    edge_result, edge_ttft = fleet.ask(question, "edge")
    edge = tier_answer(edge_result, edge_ttft, references, passages)
    hosted_answer = None
    if hosted:
        hosted_result, hosted_ttft = fleet.ask(question, "hosted")
        hosted_answer = tier_answer(hosted_result, hosted_ttft, references, passages)
    return Outcome(
        qid=qid, split=split, question=question, features=vector, gold_rank=gold_rank,
        retrieval_ms=retrieval_ms, edge=edge, hosted=hosted_answer,
    )  # fmt: skip


def question_features(
    fleet: RagFleet, question: str, gold_doc: str
) -> tuple[list[float], int | None, float, list[str]]:
    """The policy's features for `question` as the router computes them (retrieval by the
    retriever replica, the extractive plan), the gold paragraph's rank, the retrieval ms and the
    passages' texts."""
    started = time.perf_counter()
    found = fleet.retrieve(question)
    retrieval_ms = (time.perf_counter() - started) * 1000.0
    chosen = plan(
        fleet.fewshot,
        [p.text for p in found.passages],
        question,
        passage_scores=[p.score for p in found.passages],
        passage_weight=PASSAGE_WEIGHT,
    )
    view = RetrievalView(
        [p.score for p in found.passages], [p.dense for p in found.passages],
        [p.lexical for p in found.passages], found.embedding,
    )  # fmt: skip
    docs = [p.doc for p in found.passages]
    gold_rank = docs.index(gold_doc) + 1 if gold_doc in docs else None
    texts = [p.text for p in found.passages]
    return features(view, question, sentence_view(chosen)), gold_rank, retrieval_ms, texts


def refeaturize(fleet: RagFleet, outcomes: Sequence[Outcome], gold_docs: dict[str, str]) -> list[Outcome]:
    """The outcomes with their features recomputed (after the feature recipe changed; no LLM)."""
    out = []
    for o in outcomes:
        vector, rank, _, _ = question_features(fleet, o.question, gold_docs[o.qid])
        out.append(o.model_copy(update={"features": vector, "gold_rank": rank}))
    return out


def collect_outcomes(
    fleet: RagFleet,
    questions: Sequence[Any],
    split: str,
    progress: Callable[[int, int], None] | None = None,
) -> list[Outcome]:
    """Outcomes of factory.squad Questions (``qid``, ``text``, ``answers``, ``pid``)."""
    out = []
    for i, q in enumerate(questions):
        out.append(question_outcome(fleet, q.qid, split, q.text, q.answers, q.pid))
        if progress is not None:
            progress(i + 1, len(questions))
    return out
