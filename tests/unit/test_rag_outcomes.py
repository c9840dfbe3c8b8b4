"""Outcome records (edgefleet.rag_outcomes) and shadow records (edgefleet.shadow_log)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgefleet.rag_outcomes import Outcome, TierAnswer, read_outcomes, write_outcomes
from edgefleet.shadow_log import ShadowEdge, ShadowHosted, ShadowRecord, read_shadow_log


def test_outcomes_round_trip(tmp_path: Path) -> None:
    o = Outcome(
        qid="q1", split="tune", question="Who?", features=[0.1, 0.2], gold_rank=2,
        edge=TierAnswer(answer="Rollo", f1=1.0, em=1.0, confidence=0.6),
        hosted=TierAnswer(answer="Rollo", f1=1.0, em=1.0, cost_usd=0.002),
    )  # fmt: skip
    path = tmp_path / "o" / "tune.jsonl"
    assert write_outcomes(path, [o, o]) == 2
    back = list(read_outcomes(path))
    assert back == [o, o] and back[0].hosted is not None and back[0].hosted.cost_usd == 0.002
    path.write_text(path.read_text() + "\n{bad\n")
    with pytest.raises(ValueError, match=":4: not an outcome record"):
        list(read_outcomes(path))


def test_shadow_log_reads_one_route(tmp_path: Path) -> None:
    def rec(route: str) -> ShadowRecord:
        return ShadowRecord(
            unix_ms=1.0, request_id="r", route=route, text="Who?",
            edge=ShadowEdge(model="smollm", text="Rollo", p_good=0.7),
            hosted=ShadowHosted(model="big", text="Rollo the Viking", cost_usd=0.01, replay=True),
            agreement_f1=0.67,
        )  # fmt: skip

    path = tmp_path / "shadow.jsonl"
    path.write_text(rec("a").to_line() + "\n" + rec("b").to_line())
    assert [r.route for r in read_shadow_log(path)] == ["a", "b"]
    (only,) = read_shadow_log(path, "b")
    assert only.edge.p_good == 0.7 and only.hosted.replay
    path.write_text("[]\n")
    with pytest.raises(ValueError, match=":1: not a shadow record"):
        list(read_shadow_log(path))
