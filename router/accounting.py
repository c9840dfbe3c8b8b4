"""The router's ledger: spend, what the same traffic would cost all-hosted, edge vs
hosted counts, escalations by reason, rps history, latency percentiles, recent
request traces (for the dashboard) and the escalation JSONL log (for the model
factory's flywheel)."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgefleet.escalation_log import EdgeVerdict, EscalationRecord, HostedVerdict
from edgefleet.stats import percentile
from router.domain import Result, TargetAnswer
from router.escalation_writer import EscalationLog
from router.ledger import Ledger, LedgerEntry

HISTORY_S = 60
TRACE_TEXT_CHARS = 120


@dataclass(frozen=True)
class RecentRequest:
    """One answered text, as shown on the dashboard."""

    request_id: str
    unix_ms: float
    text: str  # truncated
    result: Result


@dataclass(frozen=True)
class TrafficSnapshot:
    """Totals and windows (mirrors the Traffic proto)."""

    rps: float
    requests: int
    edge: int
    hosted: int
    errors: int
    escalations: dict[str, int]
    spend_usd: float
    hosted_equivalent_usd: float
    saved_usd: float
    rps_history: list[float]
    p50_ms: float
    p95_ms: float


@dataclass
class _Totals:
    requests: int = 0
    edge: int = 0
    hosted: int = 0
    errors: int = 0
    spend_usd: float = 0.0
    hosted_equivalent_usd: float = 0.0
    escalations: Counter[str] = field(default_factory=Counter)


class Accounting:
    """Counts and money for everything this router answered."""

    def __init__(
        self,
        escalation_log: str | Path | None = None,
        *,
        ledger: Ledger | None = None,
        recent_size: int = 200,
        latency_window: int = 2048,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._totals = _Totals()
        self._latencies: deque[float] = deque(maxlen=latency_window)
        self._per_second: deque[tuple[int, int]] = deque()  # (unix second, requests)
        self.recent: deque[RecentRequest] = deque(maxlen=recent_size)
        self.escalation_log = EscalationLog(escalation_log) if escalation_log else None
        self.ledger = ledger or Ledger(None)
        past = self.ledger.all_time  # spend survives restarts when the ledger is on disk
        self._totals.spend_usd = past.edge_usd + past.hosted_usd
        self._totals.hosted_equivalent_usd = past.hosted_equivalent_usd
        self._lock = threading.Lock()
        self.version = 0  # bumps on every change (for WatchFleet)

    def record_request(self, latency_ms: float, ok: bool) -> None:
        """One request (of any number of texts) finished after `latency_ms`."""
        now = self._clock()
        sec = int(now)
        with self._lock:
            self._totals.requests += 1
            if ok:
                self._latencies.append(latency_ms)
            else:
                self._totals.errors += 1
            if self._per_second and self._per_second[-1][0] == sec:
                self._per_second[-1] = (sec, self._per_second[-1][1] + 1)
            else:
                self._per_second.append((sec, 1))
            while self._per_second and self._per_second[0][0] <= sec - HISTORY_S:
                self._per_second.popleft()
            self.version += 1

    def record_result(
        self,
        request_id: str,
        text: str,
        result: Result,
        hosted_equivalent_usd: float,
        escalations: list[str],
        task: str = "classify",
    ) -> None:
        """One answered text: its tier, cost, escalation reasons and trace."""
        with self._lock:
            if result.served_by.tier == "edge":
                self._totals.edge += 1
            else:
                self._totals.hosted += 1
            self._totals.spend_usd += result.cost_usd
            self._totals.hosted_equivalent_usd += hosted_equivalent_usd
            self._totals.escalations.update(escalations)
            self.ledger.record(
                LedgerEntry(
                    request_id=request_id, route=result.route, task=task, tier=result.served_by.tier,
                    model=result.served_by.model, cost_usd=result.cost_usd,
                    hosted_equivalent_usd=hosted_equivalent_usd,
                )
            )  # fmt: skip
            short = text if len(text) <= TRACE_TEXT_CHARS else text[: TRACE_TEXT_CHARS - 1] + "…"
            self.recent.append(RecentRequest(request_id, self._clock() * 1000.0, short, result))
            self.version += 1

    def log_escalation(
        self, request_id: str, text: str, result: Result, edge_answers: list[TargetAnswer], reasons: list[str]
    ) -> None:
        """Append an escalated classify request and its hosted answer to the escalation log."""
        if self.escalation_log is None:
            return
        record = EscalationRecord(
            unix_ms=round(self._clock() * 1000.0, 1),
            request_id=request_id,
            task="classify",
            route=result.route,
            domain=result.domain,
            text=text,
            reasons=reasons,
            edge=[
                EdgeVerdict(model=a.served_by.model, label=a.label, confidence=round(a.confidence, 4))
                for a in edge_answers
            ],
            hosted=HostedVerdict(
                model=result.served_by.model,
                label=result.label,
                confidence=round(result.confidence, 4),
                stand_in=result.served_by.stand_in,
            ),
        )
        self.escalation_log.write(record)

    def snapshot(self) -> TrafficSnapshot:
        """Current totals, the last 60 s of rps (oldest first) and latency percentiles."""
        now_sec = int(self._clock())
        with self._lock:
            t = self._totals
            counts = dict(self._per_second)
            history = [float(counts.get(s, 0)) for s in range(now_sec - HISTORY_S + 1, now_sec + 1)]
            lat = sorted(self._latencies)
            # rps over the last 10 complete seconds (the current second is partial)
            rps = sum(history[-11:-1]) / 10.0
            return TrafficSnapshot(
                rps=rps,
                requests=t.requests,
                edge=t.edge,
                hosted=t.hosted,
                errors=t.errors,
                escalations=dict(t.escalations),
                spend_usd=t.spend_usd,
                hosted_equivalent_usd=t.hosted_equivalent_usd,
                saved_usd=t.hosted_equivalent_usd - t.spend_usd,
                rps_history=history,
                p50_ms=percentile(lat, 50, empty=0.0),
                p95_ms=percentile(lat, 95, empty=0.0),
            )

    def close(self) -> None:
        """Close the escalation log and write out the ledger."""
        if self.escalation_log is not None:
            self.escalation_log.close()
        self.ledger.close()
