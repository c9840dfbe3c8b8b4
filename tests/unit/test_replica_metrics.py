"""A replica's Prometheus metrics without sockets: histograms observed through ServingStats /
GenerationStats, counters and gauges read from them at scrape time."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from fleet.serving.llm_stats import GenerationStats
from fleet.serving.replica_metrics import ReplicaMetrics
from fleet.serving.serving_stats import ServingStats


def _scrape(metrics: ReplicaMetrics) -> dict[str, float]:
    text = generate_latest(metrics.registry).decode()
    return {
        s.name: s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if "le" not in s.labels
    }


def test_text_replica_requests_errors_latency_and_batch_size() -> None:
    stats = ServingStats()
    metrics = ReplicaMetrics("clinc-banking", "clinc-banking", {"replica": "r-1", "node": "n"})
    metrics.watch(stats)
    stats.enter()
    stats.batch(3)
    stats.leave(12.0, ok=True)
    stats.enter()
    stats.leave(5.0, ok=False)
    stats.queued(+1)
    got = _scrape(metrics)
    assert got["edgefleet_replica_requests_total"] == 2 and got["edgefleet_replica_request_errors_total"] == 1
    assert got["edgefleet_replica_request_duration_seconds_count"] == 2
    assert abs(got["edgefleet_replica_request_duration_seconds_sum"] - 0.017) < 1e-9
    assert got["edgefleet_replica_batch_size_sum"] == 3 and got["edgefleet_replica_queue_depth"] == 1
    assert got["edgefleet_replica_info"] == 1
    assert "edgefleet_replica_generated_tokens_total" not in got  # text models have no tokens


def test_llm_replica_tokens_and_time_to_first_token() -> None:
    stats = GenerationStats()
    metrics = ReplicaMetrics("smollm2", "smollm2-135m")
    metrics.watch(stats)
    stats.first_token(80.0)
    stats.tokens(5)
    stats.tokens(7)
    got = _scrape(metrics)
    assert got["edgefleet_replica_generated_tokens_total"] == 12
    assert got["edgefleet_replica_time_to_first_token_seconds_count"] == 1
    assert (
        got["edgefleet_replica_tokens_per_second"] > 0 and got["edgefleet_replica_generating_requests"] == 1
    )


def test_stats_without_metrics_observe_nothing() -> None:
    stats = ServingStats()
    stats.enter()
    stats.batch(2)
    stats.leave(1.0, ok=True)
    assert stats.snapshot().requests == 1 and stats.metrics is None
