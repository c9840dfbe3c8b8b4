"""Reading the escalation log and turning records into hard examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgefleet.escalation_log import EscalationRecord, HostedVerdict
from factory.data import Clinc150
from factory.flywheel import (
    DistillReport,
    StudentDelta,
    hard_examples,
    is_heldout,
    promotion_verdict,
    read_log,
)
from fleet.errors import FleetError


def _clinc() -> Clinc150:
    domains = {"money": ["pay", "save"], "food": ["cook", "eat"]}
    i2d = {i: d for d, intents in domains.items() for i in intents}
    return Clinc150(
        train=[],
        val=[],
        test=[],
        oos_train=[],
        oos_val=[],
        oos_test=[],
        domains=domains,
        intent_to_domain=i2d,
    )


def _record(text: str, label: str, domain: str) -> EscalationRecord:
    return EscalationRecord(
        unix_ms=0.0,
        request_id="r",
        route="clinc",
        domain=domain,
        text=text,
        reasons=["low_confidence"],
        hosted=HostedVerdict(model="big", label=label),
    )


def test_read_log_skips_bad_lines(tmp_path: Path) -> None:
    log = tmp_path / "esc.jsonl"
    lines = [
        _record("pay it", "pay", "money").to_line().strip(),
        "not json",
        _record("??", "unknown-label", "").to_line().strip(),
        json.dumps({"hosted_label": "pay"}),  # an old-format line: skipped
        "",
        _record("boil eggs", "cook", "money").to_line().strip(),
    ]
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    usable, total, skipped = read_log(log, {"pay", "save", "cook", "eat", "oos"})
    assert [r.text for r in usable] == ["pay it", "boil eggs"]
    assert (total, skipped) == (5, 3)


def test_missing_log_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FleetError, match="cannot be read"):
        read_log(tmp_path / "nope.jsonl", {"pay"})


def test_hard_examples_per_student() -> None:
    clinc = _clinc()
    records = [
        _record("pay it", "pay", "money"),
        _record("boil eggs", "cook", "money"),  # misrouted to money
        _record("moon?", "oos", "food"),
    ]
    router = hard_examples(records, "domain-router-student", ["money", "food", "oos"], clinc)
    assert router == [("pay it", "money"), ("boil eggs", "food"), ("moon?", "oos")]
    money = hard_examples(records, "clinc-money-student", ["pay", "save", "oos"], clinc)
    assert money == [("pay it", "pay"), ("boil eggs", "oos")]
    food = hard_examples(records, "clinc-food-student", ["cook", "eat", "oos"], clinc)
    assert food == [("boil eggs", "cook"), ("moon?", "oos")]


def test_heldout_split_is_stable_and_report_renders(tmp_path: Path) -> None:
    texts = [f"text {i}" for i in range(200)]
    held = [t for t in texts if is_heldout(t)]
    assert held == [t for t in texts if is_heldout(t)] and 20 < len(held) < 60
    report = DistillReport(
        log=tmp_path / "l",
        records=3,
        usable=2,
        skipped=1,
        heldout=1,
        students=[StudentDelta("s", "1-distilled", "2-flywheel", 5, 0.8, 0.85, None, 1.0, 1)],
    )
    assert "1-distilled -> 2-flywheel" in report.markdown()


def test_a_new_version_worse_on_a_held_out_set_is_refused(tmp_path: Path) -> None:
    better = StudentDelta("s", "1-distilled", "2-flywheel", 5, 0.80, 0.81, 0.50, 0.75, 8)
    assert promotion_verdict(better) == ""
    worse_log = StudentDelta("s", "1-distilled", "2-flywheel", 5, 0.80, 0.82, 0.75, 0.50, 8)
    assert promotion_verdict(worse_log) == "worse on the 8 held-out log records (0.750 -> 0.500)"
    worse_test = StudentDelta("s", "1-distilled", "2-flywheel", 5, 0.80, 0.79, None, None, 0)
    assert promotion_verdict(worse_test) == "worse on the CLINC150 test split (0.8000 -> 0.7900)"
    assert promotion_verdict(worse_test, max_drop=0.02) == ""  # within the allowed drop
    worse_test.promoted, worse_test.refused = False, promotion_verdict(worse_test)
    report = DistillReport(tmp_path / "l", 3, 3, 0, 0, students=[better, worse_test])
    text = report.markdown()
    assert "| yes (latest) |" in text and "REFUSED: worse on the CLINC150 test split" in text
    assert report.refused == [worse_test] and "not made latest): s 2-flywheel." in text
