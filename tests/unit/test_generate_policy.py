"""The learned escalation policy step (router.generate_policy) with FAKE replicas: p(good) under
the threshold sends the request straight to the hosted model (reason 'policy'), above it the
edge answers; a failing policy or no retrieval never fails the request."""

from __future__ import annotations

import json
from pathlib import Path

from edgefleet.escalation_features import FEATURE_DIM
from router.domain import GenerateFinal
from router.errors import TargetError
from tests.unit.generate_fakes import gen_input
from tests.unit.qa_fakes import qa_engine


async def _final(engine: object, text: str = "Who were the Normans?") -> GenerateFinal:
    events = [e async for e in engine.generate(gen_input(text, route="qa"))]  # type: ignore[attr-defined]
    assert isinstance(events[-1], GenerateFinal)
    return events[-1]


async def test_a_likely_bad_edge_answer_goes_straight_to_the_hosted_model(tmp_path: Path) -> None:
    engine, edge, hosted, policy = qa_engine(tmp_path, p_good=0.2)
    final = await _final(engine)
    assert final.served_by.tier == "hosted" and edge.calls == [] and len(hosted.calls) == 1
    step = next(s for s in final.trace if s.target == "policy:policy")
    assert step.outcome == "escalate" and "p(good edge answer) 0.20 < 0.40" in step.reason
    assert [s.outcome for s in final.trace if s.target == "llm-small"] == ["skip"]
    (_, model, text, timeout_s) = policy.calls[0]
    assert model == "squad-policy" and len(json.loads(text)) == FEATURE_DIM and 0 < timeout_s <= 0.1
    assert engine.accounting.generate_snapshot().escalations == {"policy": 1}
    hosted_prompt = hosted.calls[0][0][-1].content
    assert hosted_prompt.endswith("Question: Who were the Normans?")  # the template, not the few-shot prompt


async def test_a_likely_good_edge_answer_stays_at_the_edge(tmp_path: Path) -> None:
    engine, _edge, hosted, _ = qa_engine(tmp_path, p_good=0.8)
    final = await _final(engine)
    assert final.served_by.tier == "edge" and hosted.calls == []
    step = next(s for s in final.trace if s.target == "policy:policy")
    assert step.outcome == "ok" and "0.80 >= 0.40: edge" in step.reason


async def test_a_failing_policy_means_edge_first(tmp_path: Path) -> None:
    engine, _, _, policy = qa_engine(tmp_path, p_good=0.0)
    policy.fail["squad-policy"] = TargetError("policy down")
    final = await _final(engine)
    assert final.served_by.tier == "edge"
    step = next(s for s in final.trace if s.target == "policy:policy")
    assert step.outcome == "error" and "edge first" in step.reason
