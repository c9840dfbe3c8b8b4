"""Spend, hosted-equivalent, counts, escalations, rps history, percentiles, traces, JSONL log;
generation totals (tokens per tier, retractions, cancellations)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgefleet.escalation_log import read_log
from edgefleet.generation import ChatMessage
from router.accounting import HISTORY_S, Accounting, EdgeDraft
from router.domain import GenerateFinal, Result, ServedBy, Step, TargetAnswer
from router.ledger import Ledger

EDGE = ServedBy("clinc-banking", "1", "r0", "node-0", "CPU", "edge")
HOSTED = ServedBy("big-model", "", "big", "big.example", "", "hosted", stand_in=True)


class Clock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


def _result(served: ServedBy, cost: float, label: str = "balance") -> Result:
    step = Step("x", "ok", "fine", 1.0)
    return Result(label, ((label, 0.9),), None, 0.9, served, cost, 3.0, (step,), "banking", "intents")


def test_totals_spend_and_savings() -> None:
    acc = Accounting(clock=Clock())
    acc.record_result("a", "text", _result(EDGE, 0.0001), 0.01, [])
    acc.record_result("b", "text", _result(HOSTED, 0.02, "oos"), 0.02, ["out_of_scope"])
    acc.record_result("c", "text", _result(HOSTED, 0.03), 0.02, ["low_confidence", "low_confidence"])
    snap = acc.snapshot()
    assert (snap.edge, snap.hosted) == (1, 2)
    assert snap.spend_usd == pytest.approx(0.0501)
    assert snap.hosted_equivalent_usd == pytest.approx(0.05)
    assert snap.saved_usd == pytest.approx(-0.0001)
    assert snap.escalations == {"out_of_scope": 1, "low_confidence": 2}


def test_rps_history_and_percentiles() -> None:
    clock = Clock()
    acc = Accounting(clock=clock)
    for sec in range(12):
        for _ in range(sec % 3 + 1):
            acc.record_request(float(sec + 1), ok=True)
        clock.t += 1.0
    acc.record_request(5.0, ok=False)
    snap = acc.snapshot()
    assert len(snap.rps_history) == HISTORY_S
    assert snap.rps_history[-13:-1] == [float(s % 3 + 1) for s in range(12)]
    assert snap.rps_history[-1] == 1.0  # the failed one, this second
    assert snap.requests == 1 + sum(s % 3 + 1 for s in range(12)) and snap.errors == 1
    assert snap.rps == pytest.approx(sum(s % 3 + 1 for s in range(2, 12)) / 10.0)
    assert 1.0 <= snap.p50_ms <= snap.p95_ms <= 12.0
    clock.t += HISTORY_S + 5
    assert sum(acc.snapshot().rps_history) == 0.0


def test_recent_is_a_ring_buffer_with_truncated_text() -> None:
    acc = Accounting(recent_size=3, clock=Clock())
    for i in range(5):
        acc.record_result(f"r{i}", "x" * 500, _result(EDGE, 0.0), 0.0, [])
    assert [r.request_id for r in acc.recent] == ["r2", "r3", "r4"]
    assert len(acc.recent[0].text) == 120 and acc.recent[0].text.endswith("…")
    assert acc.version == 5


def test_escalation_log_is_jsonl(tmp_path: Path) -> None:
    log = tmp_path / "sub" / "escalations.jsonl"
    acc = Accounting(log, clock=Clock())
    edge = TargetAnswer("balance", (), 0.41, None, EDGE, 0.0, 2.0)
    acc.log_escalation("r1", "what is my balance", _result(HOSTED, 0.02), [edge], ["low_confidence"])
    acc.log_escalation("r2", "pizza", _result(HOSTED, 0.02, "oos"), [], ["out_of_scope"])
    acc.close()
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["request_id"] for r in rows] == ["r1", "r2"]
    assert rows[0]["edge"] == [{"model": "clinc-banking", "label": "balance", "confidence": 0.41}]
    assert rows[0]["hosted"]["stand_in"] is True and rows[1]["hosted"]["label"] == "oos"
    assert rows[0]["text"] == "what is my balance" and rows[0]["reasons"] == ["low_confidence"]


def test_no_log_without_a_path() -> None:
    acc = Accounting(None)
    acc.log_escalation("r", "t", _result(HOSTED, 0.0), [], [])  # no error, nothing written
    acc.close()


def test_escalation_log_is_private_rotates_and_never_fails_a_request(tmp_path: Path) -> None:
    log = tmp_path / "esc.jsonl"
    acc = Accounting(log, clock=Clock())
    assert acc.escalation_log is not None
    acc.escalation_log.max_bytes = 600
    for i in range(12):
        acc.log_escalation(f"r{i}", "what is my balance " * 3, _result(HOSTED, 0.02), [], ["low_confidence"])
    acc.close()
    assert log.stat().st_mode & 0o777 == 0o600
    records, total = read_log(log)  # the current file and its rotated predecessors, oldest first
    assert [r.request_id for r in records] == ["r8", "r9", "r10", "r11"] and total == 4  # 1 + 3 backups kept
    assert (tmp_path / "esc.jsonl.3").exists() and not (tmp_path / "esc.jsonl.4").exists()
    log.unlink()
    log.mkdir()  # writing now fails: counted, reported, never raised
    acc.log_escalation("r-x", "t", _result(HOSTED, 0.0), [], [])
    assert acc.escalation_log.write_errors == 1 and "Error" in acc.escalation_log.last_error


def test_spend_survives_a_restart_through_the_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    acc = Accounting(None, ledger=Ledger(path), clock=Clock())
    acc.record_result("r1", "t", _result(HOSTED, 0.02), 0.02, ["low_confidence"])
    acc.record_result("r2", "t", _result(EDGE, 0.001), 0.02, [])
    acc.close()
    again = Accounting(None, ledger=Ledger(path), clock=Clock())
    snap = again.snapshot()
    assert abs(snap.spend_usd - 0.021) < 1e-12 and abs(snap.hosted_equivalent_usd - 0.04) < 1e-12
    again.close()


def _final(served: ServedBy, cost: float, prompt: int = 20, completion: int = 7) -> GenerateFinal:
    step = Step("llm-small", "ok", "confidence 0.90", 4.0)
    return GenerateFinal(
        "g", "An answer.", served, prompt, completion, cost, 0.9, "stop", 9.0, 3.0, (step,), "chat", ""
    )


def test_generations_count_tokens_per_tier_and_show_in_the_totals() -> None:
    acc = Accounting(clock=Clock())
    acc.record_generation("g1", "hello", _final(EDGE, 0.00001), 0.002, [])
    acc.record_generation("g2", "hello", _final(HOSTED, 0.003, 100, 30), 0.003, ["low_confidence"], 1)
    acc.record_generate_cancelled()
    g = acc.generate_snapshot()
    assert (g.requests, g.edge, g.hosted, g.cancelled, g.retractions) == (2, 1, 1, 1, 1)
    assert (g.edge_prompt_tokens, g.edge_completion_tokens) == (20, 7)
    assert (g.hosted_prompt_tokens, g.hosted_completion_tokens) == (100, 30)
    assert g.spend_usd == pytest.approx(0.00301) and g.hosted_equivalent_usd == pytest.approx(0.005)
    assert g.escalations == {"low_confidence": 1}
    snap = acc.snapshot()  # the dashboard's totals include generations
    assert (snap.edge, snap.hosted) == (1, 1) and snap.escalations == {"low_confidence": 1}
    assert acc.recent[-1].result.label is None and acc.recent[-1].result.route == "chat"


def test_escalated_generation_is_logged(tmp_path: Path) -> None:
    log = tmp_path / "escalations.jsonl"
    acc = Accounting(log, clock=Clock())
    drafts = [EdgeDraft("smollm", "Unsure.", 0.3, "low_confidence")]
    messages = (ChatMessage("system", "Be brief."), ChatMessage("user", "hi"))
    acc.log_generation("g1", messages, _final(HOSTED, 0.003), drafts, ["low_confidence"])
    acc.close()
    row = json.loads(log.read_text())
    assert row["task"] == "generate" and row["messages"][0] == {"role": "system", "content": "Be brief."}
    assert row["edge"] == [
        {"model": "smollm", "text": "Unsure.", "confidence": 0.3, "reason": "low_confidence"}
    ]
    assert row["hosted"] == {
        "model": "big-model",
        "text": "An answer.",
        "finish_reason": "stop",
        "stand_in": True,
        "confidence": 1.0,
    }
    [record], _ = read_log(log)  # the flywheel's reader takes the same records
    assert record.task == "generate" and record.text == "hi" and record.hosted.text == "An answer."
