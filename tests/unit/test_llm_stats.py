"""fleet.serving.llm_stats: tokens per second, time to first token, waiting and generating counts."""

from __future__ import annotations

import time

from fleet.serving.llm_stats import LLM_STAT_KEYS, GenerationStats


def test_generation_stats() -> None:
    stats = GenerationStats(window_s=10.0)
    stats.waiting(+1)
    stats.waiting(+1)
    assert stats.snapshot().queue_depth == 2
    stats.waiting(-1)
    stats.first_token(40.0)
    for ttft in (10.0, 20.0, 30.0):
        stats.first_token(ttft)
    stats.tokens(50)
    stats.tokens(30)
    snap = stats.snapshot()
    assert snap.queue_depth == 1 and snap.generating == 4 and snap.completion_tokens == 80
    assert snap.ttft_p50_ms == 25.0 and 30.0 < snap.ttft_p95_ms <= 40.0
    assert snap.tokens_per_s > 0
    stats.stopped_generating()
    assert stats.snapshot().generating == 3
    report = snap.as_dict()
    assert set(LLM_STAT_KEYS) <= set(report) and {"rps", "p50_ms", "inflight"} <= set(report)


def test_token_rate_window() -> None:
    stats = GenerationStats(window_s=0.001)
    stats.tokens(100)
    time.sleep(0.01)
    assert stats.snapshot().tokens_per_s == 0.0
    assert stats.snapshot().completion_tokens == 100
