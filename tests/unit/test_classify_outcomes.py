"""bench.classify_outcomes: the router's cascade replayed on per-request outcomes of the domain
model, the domain's deployments and the hosted fallback (pure, no models)."""

from __future__ import annotations

import pytest

from bench.calibrate import search
from bench.classify_outcomes import Answer, ClassifyOutcomes, TextOutcome
from edgefleet.policy.schema import RouteConfig

ROUTE = RouteConfig(name="clinc", task="classify", domain_model="dom", fallback="big", min_confidence=0.5)


def _outcome(
    gold: str, domain: tuple[str, float], cascade: list[tuple[str, float]], hosted: str
) -> TextOutcome:
    return TextOutcome(
        gold=gold,
        domain=Answer(*domain),
        cascade=tuple((Answer(label, conf), 0.1) for label, conf in cascade),
        hosted=Answer(hosted, 0.9),
        hosted_cost_usd=1.0,
    )


OUTCOMES = [
    # the student is sure and right
    _outcome("balance", ("banking", 0.9), [("balance", 0.9), ("balance", 0.95)], "balance"),
    # the student is unsure, the specialist is sure and right
    _outcome("transfer", ("banking", 0.9), [("balance", 0.3), ("transfer", 0.8)], "transfer"),
    # both unsure: hosted (wrong here)
    _outcome("freeze", ("banking", 0.9), [("balance", 0.3), ("pin", 0.4)], "balance"),
    # the domain model is sure it is out of scope
    _outcome("oos", ("oos", 0.95), [], "oos"),
    # the domain model is unsure: hosted
    _outcome("pin", ("banking", 0.2), [("pin", 0.9), ("pin", 0.9)], "pin"),
    # the specialist says oos with confidence: final at the edge when edge_oos_final_confidence allows
    _outcome("oos", ("banking", 0.9), [("oos", 0.6), ("oos", 0.7)], "balance"),
]


def test_the_rule_replays_the_router_cascade() -> None:
    source = ClassifyOutcomes(ROUTE, OUTCOMES, domain_price=0.01, split="test")
    point = source.evaluate({"min_confidence": 0.5, "edge_oos_final_confidence": 0.6})
    # right: balance (student), transfer (specialist), oos (domain final), pin (hosted), oos (specialist final)
    assert point.accuracy == pytest.approx(5 / 6)
    assert point.hosted_share == pytest.approx(2 / 6)
    expected_cost = (0.01 + 0.1) + (0.01 + 0.2) + (0.01 + 0.2 + 1.0) + 0.01 + (0.01 + 1.0) + (0.01 + 0.2)
    assert point.cost_usd == pytest.approx(expected_cost)
    assert point.figures["oos_recall"] == pytest.approx(1.0)


def test_without_a_final_oos_every_oos_answer_goes_to_hosted() -> None:
    source = ClassifyOutcomes(ROUTE, OUTCOMES, domain_price=0.01, split="test")
    point = source.evaluate({"min_confidence": 0.5, "edge_oos_final_confidence": None})
    assert point.hosted_share == pytest.approx(4 / 6)
    assert point.accuracy == pytest.approx(4 / 6)  # the last oos is answered "balance" by the hosted model


def test_references_and_search() -> None:
    source = ClassifyOutcomes(ROUTE, OUTCOMES, domain_price=0.01, split="test")
    assert source.all_hosted().accuracy == pytest.approx(4 / 6) and source.all_hosted().hosted_share == 1.0
    assert source.oracle().accuracy == pytest.approx(5 / 6)  # neither edge nor hosted knows "freeze"
    assert source.oracle().accuracy >= max(p.accuracy for p in search(source))
    assert len(search(source)) == len(source.grid()) > 100
