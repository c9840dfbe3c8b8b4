"""What one chaos scenario did to the requests, and the suite's report (JSON and a table).

Per scenario: requests sent, answered OK, answered degraded, failed with a retriable status, lost
(no answer at all: must be 0), errors (any other status: must be 0), the time to recover and a
one-line verdict. *Recovered after* is measured from the end of the fault -- when the harness
healed it (the hosted tier), or when it struck for one-shot faults (a kill, a restart, a rollout)
-- to the start of the first :data:`STABLE_S` seconds in which every request was answered normally
(or to the end of an abnormal answer still running then, if later); it is 0 when no answer after the
fault was abnormal, and "not recovered" when no such stretch came before the load ended. Abnormal
answers after that stretch (a stall of the loaded machine, say) are counted in the notes. *Fleet
back after* is the time from the fault until the controller reported the fleet whole again (the
replicas re-placed, the new version serving), where that applies.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.chaos.load import Record

STABLE_S = 2.0  # normal answers for this long in a row: recovered


@dataclass
class ScenarioResult:
    """One row of the chaos table."""

    name: str
    fault: str  # what was injected, with the ids of what was hit
    sent: int = 0
    ok: int = 0
    degraded: int = 0
    retriable: int = 0
    lost: int = 0
    errors: int = 0
    recovered_after_s: float | None = None
    fleet_back_after_s: float | None = None
    verdict: str = ""
    codes: dict[str, int] = field(default_factory=dict)  # failure status codes and degraded reasons
    notes: list[str] = field(default_factory=list)


def recovery(records: Sequence[Record], fault_ended: float) -> tuple[float | None, int]:
    """(seconds from `fault_ended` until answers were normal again, abnormal answers after that);
    see the module doc. (None, 0) when they never were."""
    ordered = sorted(records, key=lambda r: r.sent)
    if not any(r.outcome != "ok" and r.done >= fault_ended for r in ordered):
        return 0.0, 0
    last_sent = ordered[-1].sent
    for i, first in enumerate(ordered):
        if first.sent < fault_ended or first.sent + STABLE_S > last_sent:
            continue
        window = [r for r in ordered[i:] if r.sent < first.sent + STABLE_S]
        if any(r.outcome != "ok" for r in window):
            continue
        running = [r.done for r in ordered[:i] if r.outcome != "ok"]
        later = sum(1 for r in ordered[i:] if r.outcome != "ok")
        return max(0.0, max([first.sent, *running]) - fault_ended), later
    return None, 0


def recovery_s(records: Sequence[Record], fault_ended: float) -> float | None:
    """The first half of :func:`recovery`."""
    return recovery(records, fault_ended)[0]


def summarize(
    name: str,
    fault: str,
    records: Sequence[Record],
    fault_ended: float,
    *,
    expect_recovery: bool = True,
    fleet_back_after_s: float | None = None,
) -> ScenarioResult:
    """The scenario's row from its load records."""
    counts = Counter(r.outcome for r in records)
    recovered, later = recovery(records, fault_ended)
    codes = Counter(
        r.code if r.outcome != "degraded" else f"degraded:{r.detail}" for r in records if r.outcome != "ok"
    )
    result = ScenarioResult(
        name=name,
        fault=fault,
        sent=len(records),
        ok=counts["ok"],
        degraded=counts["degraded"],
        retriable=counts["retriable"],
        lost=counts["lost"],
        errors=counts["error"],
        recovered_after_s=recovered,
        fleet_back_after_s=fleet_back_after_s,
        codes=dict(codes),
    )
    if later:
        result.notes.append(f"{later} abnormal answers later, after {STABLE_S:.0f}s of normal ones")
    result.verdict = verdict(result, expect_recovery)
    return result


def verdict(r: ScenarioResult, expect_recovery: bool = True, fleet_whole: bool = True) -> str:
    """PASS / WARN / FAIL and why, in one line (`fleet_whole`: False when the fleet was watched and
    did not become whole again)."""
    if r.sent == 0:
        return "FAIL: no request was sent"
    if r.lost or r.errors:
        return f"FAIL: {r.lost} lost, {r.errors} errors ({_codes(r)})"
    parts = [f"0 lost of {r.sent}"]
    if r.degraded:
        parts.append(f"{r.degraded} degraded")
    if r.retriable:
        parts.append(f"{r.retriable} retriable ({_codes(r, degraded=False)})")
    if not expect_recovery:
        return "PASS: " + ", ".join(parts) + "; the fleet stays down (as asked)"
    if r.recovered_after_s is None:
        return "WARN: " + ", ".join(parts) + "; answers not normal again before the load ended"
    normal = f"; answers normal again {r.recovered_after_s:.1f}s after the fault ended"
    if not fleet_whole:
        return "WARN: " + ", ".join(parts) + normal + ", but the fleet did not become whole again"
    return "PASS: " + ", ".join(parts) + normal


def _codes(r: ScenarioResult, degraded: bool = True) -> str:
    items = [(k, n) for k, n in r.codes.items() if degraded or not k.startswith("degraded:")]
    return ", ".join(f"{k} x{n}" for k, n in sorted(items, key=lambda kv: -kv[1])) or "none"


def table(results: Sequence[ScenarioResult]) -> str:
    """The markdown table of a run."""
    lines = [
        "| scenario | fault | sent | OK | degraded | retriable | lost | recovered after | fleet back after | verdict |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        rec = "not recovered" if r.recovered_after_s is None else f"{r.recovered_after_s:.1f} s"
        fleet = "-" if r.fleet_back_after_s is None else f"{r.fleet_back_after_s:.1f} s"
        lines.append(
            f"| {r.name} | {r.fault} | {r.sent} | {r.ok} | {r.degraded} | {r.retriable} | {r.lost} "
            f"| {rec} | {fleet} | {r.verdict} |"
        )
    return "\n".join(lines) + "\n"


def write(results: Sequence[ScenarioResult], out: Path, meta: Mapping[str, object]) -> tuple[Path, Path]:
    """``chaos.json`` and ``chaos.md`` in `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    data = {**meta, "scenarios": [asdict(r) for r in results], "lost": sum(r.lost for r in results)}
    json_path, md_path = out / "chaos.json", out / "chaos.md"
    json_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(table(results), encoding="utf-8")
    return json_path, md_path
