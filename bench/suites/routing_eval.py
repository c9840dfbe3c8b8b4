"""Pure scoring for the routing suite: per-pass quality/cost figures and the cost/quality curve
over the escalation threshold, simulated from per-request answers of an all-edge and an
all-hosted pass (no I/O; unit-testable)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.stats import percentile

OOS = "oos"
_CONF_RE = re.compile(r"\(([0-9]*\.?[0-9]+)\)\s*$")


def score_pass(
    answers: Sequence[dict[str, Any]], gold: Sequence[str], *, oos_on_error: bool = False
) -> dict[str, Any]:
    """Accuracy (label == gold, oos a label), in-scope accuracy, oos recall, cost, escalated share,
    latency p50/p95 of one pass. `answers[i]["index"]` points into `gold`. With `oos_on_error`,
    a request the router could not answer counts as the label ``oos`` (all-edge: nothing to escalate to)."""
    by_index = {a["index"]: a for a in answers}
    correct = in_correct = in_total = oos_hit = oos_total = errors = hosted = 0
    cost = 0.0
    latencies: list[float] = []
    examples: list[str] = []
    for i, truth in enumerate(gold):
        a = by_index.get(i)
        if a is None or "error" in a:
            errors += 1
            label = OOS if oos_on_error and a is not None else None
            message = a["error"] if a is not None else "no answer"
            if len(examples) < 3 and message not in examples:
                examples.append(message)
        else:
            label = a.get("label")
            cost += float(a.get("cost_usd", 0.0))
            hosted += a.get("tier") == "HOSTED"
        if a is not None:
            latencies.append(float(a.get("latency_ms", math.nan)))
        ok = label == truth
        correct += ok
        if truth == OOS:
            oos_total += 1
            oos_hit += label == OOS
        else:
            in_total += 1
            in_correct += ok
    n = max(len(gold), 1)
    return {
        "requests": len(gold),
        "errors": errors,
        "accuracy": correct / n,
        "in_scope_accuracy": in_correct / in_total if in_total else math.nan,
        "oos_recall": oos_hit / oos_total if oos_total else math.nan,
        "cost_usd": cost,
        "cost_per_1k_requests_usd": cost / n * 1000.0,
        "escalated_share": hosted / n,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "error_examples": examples,
    }


@dataclass(frozen=True)
class EdgeView:
    """What the edge tier said about one request (from the all-edge pass)."""

    domain_oos: bool  # the domain model said out of scope
    domain_confidence: float  # its confidence in the detected domain
    label: str | None  # the specialist's label (None when it was never asked)
    confidence: float  # the specialist's confidence
    cost_usd: float  # what the edge calls cost (domain model + specialist)
    domain_cost_usd: float  # what the domain model call alone cost


def edge_view(answer: dict[str, Any] | None, domain_model: str, domain_price: float) -> tuple[EdgeView, bool]:
    """The EdgeView of one all-edge answer, and whether the domain confidence was parsed from the trace."""
    if answer is None:
        return EdgeView(True, 0.0, None, 0.0, domain_price, domain_price), False
    if "error" in answer:
        return EdgeView(True, 0.0, None, 0.0, domain_price, domain_price), "out of scope" in answer["error"]
    conf, parsed = 1.0, False
    for target, outcome, reason, *_ in answer.get("trace", []):
        if target == domain_model and outcome == "ok":
            m = _CONF_RE.search(reason)
            if m:
                conf, parsed = float(m.group(1)), True
    return EdgeView(
        False,
        conf,
        answer.get("label"),
        float(answer.get("confidence", 0.0)),
        float(answer.get("cost_usd", 0.0)),
        domain_price,
    ), parsed


def simulate(
    edges: Sequence[EdgeView],
    hosted: Sequence[dict[str, Any] | None],
    gold: Sequence[str],
    threshold: float,
    escalate_labels: Sequence[str] = (OOS,),
) -> dict[str, float]:
    """Accuracy, cost and escalated share of the default engine logic at `threshold`:
    escalate to hosted when the domain model says oos or is less confident than the threshold
    (domain cost only), or when the specialist says an escalate label or is less confident
    (domain + specialist cost); the hosted answer and its cost come from the all-hosted pass.
    Without ``oos`` in `escalate_labels`, an oos verdict of the edge is kept as the answer."""
    correct = escalated = 0
    cost = 0.0
    for edge, host, truth in zip(edges, hosted, gold, strict=False):
        label: str | None
        h_label = host.get("label") if host and "error" not in host else None
        h_cost = float(host.get("cost_usd", 0.0)) if host and "error" not in host else 0.0
        if edge.domain_oos and OOS not in escalate_labels:
            label, c, esc = OOS, edge.domain_cost_usd, False  # trust the domain model's oos verdict
        elif edge.domain_oos or edge.domain_confidence < threshold:
            label, c, esc = h_label, edge.domain_cost_usd + h_cost, True
        elif edge.label in escalate_labels or edge.confidence < threshold:
            label, c, esc = h_label, edge.cost_usd + h_cost, True
        else:
            label, c, esc = edge.label, edge.cost_usd, False
        correct += label == truth
        escalated += esc
        cost += c
    n = max(len(gold), 1)
    return {
        "threshold": threshold,
        "accuracy": correct / n,
        "cost_usd": cost,
        "escalated_share": escalated / n,
    }


def best_within_budget(curve: Sequence[dict[str, float]], max_cost: float) -> dict[str, float] | None:
    """The most accurate curve point costing at most `max_cost` (None when none does)."""
    fits = [c for c in curve if c["cost_usd"] <= max_cost]
    return max(fits, key=lambda c: (c["accuracy"], -c["cost_usd"])) if fits else None
