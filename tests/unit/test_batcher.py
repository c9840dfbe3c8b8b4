"""DynamicBatcher: concurrent requests coalesced into one inference, split back per request, the
max_batch cap, the adaptive wait, errors and cancellation (a fake model, no OpenVINO)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from edgefleet.policy.batching_options import BatchingOptions
from fleet.serving.batcher import DynamicBatcher
from fleet.serving.serving_stats import ServingStats


class FakeModel:
    """Records each batch; PROBS row i is [len(text_i), 0]."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.fail = fail

    def infer(self, texts: list[str]) -> dict[str, np.ndarray]:
        self.batches.append(list(texts))
        if self.fail:
            raise ValueError("model says no")
        return {"PROBS": np.array([[len(t), 0.0] for t in texts], dtype=np.float32)}


async def _gather(
    batcher: DynamicBatcher, requests: list[list[str]]
) -> list[tuple[float, dict[str, np.ndarray]]]:
    return await asyncio.gather(*(batcher.submit(r) for r in requests))


def test_concurrent_requests_share_one_inference_and_get_their_own_rows() -> None:
    model = FakeModel()
    stats = ServingStats()
    batcher = DynamicBatcher(
        model.infer, BatchingOptions(max_batch=32, max_delay_us=0), stats=stats, inline=True
    )

    async def run() -> list[tuple[float, dict[str, np.ndarray]]]:
        try:
            return await _gather(batcher, [["a"], ["bb", "ccc"], ["dddd"]])
        finally:
            await batcher.close()

    results = asyncio.run(run())
    assert model.batches == [["a", "bb", "ccc", "dddd"]]
    assert [r[1]["PROBS"][:, 0].tolist() for r in results] == [[1.0], [2.0, 3.0], [4.0]]
    assert all(queue_ms >= 0.0 for queue_ms, _ in results)
    assert stats.batches == 1 and stats.batched_texts == 4 and stats.queue_depth == 0


def test_max_batch_caps_texts_per_inference_without_splitting_a_request() -> None:
    model = FakeModel()
    batcher = DynamicBatcher(model.infer, BatchingOptions(max_batch=2, max_delay_us=0))

    async def run() -> None:
        try:
            await _gather(batcher, [["a"], ["b"], ["c"], ["d", "e", "f"]])
        finally:
            await batcher.close()

    asyncio.run(run())
    assert model.batches == [["a", "b"], ["c"], ["d", "e", "f"]]


def test_a_fixed_delay_waits_for_later_requests() -> None:
    model = FakeModel()
    batcher = DynamicBatcher(model.infer, BatchingOptions(max_batch=8, max_delay_us=200_000, adaptive=False))

    async def run() -> None:
        first = asyncio.ensure_future(batcher.submit(["a"]))
        await asyncio.sleep(0.01)  # well inside the 200 ms window
        second = asyncio.ensure_future(batcher.submit(["b"]))
        await asyncio.gather(first, second)
        await batcher.close()

    asyncio.run(run())
    assert model.batches == [["a", "b"]]


def test_adaptive_mode_does_not_wait_when_requests_are_rare() -> None:
    batcher = DynamicBatcher(FakeModel().infer, BatchingOptions(max_batch=8, max_delay_us=500, adaptive=True))
    batcher.mean_gap_s = 0.5  # one request every 500 ms: nobody will join within 500 us
    assert batcher.delay_s() == 0.0
    batcher.mean_gap_s = 0.0001
    assert batcher.delay_s() == pytest.approx(0.0005)
    fixed = DynamicBatcher(FakeModel().infer, BatchingOptions(max_delay_us=500, adaptive=False))
    fixed.mean_gap_s = 0.5
    assert fixed.delay_s() == pytest.approx(0.0005)


def test_an_inference_error_reaches_every_caller_of_the_batch() -> None:
    batcher = DynamicBatcher(FakeModel(fail=True).infer, BatchingOptions(max_delay_us=0))

    async def run() -> list[object]:
        try:
            return await asyncio.gather(batcher.submit(["a"]), batcher.submit(["b"]), return_exceptions=True)
        finally:
            await batcher.close()

    results = asyncio.run(run())
    assert all(isinstance(r, ValueError) for r in results)


def test_a_cancelled_request_is_dropped_from_its_batch() -> None:
    model = FakeModel()
    batcher = DynamicBatcher(model.infer, BatchingOptions(max_batch=8, max_delay_us=200_000, adaptive=False))

    async def run() -> None:
        gone = asyncio.ensure_future(batcher.submit(["gone"]))
        kept = asyncio.ensure_future(batcher.submit(["kept"]))
        await asyncio.sleep(0)
        gone.cancel()
        await kept
        await batcher.close()

    asyncio.run(run())
    assert model.batches == [["kept"]]


def test_inference_runs_in_a_worker_thread_unless_inline() -> None:
    import threading

    seen: list[str] = []

    def infer(texts: list[str]) -> dict[str, np.ndarray]:
        seen.append(threading.current_thread().name)
        return {"PROBS": np.zeros((len(texts), 1), dtype=np.float32)}

    async def run(inline: bool) -> None:
        batcher = DynamicBatcher(infer, BatchingOptions(max_delay_us=0), inline=inline)
        await batcher.submit(["x"])
        await batcher.close()

    asyncio.run(run(False))
    asyncio.run(run(True))
    assert seen[0].startswith("ov-batch") and seen[1] == threading.main_thread().name
