"""The router's ledger: spend, what the same traffic would cost all-hosted, edge vs
hosted counts, escalations by reason, rps history, latency percentiles, recent
request traces (for the dashboard) and the escalation JSONL log (for the model
factory's flywheel). Generations also count tokens in and out per tier, retractions
and cancellations (:meth:`Accounting.generate_snapshot`)."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edgefleet.escalation_log import EdgeVerdict, EscalationRecord, HostedVerdict
from edgefleet.generation import ChatMessage
from edgefleet.stats import percentile
from router.domain import GenerateFinal, Result, TargetAnswer
from router.escalation_writer import EscalationLog
from router.ledger import Ledger, LedgerEntry

if TYPE_CHECKING:
    from router.metrics import RouterMetrics

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


@dataclass(frozen=True)
class GenerateSnapshot:
    """Generation totals: answers per tier, tokens in/out per tier, spend, escalations by reason."""

    requests: int
    edge: int
    hosted: int
    cancelled: int
    retractions: int
    edge_prompt_tokens: int
    edge_completion_tokens: int
    hosted_prompt_tokens: int
    hosted_completion_tokens: int
    spend_usd: float
    hosted_equivalent_usd: float
    escalations: dict[str, int]


@dataclass(frozen=True)
class EdgeDraft:
    """An edge answer the router did not keep (for the escalation log)."""

    model: str
    text: str
    confidence: float
    reason: str


@dataclass
class _GenerateTotals:
    requests: int = 0
    edge: int = 0
    hosted: int = 0
    cancelled: int = 0
    retractions: int = 0
    tokens: Counter[str] = field(default_factory=Counter)  # "edge_prompt", "hosted_completion", ...
    spend_usd: float = 0.0
    hosted_equivalent_usd: float = 0.0
    escalations: Counter[str] = field(default_factory=Counter)


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
        self._generate = _GenerateTotals()
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
        self.metrics: RouterMetrics | None = None
        self.keep_text = True  # False with router.redact_text: recent requests keep no text

    def attach_metrics(self, metrics: RouterMetrics) -> None:
        """Also count escalations, generation tokens and (through the ledger) spend in `metrics`."""
        self.metrics = metrics
        self.ledger.on_record = metrics.ledger_entry

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
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        api_key: str = "",
    ) -> None:
        """One answered text: its tier, cost, escalation reasons and trace (`api_key`: the caller's
        key id, for per-key budgets; never the key)."""
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
                    request_id=request_id, route=result.route, task=task, tier=result.served_by.tier, api_key=api_key,
                    model=result.served_by.model, cost_usd=result.cost_usd,
                    hosted_equivalent_usd=hosted_equivalent_usd, prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                )
            )  # fmt: skip
            if not self.keep_text:
                short = ""
            else:
                short = text if len(text) <= TRACE_TEXT_CHARS else text[: TRACE_TEXT_CHARS - 1] + "…"
            self.recent.append(RecentRequest(request_id, self._clock() * 1000.0, short, result))
            self.version += 1
        if self.metrics is not None and escalations:
            self.metrics.answered(result.route, task, escalations)

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

    def record_generation(
        self,
        request_id: str,
        text: str,
        final: GenerateFinal,
        hosted_equivalent_usd: float,
        escalations: list[str],
        retractions: int = 0,
        api_key: str = "",
    ) -> None:
        """One answered generation (`text`: the last user message): counted like an answered text
        (tier, spend, escalations, trace) and in the generation totals (tokens per tier)."""
        tier = final.served_by.tier
        result = Result(
            label=None,
            scores=(),
            embedding=None,
            confidence=final.confidence,
            served_by=final.served_by,
            cost_usd=final.cost_usd,
            latency_ms=final.latency_ms,
            trace=final.trace,
            domain=final.domain,
            route=final.route,
        )
        self.record_result(
            request_id, text, result, hosted_equivalent_usd, escalations, "generate",
            prompt_tokens=final.prompt_tokens, completion_tokens=final.completion_tokens, api_key=api_key,
        )  # fmt: skip
        with self._lock:
            g = self._generate
            g.requests += 1
            g.edge += tier == "edge"
            g.hosted += tier == "hosted"
            g.retractions += retractions
            g.tokens[f"{tier}_prompt"] += final.prompt_tokens
            g.tokens[f"{tier}_completion"] += final.completion_tokens
            g.spend_usd += final.cost_usd
            g.hosted_equivalent_usd += hosted_equivalent_usd
            g.escalations.update(escalations)
        if self.metrics is not None:
            ttft_ms = final.time_to_first_token_ms
            self.metrics.generation(
                final.route, tier, final.prompt_tokens, final.completion_tokens,
                ttft_ms / 1000.0 if ttft_ms > 0 else None,
            )  # fmt: skip

    def record_generate_cancelled(self) -> None:
        """A generation the caller cancelled (not an error)."""
        with self._lock:
            self._generate.cancelled += 1
            self.version += 1

    def log_generation(
        self,
        request_id: str,
        messages: tuple[ChatMessage, ...],
        final: GenerateFinal,
        drafts: list[EdgeDraft],
        reasons: list[str],
    ) -> None:
        """Append an escalated generation (the conversation, the edge drafts and the hosted
        answer) to the escalation log."""
        if self.escalation_log is None:
            return
        last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
        record = EscalationRecord(
            unix_ms=round(self._clock() * 1000.0, 1),
            request_id=request_id,
            task="generate",
            route=final.route,
            domain=final.domain,
            text=last_user,
            messages=[{"role": m.role, "content": m.content} for m in messages],
            reasons=reasons,
            edge=[
                EdgeVerdict(model=d.model, text=d.text, confidence=round(d.confidence, 4), reason=d.reason)
                for d in drafts
            ],
            hosted=HostedVerdict(
                model=final.served_by.model,
                text=final.text,
                finish_reason=final.finish_reason,
                stand_in=final.served_by.stand_in,
            ),
        )
        self.escalation_log.write(record)

    def generate_snapshot(self) -> GenerateSnapshot:
        """Generation totals so far."""
        with self._lock:
            g = self._generate
            return GenerateSnapshot(
                requests=g.requests,
                edge=g.edge,
                hosted=g.hosted,
                cancelled=g.cancelled,
                retractions=g.retractions,
                edge_prompt_tokens=g.tokens["edge_prompt"],
                edge_completion_tokens=g.tokens["edge_completion"],
                hosted_prompt_tokens=g.tokens["hosted_prompt"],
                hosted_completion_tokens=g.tokens["hosted_completion"],
                spend_usd=g.spend_usd,
                hosted_equivalent_usd=g.hosted_equivalent_usd,
                escalations=dict(g.escalations),
            )

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
