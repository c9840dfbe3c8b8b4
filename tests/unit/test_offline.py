"""Offline mode's reasons and state (router.offline): which hosted failures make a degraded answer
and why, degraded answers counted, and whether the hosted tier is down right now."""

from __future__ import annotations

from dataclasses import dataclass

from router.domain import COST_BUDGET, ERROR, LATENCY_BUDGET
from router.errors import TargetError
from router.offline import (
    HOSTED_RATE_LIMITED,
    HOSTED_TIMEOUT,
    HOSTED_UNAVAILABLE,
    NO_TIME_LEFT,
    OfflineState,
    failure_reason,
    skip_reason,
)


@dataclass
class Hosted:
    unavailable_reason: str | None = None


class Deferred:
    def counts(self) -> tuple[int, int, int]:
        return (3, 2, 1)


def test_failed_hosted_calls_name_their_reason() -> None:
    assert failure_reason(TargetError("refused")) == HOSTED_UNAVAILABLE
    assert failure_reason(TargetError("slow", timeout=True)) == HOSTED_TIMEOUT
    assert failure_reason(TargetError("429", rate_limited=True)) == HOSTED_RATE_LIMITED


def test_skipped_hosted_calls_are_degraded_unless_the_caller_capped_the_cost() -> None:
    assert skip_reason(ERROR, "hosted unavailable: circuit open, next probe in 3.0s") == HOSTED_UNAVAILABLE
    assert skip_reason(ERROR, "hosted unavailable: rate limited (HTTP 429)") == HOSTED_RATE_LIMITED
    assert skip_reason(LATENCY_BUDGET, "est. latency 900 ms > remaining 20 ms") == NO_TIME_LEFT
    assert skip_reason(COST_BUDGET, "est. cost $0.01 > remaining $0.00") == ""


def test_state_is_active_while_a_hosted_endpoint_is_down() -> None:
    now = [100.0]
    state = OfflineState(clock=lambda: now[0])
    snap = state.snapshot({"big": Hosted("circuit open, next probe in 4.0s")}, Deferred())
    assert snap.active and snap.reason == "hosted 'big' circuit open, next probe in 4.0s"
    assert (snap.deferred_queued, snap.deferred_sent, snap.deferred_refused) == (3, 2, 1)
    assert not state.snapshot({"big": Hosted()}).active


def test_degraded_answers_are_counted_and_age_out_of_the_last_minute() -> None:
    now = [100.0]
    state = OfflineState(clock=lambda: now[0])
    state.record(HOSTED_TIMEOUT)
    state.record(HOSTED_TIMEOUT)
    state.record(HOSTED_UNAVAILABLE)
    snap = state.snapshot({"big": Hosted()})
    assert (snap.answers, snap.recent, snap.active) == (3, 3, True)
    assert snap.by_reason == {HOSTED_TIMEOUT: 2, HOSTED_UNAVAILABLE: 1}
    assert snap.reason == HOSTED_UNAVAILABLE and state.version == 3
    now[0] += 45  # no longer "lately", still in the last minute
    snap = state.snapshot({"big": Hosted()})
    assert (snap.active, snap.recent, snap.reason) == (False, 3, "")
    now[0] += 30
    assert state.snapshot({}).recent == 0 and state.snapshot({}).answers == 3
