"""The chaos report (bench.chaos.report) and the load's outcome of a failed call
(bench.chaos.load): counts, time to recover, verdicts, the table and the JSON."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from bench.chaos.load import Record, classify_error
from bench.chaos.report import recovery, recovery_s, summarize, table, verdict, write
from client.errors import EdgeFleetError


def _r(i: int, outcome: str = "ok", sent: float | None = None, code: str = "OK", detail: str = "") -> Record:
    t = float(i) if sent is None else sent
    return Record(i, t, t + 0.1, outcome, code, detail=detail)  # type: ignore[arg-type]


def test_outcomes_of_failed_calls() -> None:
    assert classify_error(EdgeFleetError("no target", grpc.StatusCode.UNAVAILABLE)) == "retriable"
    assert classify_error(EdgeFleetError("busy", grpc.StatusCode.RESOURCE_EXHAUSTED)) == "retriable"
    router_said = EdgeFleetError(
        "latency budget exhausted before any target answered", grpc.StatusCode.DEADLINE_EXCEEDED
    )
    assert classify_error(router_said) == "retriable"
    assert classify_error(EdgeFleetError("Deadline Exceeded", grpc.StatusCode.DEADLINE_EXCEEDED)) == "lost"
    assert classify_error(EdgeFleetError("cut", grpc.StatusCode.CANCELLED)) == "lost"
    assert classify_error(EdgeFleetError("bug", grpc.StatusCode.INTERNAL)) == "error"


def _load(bad: dict[float, str], step: float = 0.5, n: int = 20) -> list[Record]:
    """A load of `n` requests every `step` s; those sent at the times in `bad` had that outcome."""
    return [_r(i, bad.get(i * step, "ok"), sent=i * step) for i in range(n)]


def test_recovery_is_measured_from_the_end_of_the_fault() -> None:
    assert recovery_s(_load({}), 3.0) == 0.0
    hit = _load({3.0: "degraded", 3.5: "degraded", 4.0: "degraded", 4.5: "degraded", 5.0: "degraded"})
    assert recovery_s(hit, 4.0) == pytest.approx(1.5)  # normal from 5.5 s on, for 2 s and more
    assert recovery_s(hit, 9.0) == 0.0  # nothing abnormal after the heal
    never = _load({t / 2: "retriable" for t in range(10, 20)})
    assert recovery_s(never, 5.0) is None


def test_a_later_blip_does_not_hide_the_recovery() -> None:
    blip = _load({3.0: "degraded", 4.0: "degraded", 8.0: "retriable"})
    assert recovery(blip, 4.0) == (pytest.approx(0.5), 1)
    row = summarize("x", "y", blip, 4.0)
    assert row.notes == ["1 abnormal answers later, after 2s of normal ones"]


def test_summary_and_verdicts() -> None:
    records = _load({1.0: "degraded", 1.5: "degraded"})
    records[4] = _r(4, "retriable", sent=2.0, code="UNAVAILABLE")
    records[2] = _r(2, "degraded", sent=1.0, detail="hosted_unavailable")
    records[3] = _r(3, "degraded", sent=1.5, detail="hosted_unavailable")
    row = summarize("hosted-down", "hosted down", records, fault_ended=1.5)
    assert (row.sent, row.ok, row.degraded, row.retriable, row.lost) == (20, 17, 2, 1, 0)
    assert row.codes == {"degraded:hosted_unavailable": 2, "UNAVAILABLE": 1}
    assert row.verdict.startswith("PASS: 0 lost of 20, 2 degraded, 1 retriable (UNAVAILABLE x1)")
    assert row.verdict.endswith("answers normal again 1.0s after the fault ended")
    lost = summarize("x", "y", [_r(0), _r(1, "lost", code="DEADLINE_EXCEEDED")], 0.0)
    assert lost.verdict == "FAIL: 1 lost, 0 errors (DEADLINE_EXCEEDED x1)"
    stuck = summarize("x", "y", [_r(0), _r(1, "retriable", code="UNAVAILABLE")], 0.0)
    assert stuck.verdict.startswith("WARN: ") and stuck.recovered_after_s is None
    down = summarize(
        "sigterm", "y", [_r(0), _r(1, "retriable", code="UNAVAILABLE")], 0.0, expect_recovery=False
    )
    assert down.verdict.startswith("PASS: ") and "stays down" in down.verdict
    assert summarize("x", "y", [], 0.0).verdict == "FAIL: no request was sent"
    assert verdict(row, fleet_whole=False).endswith("but the fleet did not become whole again")


def test_table_and_json(tmp_path: Path) -> None:
    rows = [
        summarize("replica-kill", "SIGKILL replica r1 (pid 7)", [_r(0), _r(1)], 0.0, fleet_back_after_s=2.5)
    ]
    text = table(rows)
    assert "| replica-kill | SIGKILL replica r1 (pid 7) | 2 | 2 | 0 | 0 | 0 | 0.0 s | 2.5 s | PASS" in text
    json_path, md_path = write(rows, tmp_path, {"mode": "short"})
    data = json.loads(json_path.read_text())
    assert data["mode"] == "short" and data["lost"] == 0 and data["scenarios"][0]["fleet_back_after_s"] == 2.5
    assert md_path.read_text() == text
