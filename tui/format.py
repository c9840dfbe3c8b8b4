"""Pure formatting helpers shared by the widgets (no Textual imports, easy to test)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"

ESCALATION_REASONS: tuple[tuple[str, str], ...] = (
    ("low_confidence", "low confidence"),
    ("out_of_scope", "out-of-scope"),
    ("latency_budget", "latency budget"),
    ("error", "error"),
)
"""Known escalation reasons (normalised key, label), in display order."""

_HEALTH_STYLES = {"healthy": "green", "degraded": "yellow", "dead": "bold red", "drained": "cyan"}
_OUTCOME_STYLES = {"ok": "green", "escalate": "yellow", "skip": "dim", "error": "bold red", "timeout": "red"}


def normalise_reason(reason: str) -> str:
    """'Low-Confidence' / 'low confidence' / 'oos' -> a key of ESCALATION_REASONS where possible."""
    key = reason.strip().lower().replace("-", "_").replace(" ", "_")
    aliases = {
        "oos": "out_of_scope",
        "confidence": "low_confidence",
        "latency": "latency_budget",
        "budget": "latency_budget",
        "errors": "error",
        "failure": "error",
        "timeout": "error",
    }
    return aliases.get(key, key)


def escalation_rows(escalations: Mapping[str, int]) -> list[tuple[str, int]]:
    """(label, count) for the four known reasons (0 when absent), then any other reason."""
    totals: dict[str, int] = {}
    for reason, count in escalations.items():
        key = normalise_reason(reason)
        totals[key] = totals.get(key, 0) + int(count)
    rows = [(label, totals.pop(key, 0)) for key, label in ESCALATION_REASONS]
    rows.extend((key.replace("_", " "), count) for key, count in sorted(totals.items()))
    return rows


def sparkline_text(values: Sequence[float], width: int = 12) -> str:
    """The last `width` values as unicode blocks, scaled to the max of the window."""
    window = list(values)[-width:]
    if not window:
        return ""
    top = max(window)
    if top <= 0:
        return SPARK_BLOCKS[0] * len(window)
    last = len(SPARK_BLOCKS) - 1
    return "".join(SPARK_BLOCKS[min(last, round(v / top * last))] for v in window)


def percent(value: float) -> str:
    """45.2 -> '45%' (values already in percent)."""
    return f"{value:.0f}%"


def ratio_percent(part: float, whole: float) -> str:
    """Share of `part` in `whole` as '12.3%' ('–' when whole is 0)."""
    return f"{100 * part / whole:.1f}%" if whole else "–"


def load_text(value: float) -> Text:
    """A CPU/memory percentage coloured by level."""
    style = "red" if value >= 90 else "yellow" if value >= 70 else ""
    return Text(percent(value), style=style, justify="right")


def ms(value: float) -> str:
    """Milliseconds, compact: '0.7', '12.4', '1234'."""
    if value >= 1000:
        return f"{value:.0f}"
    return f"{value:.1f}"


def usd(value: float) -> str:
    """Dollars with enough decimals for fractions of a cent."""
    if value == 0:
        return "$0"
    if abs(value) >= 100:
        return f"${value:,.2f}"
    if abs(value) >= 1:
        return f"${value:.3f}"
    return f"${value:.4f}" if abs(value) >= 0.001 else f"${value:.6f}"


def age(seconds: float) -> str:
    """A heartbeat age: '0.4s', '12s', '3m', '2h'."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.0f}h"


def clock(unix_ms: float) -> str:
    """HH:MM:SS in UTC (deterministic whatever the machine's timezone)."""
    if unix_ms <= 0:
        return "--:--:--"
    return time.strftime("%H:%M:%S", time.gmtime(unix_ms / 1000))


def health_text(health: str) -> Text:
    """A node's health word, coloured."""
    return Text(health or "unknown", style=_HEALTH_STYLES.get(health, "dim"))


def outcome_text(outcome: str) -> Text:
    """A trace step outcome, coloured."""
    return Text(outcome, style=_OUTCOME_STYLES.get(outcome, ""))


def labels_text(labels: Mapping[str, str]) -> str:
    """{'site': 'store-1'} -> 'site=store-1' (sorted, space separated)."""
    return " ".join(f"{key}={value}" for key, value in sorted(labels.items()))


def truncate(text: str, width: int) -> str:
    """Cut `text` to `width` characters with an ellipsis."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def isa_summary(isa: Sequence[str]) -> str:
    """['AVX2', 'AVX512', 'VNNI', 'BF16'] -> 'AVX512 VNNI BF16' (AVX512 implies AVX2); '' for none."""
    features = [f for f in isa if not (f == "AVX2" and "AVX512" in isa)]
    return " ".join(features)


def precision_text(inference: str, policy: str) -> Text:
    """A replica's inference precision: yellow when it is not what the deployment's policy asked for
    (e.g. bf16 asked on a CPU without BF16), bold for bf16/f16; empty until the replica reports it."""
    if not inference:
        return Text("")
    if policy not in ("", "auto") and inference != policy:
        return Text(inference, style="yellow")
    return Text(inference, style="bold" if inference in ("bf16", "f16") else "")


def retrieval_line(steps: Sequence[Any]) -> str:
    """The retrieval step of a route trace in a few words ("" when the route did not retrieve)."""
    step = next((s for s in steps if s.target.startswith("retrieve:")), None)
    if step is None:
        return ""
    return f"{step.target.split(':', 1)[1]} {step.outcome} in {ms(step.ms)} ms: {step.reason}"


def verdict_line(steps: Sequence[Any]) -> str:
    """Why the answer came from where it did: the escalation policy's verdict, else the first
    escalation, else "" (the first candidate answered)."""
    policy = next((s for s in steps if s.target.startswith("policy:")), None)
    if policy is not None:
        where = "hosted" if policy.outcome == "escalate" else "edge"
        return f"escalation policy {policy.target.split(':', 1)[1]} -> {where}: {policy.reason}"
    escalated = next((s for s in steps if s.outcome in ("escalate", "error", "timeout")), None)
    if escalated is not None:
        return f"escalated from {escalated.target} ({escalated.outcome}): {escalated.reason}"
    return ""


def is_replay(steps: Sequence[Any]) -> bool:
    """True when the hosted answer was the stand-in's REPLAY of a recorded answer."""
    return any("REPLAY" in s.reason for s in steps)


def degraded_summary(degraded: Any) -> str:
    """Offline mode in one line (a fleet_pb2.Degraded): why the hosted tier is down, degraded answers
    and the deferred-escalation queue; "" when there is nothing to say."""
    queued = degraded.deferred_queued
    if not (degraded.active or degraded.answers or queued):
        return ""
    head = f"OFFLINE: {degraded.reason}" if degraded.active and degraded.reason else "hosted tier back"
    parts = [
        head,
        f"{degraded.answers:,} degraded answers ({degraded.answers_last_minute:,} in the last minute)",
    ]
    if queued or degraded.deferred_sent or degraded.deferred_refused:
        parts.append(
            f"deferred queue {queued:,} (sent {degraded.deferred_sent:,}, refused {degraded.deferred_refused:,})"
        )
    return " · ".join(parts)
