"""The fuzzing run's verdict, after every other fuzz test of the session: no crash, no hang, the
router's and replicas' state is bounded, and memory stays flat over a further 2,000 requests."""

from __future__ import annotations

import gc

import grpc
import pytest

from protos.edgefleet.v1 import router_pb2, router_pb2_grpc
from tests.fuzz.live import APP_KEY, LiveServers, rss_mb
from tests.fuzz.tally import TALLY

pytestmark = pytest.mark.integration
STEADY_REQUESTS = 2000
STEADY_GROWTH_MB = 32.0


def test_no_crash_no_hang_and_memory_bounded(live: LiveServers) -> None:
    assert not TALLY.crashes, TALLY.crashes[:10]
    assert not TALLY.hangs, TALLY.hangs[:10]
    engine = live.router.engine
    assert engine.inflight == 0
    assert len(engine.accounting.recent) <= engine.accounting.recent.maxlen  # type: ignore[operator]
    assert all(len(r.request_id) <= 128 for r in engine.accounting.recent)
    assert len(engine.gate._keys) <= 4  # one state per configured key
    with grpc.insecure_channel(live.router.address) as channel:
        stub = router_pb2_grpc.RouterStub(channel)
        metadata = (("authorization", f"Bearer {APP_KEY}"),)
        batch = router_pb2.InferRequest(task="classify", texts=["what is my balance", "transfer money"])
        for _ in range(200):  # warm-up at the same load
            stub.Infer(batch, timeout=10, metadata=metadata)
        gc.collect()
        TALLY.memory["fuzzed"] = before = rss_mb()
        for i in range(STEADY_REQUESTS):
            batch.request_id = f"steady-{i}"
            stub.Infer(batch, timeout=10, metadata=metadata)
        gc.collect()
        after = rss_mb()
    growth = after - before
    TALLY.memory.update(
        steady_growth=growth, steady_requests=STEADY_REQUESTS, bounded=growth < STEADY_GROWTH_MB
    )
    assert growth < STEADY_GROWTH_MB, f"memory grew {growth:.1f} MB over {STEADY_REQUESTS} requests"
