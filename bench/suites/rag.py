"""Suite `rag`: extractive question answering at the edge with retrieval, and a learned escalation
policy, on SQuAD v1.1 dev's REPORT split (the last 24 articles) through the real router.

Per report question (a fixed shuffle; none of them was seen in tuning): the edge LLM's answer
through the router's ``edge`` route (retrieval + extractive prompt + span grammar), the hosted
stand-in's REPLAY of the recorded BERT-large ensemble answer through the ``hosted`` route, the
edge answer over the gold paragraph (same request, no retrieval), the policy's p(good) for the
features the router sees, and the gold paragraph's rank among the retrieved passages. From these:
EM/F1 and cost of all-edge and all-hosted; the curves of F1 against the share sent to the hosted
model for the learned policy, log-probability only (escalating AFTER generating, so the edge call
is paid too), a random router and the oracle; APGR and CPT(50%)/CPT(80%) of each. Routed runs at
operating points chosen on the TUNE split (out-of-fold) then go through the router's ``routed``
route (the policy deployment asked first) and are measured as they come.

The edge model, collection and policy are the registry's ``smollm2-135m``, ``squad-dev`` and
``squad-policy`` unless ``EDGEFLEET_RAG_LLM`` names another generative model (any GGUF added with
``edgefleet models add-llm``; its policy is ``squad-policy-<model>``). Missing pieces are built:
few-shot examples from the tune split, and, without a trained policy for that model, one trained
here on 200 tune questions' outcomes. The tiny configuration builds a
small collection of the sampled questions' paragraphs and trains on a handful of tune questions.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

from bench.rag_harness import RagFleet, RagSetup, collect_outcomes, question_outcome
from edgefleet.escalation_features import encode_vector
from edgefleet.qa_metrics import exact_match, token_f1
from edgefleet.rag_outcomes import Outcome
from edgefleet.route_calibration import RoutedOutcome, choose, sweep

LLM_ENV = "EDGEFLEET_RAG_LLM"
POLICY_NAME = "squad-policy"
TINY_POLICY = "squad-tiny-policy"  # a tiny run never replaces the registry's real policy
TINY_COLLECTION = "squad-tiny"
SHARE_TARGETS = (0.25, 0.5)


def _sample(questions: list[Any], n: int, exclude: set[str], seed: int = 0) -> list[Any]:
    pool = [q for q in questions if q.qid not in exclude]
    random.Random(seed).shuffle(pool)
    return pool[:n]


def _tiny_collection(registry: Path, dev: Any, questions: list[Any]) -> str:
    """A collection of the questions' paragraphs and as many others (FP32 encoder: no calibration)."""
    from factory.rag_build import CollectionOptions, build_collection
    from factory.rag_chunking import Document

    pids = list(dict.fromkeys(q.pid for q in questions))
    extra = [p.pid for p in dev.paragraphs[:: max(1, len(dev.paragraphs) // max(len(pids), 1))]][: len(pids)]
    docs = [
        Document(p.pid, p.title, (p.text,)) for p in (dev.paragraph(x) for x in dict.fromkeys(pids + extra))
    ]
    build_collection(
        registry,
        TINY_COLLECTION,
        docs,
        options=CollectionOptions(passage_precision="FP32", query_precision="FP32"),
    )
    return TINY_COLLECTION


def _ensure_fewshot(registry: Path, collection: str, per_type: int) -> None:
    from edgefleet.extractive import FewShotError, resolve_fewshot
    from factory.rag_fewshot import build_fewshot, save_fewshot

    try:
        resolve_fewshot(registry, collection)
    except FewShotError:
        save_fewshot(registry, collection, build_fewshot("tune", per_type))


def _policy_scores(fleet: RagFleet, outcomes: list[Outcome]) -> list[float]:
    """p(good) of the policy replica for each outcome's features (what the router asks)."""
    import grpc

    from edgefleet.kserve_codec import decode_outputs, text_request
    from protos.inference import grpc_service_pb2_grpc as kserve_grpc

    with grpc.insecure_channel(fleet.addresses["policy"]) as channel:
        stub = kserve_grpc.GRPCInferenceServiceStub(channel)
        scores = []
        for o in outcomes:
            response = stub.ModelInfer(
                text_request(fleet.setup.policy or "", "", [encode_vector(o.features)]), timeout=30
            )
            scores.append(float(decode_outputs(response).arrays["PROBS"][0][1]))
    return scores


def _train_policy(
    fleet_setup: RagSetup, name: str, dev: Any, n: int, exclude: set[str], tiny: bool
) -> tuple[str, int]:
    """Train a policy on `n` TUNE questions' outcomes (when the registry has none)."""
    from factory.rag_policy import train_policy

    tune = _sample(dev.split("tune"), n, exclude, seed=1)
    with RagFleet(fleet_setup) as fleet:
        found = collect_outcomes(fleet, tune, "tune")
    try:
        train_policy(fleet_setup.registry, name, found, min_class=2 if tiny else 5)
    except ValueError:
        if not tiny:
            raise
        median = sorted(o.edge.f1 for o in found)[
            len(found) // 2
        ]  # a handful of questions: split at the median
        train_policy(fleet_setup.registry, name, found, good_f1=max(median, 1e-6), min_class=1)
    return name, len(found)


def run(ctx: Any) -> dict[str, Any]:
    """See the module docstring; headline keys ``rag.*``."""
    from factory.squad import load_squad_dev
    from fleet.errors import ModelLoadError
    from fleet.models.manifest import resolve_model_dir

    registry = ctx.models_dir().resolve()
    llm = os.environ.get(LLM_ENV, "smollm2-135m")
    for name in (llm, "generalist"):
        try:
            resolve_model_dir(registry, name)
        except ModelLoadError:
            return {"status": "skipped", "reason": f"model {name} not in {registry} (edgefleet models build)"}
    dev = load_squad_dev()
    n_report, n_ops = ctx.size(5, 150), ctx.size(2, 60)
    report = _sample(dev.split("report"), n_report, set())
    collection = "squad-dev"
    try:
        resolve_model_dir(registry, collection)
    except ModelLoadError:
        if not ctx.tiny:
            return {
                "status": "skipped",
                "reason": f"collection squad-dev not in {registry} (edgefleet rag squad)",
            }
        tune_sample = _sample(dev.split("tune"), 8, set(), seed=1)
        collection = _tiny_collection(registry, dev, report + tune_sample)
    _ensure_fewshot(registry, collection, 2 if collection == TINY_COLLECTION else 16)
    setup = RagSetup(registry, llm=llm, collection=collection)
    trained_here = 0
    # a policy predicts ONE edge model's outcomes: another LLM gets (and trains, once) its own
    policy = TINY_POLICY if ctx.tiny else POLICY_NAME if llm == "smollm2-135m" else f"{POLICY_NAME}-{llm}"
    try:
        resolve_model_dir(registry, policy)
        if ctx.tiny:
            raise ModelLoadError("tiny runs train their own")
    except ModelLoadError:
        _, trained_here = _train_policy(setup, policy, dev, ctx.size(8, 200), set(), ctx.tiny)
    setup = RagSetup(registry, llm=llm, collection=collection, policy=policy)
    started = time.perf_counter()
    with RagFleet(setup) as fleet:
        shots = {e.id for ex in fleet.fewshot.examples.values() for e in ex}
        assert not shots & {q.qid for q in report}, "few-shot examples come from the tune split"
        outcomes = [question_outcome(fleet, q.qid, "report", q.text, q.answers, q.pid) for q in report]
        gold = []
        for q in report:
            answer, _, ms = fleet.ask_gold(q.text, dev.paragraph(q.pid).text)
            gold.append((token_f1(answer, q.answers), exact_match(answer, q.answers), ms))
        p_good = _policy_scores(fleet, outcomes)
        ops = _operating_points(
            fleet, setup, report[:n_ops], SHARE_TARGETS[-1:] if ctx.tiny else SHARE_TARGETS
        )
        for op in ops:  # all-edge and all-hosted F1 on the same questions, for comparison
            same = outcomes[: op["n"]]
            op["edge_f1_same"] = sum(o.edge.f1 for o in same) / max(len(same), 1)
            op["hosted_f1_same"] = sum(o.hosted.f1 for o in same if o.hosted) / max(len(same), 1)
    wall_s = time.perf_counter() - started
    return _figures(outcomes, gold, p_good, ops, setup, trained_here, wall_s, ctx.tiny)


def _operating_points(
    fleet: RagFleet, setup: RagSetup, questions: list[Any], targets: tuple[float, ...]
) -> list[dict[str, Any]]:
    """Routed runs through the router's ``routed`` route at thresholds chosen on the TUNE split's
    out-of-fold predictions for hosted shares of :data:`SHARE_TARGETS`."""
    tune = _tune_outcomes(setup)
    rows = []
    for target in targets:
        point = choose(sweep(tune), "hosted-share", target) if tune else None
        threshold = point.threshold if point else 0.5
        fleet.start_router(threshold)
        f1 = em = cost = hosted = 0.0
        for q in questions:
            result, _ = fleet.ask(q.text, "routed")
            f1 += token_f1(result.text, q.answers)
            em += exact_match(result.text, q.answers)
            cost += result.cost_usd
            hosted += result.served_by.tier.value.lower() == "hosted"
        n = max(len(questions), 1)
        rows.append({
            "target_hosted_share_tune": target, "threshold": threshold, "n": len(questions),
            "f1": f1 / n, "em": em / n, "cost_per_1k": cost / n * 1000.0, "hosted_share": hosted / n,
            "tune_expected_f1": point.quality if point else None,
        })  # fmt: skip
    return rows


def _tune_outcomes(setup: RagSetup) -> list[RoutedOutcome]:
    import json

    from fleet.models.manifest import resolve_model_dir

    path = resolve_model_dir(setup.registry, setup.policy or POLICY_NAME) / "calibration.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [
        RoutedOutcome(
            r["p_good"], r["edge_f1"], r["hosted_f1"], r["edge_cost_usd"], r["hosted_cost_usd"] or 0.0
        )
        for r in rows
        if r.get("hosted_f1") is not None
    ]


def _figures(
    outcomes: list[Outcome], gold: list[tuple[float, float, float]], p_good: list[float],
    ops: list[dict[str, Any]], setup: RagSetup, trained_here: int, wall_s: float, tiny: bool,
) -> dict[str, Any]:  # fmt: skip
    from bench.suites.rag_report import figures

    return figures(outcomes, gold, p_good, ops, setup, trained_here, wall_s, tiny)
