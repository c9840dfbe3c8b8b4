"""Shadow traffic of generate routes (router.generate_shadow) with FAKE replicas: a sampled
edge-answered request is also asked of the hosted model after the answer went out; the pair is
logged with its agreement, the spend is shadow spend in the ledger, bounded per day."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgefleet.shadow_log import read_shadow_log
from router.domain import GenerateFinal
from tests.unit.generate_fakes import FakeHostedGenerator, Script, chunks, gen_input
from tests.unit.qa_fakes import qa_engine
from tests.unit.retrieval_fakes import RecordingEdge


async def _answer(engine: object) -> GenerateFinal:
    events = [e async for e in engine.generate(gen_input("Who were the Normans?", route="qa"))]  # type: ignore[attr-defined]
    assert isinstance(events[-1], GenerateFinal)
    return events[-1]


async def test_edge_answers_are_shadowed_off_the_critical_path_and_logged(tmp_path: Path) -> None:
    edge = RecordingEdge({"smollm": Script(chunks("Rollo the Viking\n", -0.3))})
    hosted = FakeHostedGenerator("Rollo")
    engine, _, hosted, _ = qa_engine(tmp_path, share=1.0, edge=edge, hosted=hosted)
    final = await _answer(engine)
    assert final.served_by.tier == "edge" and final.text == "Rollo the Viking"
    shadow = engine.generation.shadow
    await shadow.drain(5.0)
    assert len(hosted.calls) == 1 and hosted.calls[0][0][-1].content.endswith(
        "Question: Who were the Normans?"
    )
    (record,) = read_shadow_log(tmp_path / "shadow.jsonl")
    assert (record.route, record.edge.text, record.hosted.text) == ("qa", "Rollo the Viking", "Rollo")
    assert record.agreement_f1 == pytest.approx(2 / 3)  # "rollo viking" vs "rollo"
    assert record.edge.p_good == pytest.approx(0.9) and record.edge.min_logprob == pytest.approx(-0.3)
    assert record.edge.grounded is not None and record.hosted.cost_usd > 0
    stats = shadow.stats
    assert stats.requests == 1 and stats.agreement_f1 == pytest.approx(record.agreement_f1)
    assert stats.spend_usd == pytest.approx(record.hosted.cost_usd)
    engine.accounting.ledger.flush()
    assert engine.accounting.ledger.day().shadow_usd == pytest.approx(record.hosted.cost_usd)
    assert engine.accounting.generate_snapshot().hosted == 0  # the user was answered at the edge
    shadow.close()


async def test_no_shadow_past_the_budget_or_outside_the_share(tmp_path: Path) -> None:
    engine, _, hosted, _ = qa_engine(tmp_path, share=1.0, budget=0.0)
    await _answer(engine)
    await engine.generation.shadow.drain(1.0)
    assert hosted.calls == [] and engine.generation.shadow.stats.skipped_budget == 1
    never, _, hosted2, _ = qa_engine(tmp_path, share=0.0)
    await _answer(never)
    assert hosted2.calls == [] and never.generation.shadow.stats.requests == 0


async def test_a_failing_shadow_call_is_counted_not_raised(tmp_path: Path) -> None:
    engine, _, _, _ = qa_engine(tmp_path, share=1.0, hosted=FakeHostedGenerator(fail_after=1))
    final = await _answer(engine)
    await engine.generation.shadow.drain(5.0)
    assert final.served_by.tier == "edge" and engine.generation.shadow.stats.failed == 1
    assert not (tmp_path / "shadow.jsonl").exists()
