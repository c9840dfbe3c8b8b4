"""A replica's Prometheus metrics and the small HTTP server (``/metrics``) that serves them,
bound where the replica's gRPC server binds; its port is in the replica's health report and so in
the fleet snapshot (``metrics_address``) and ``edgefleet status``.

Observed per request (hot path: a histogram observation or two): latency, texts per request
(text models), time to first token (LLMs). Read at scrape time from :class:`ServingStats`
(nothing on the hot path): requests, errors, queue depth, requests in flight and, for LLMs,
generated tokens, tokens/s over the last 10 s and requests generating.

Every metric of one replica has the same ``deployment`` and ``model`` labels (constant per
process, so no cardinality cost); which replica it is is the scrape target itself (Prometheus'
``instance``), and ``edgefleet_replica_info`` names it (replica id, node, device, version).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from fleet.serving.serving_stats import ServingStats

LATENCY_BUCKETS_S = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
TTFT_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
QUEUE_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class ReplicaMetrics:
    """The histograms one replica observes, in their own registry (with the scrape-time
    collector of its :class:`ServingStats`)."""

    def __init__(self, deployment: str, model: str, info: dict[str, str] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.labels = {"deployment": deployment, "model": model}
        names, values = list(self.labels), list(self.labels.values())

        def histogram(name: str, doc: str, buckets: tuple[float, ...]) -> Histogram:
            return Histogram(name, doc, names, buckets=buckets, registry=self.registry).labels(*values)

        self.latency = histogram(
            "edgefleet_replica_request_duration_seconds",
            "Inference request latency in the replica (arrival to answer, queueing included).",
            LATENCY_BUCKETS_S,
        )
        self.batch = histogram(
            "edgefleet_replica_batch_size",
            "Texts per OpenVINO inference (text models; a dynamic batch coalesces several requests).",
            BATCH_BUCKETS,
        )
        self.coalesced = histogram(
            "edgefleet_replica_batch_requests",
            "Requests coalesced into one dynamic batch (text models).",
            BATCH_BUCKETS,
        )
        self.queue_wait = histogram(
            "edgefleet_replica_queue_wait_seconds",
            "Time a request waited in the dynamic batcher's queue before its inference started.",
            QUEUE_BUCKETS_S,
        )
        self.ttft = histogram(
            "edgefleet_replica_time_to_first_token_seconds",
            "LLM: request arrival to its first generated token.",
            TTFT_BUCKETS_S,
        )
        self._info = dict(info or {})
        self._stats: ServingStats | None = None

    def watch(self, stats: ServingStats) -> None:
        """Report `stats` at scrape time, and observe its requests from now on."""
        self._stats = stats
        stats.metrics = self
        self.registry.register(_StatsCollector(self))

    def observe_request(self, latency_s: float) -> None:
        """One request finished."""
        self.latency.observe(latency_s)

    def observe_batch(self, texts: int) -> None:
        """One inference with `texts` texts."""
        self.batch.observe(texts)

    def observe_coalesced(self, requests: int, waits_s: list[float]) -> None:
        """One dynamic batch of `requests` requests, each queued for `waits_s`."""
        self.coalesced.observe(requests)
        observe = self.queue_wait.observe
        for wait in waits_s:
            observe(wait)

    def observe_ttft(self, ttft_s: float) -> None:
        """One generation's first token."""
        self.ttft.observe(ttft_s)


class _StatsCollector(Collector):
    """Counters and gauges read from the replica's ServingStats when scraped."""

    def __init__(self, metrics: ReplicaMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        m = self.metrics
        stats = m._stats
        names, values = list(m.labels), list(m.labels.values())
        info = InfoMetricFamily("edgefleet_replica", "Which replica this is.", labels=names)
        info.add_metric(values, m._info)
        yield info
        if stats is None:
            return
        snap = stats.snapshot()
        counters = (
            ("edgefleet_replica_requests", "Inference requests answered or failed.", snap.requests),
            ("edgefleet_replica_request_errors", "Inference requests that failed.", snap.errors),
        )
        for name, doc, value in counters:
            family = CounterMetricFamily(name, doc, labels=names)
            family.add_metric(values, float(value))
            yield family
        gauges = [
            ("edgefleet_replica_queue_depth", "Requests waiting (text: for a slot; LLM: for their first token).",
             snap.queue_depth),
            ("edgefleet_replica_inflight_requests", "Requests in the replica.", snap.inflight),
        ]  # fmt: skip
        tokens_per_s = getattr(snap, "tokens_per_s", None)
        if tokens_per_s is not None:
            tokens = CounterMetricFamily(
                "edgefleet_replica_generated_tokens", "LLM: output tokens generated.", labels=names
            )
            tokens.add_metric(values, float(getattr(snap, "completion_tokens", 0)))
            yield tokens
            gauges.append(
                ("edgefleet_replica_tokens_per_second", "LLM: output tokens per second over the last 10 s.",
                 tokens_per_s)
            )  # fmt: skip
            gauges.append(
                ("edgefleet_replica_generating_requests", "LLM: requests producing tokens.",
                 getattr(snap, "generating", 0))
            )  # fmt: skip
        for name, doc, value in gauges:
            gauge = GaugeMetricFamily(name, doc, labels=names)
            gauge.add_metric(values, float(value))
            yield gauge


class MetricsServer:
    """The replica's ``/metrics`` HTTP server (prometheus_client's, in a daemon thread)."""

    def __init__(self, metrics: ReplicaMetrics, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server: Any
        self._thread: threading.Thread
        self._server, self._thread = start_http_server(port, addr=host, registry=metrics.registry)
        self.port = int(self._server.server_port)
        self.address = f"{host}:{self.port}"

    def stop(self) -> None:
        """Stop serving and close the socket (bounded wait for the thread)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)
