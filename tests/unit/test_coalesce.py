"""router.coalesce: calls to one replica are merged while the replica's calls are busy, never
delayed when it is idle; outputs go back to their callers; errors, deadlines and other replicas."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from router.coalesce import CallCoalescer
from router.domain import EdgeOutput
from router.errors import TargetError


class FakeReplica:
    """Answers each text with its own text as the label; calls wait until released."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.release = asyncio.Event()
        self.fail = fail

    async def send(
        self, address: str, model: str, version: str, texts: Sequence[str], task: str, timeout_s: float
    ) -> list[EdgeOutput]:
        self.calls.append((address, list(texts)))
        await self.release.wait()
        if self.fail:
            raise TargetError(f"{model} at {address} failed")
        return [EdgeOutput(label=t, probs=None, embedding=None) for t in texts]


def test_an_idle_replica_is_called_at_once() -> None:
    async def run() -> list[EdgeOutput]:
        replica = FakeReplica()
        replica.release.set()
        coalescer = CallCoalescer(replica.send, max_inflight=1)
        out = await coalescer.infer("a:1", "m", "1", ["hi"], "classify", 1.0)
        assert replica.calls == [("a:1", ["hi"])]
        return out

    assert [o.label for o in asyncio.run(run())] == ["hi"]


def test_texts_waiting_for_a_busy_replica_go_in_one_call_and_get_their_own_outputs() -> None:
    async def run() -> tuple[FakeReplica, list[list[EdgeOutput]]]:
        replica = FakeReplica()
        coalescer = CallCoalescer(replica.send, max_batch=8, max_inflight=1)
        tasks = [
            asyncio.ensure_future(coalescer.infer("a:1", "m", "1", texts, "classify", 5.0))
            for texts in (["first"], ["b"], ["c", "d"], ["e"])
        ]
        await asyncio.sleep(0)
        replica.release.set()
        return replica, await asyncio.gather(*tasks)

    replica, outs = asyncio.run(run())
    assert replica.calls == [("a:1", ["first"]), ("a:1", ["b", "c", "d", "e"])]
    assert [[o.label for o in out] for out in outs] == [["first"], ["b"], ["c", "d"], ["e"]]


def test_max_batch_splits_the_waiting_texts_into_several_calls() -> None:
    async def run() -> FakeReplica:
        replica = FakeReplica()
        coalescer = CallCoalescer(replica.send, max_batch=2, max_inflight=1)
        tasks = [
            asyncio.ensure_future(coalescer.infer("a:1", "m", "1", [t], "classify", 5.0)) for t in "abcde"
        ]
        await asyncio.sleep(0)
        replica.release.set()
        await asyncio.gather(*tasks)
        return replica

    calls = [texts for _, texts in asyncio.run(run()).calls]
    assert calls == [["a"], ["b", "c"], ["d", "e"]]


def test_other_replicas_and_models_are_not_merged() -> None:
    async def run() -> FakeReplica:
        replica = FakeReplica()
        replica.release.set()
        coalescer = CallCoalescer(replica.send, max_inflight=1)
        await asyncio.gather(
            coalescer.infer("a:1", "m", "1", ["x"], "classify", 5.0),
            coalescer.infer("b:1", "m", "1", ["y"], "classify", 5.0),
            coalescer.infer("a:1", "other", "1", ["z"], "classify", 5.0),
        )
        return replica

    assert sorted(asyncio.run(run()).calls) == [("a:1", ["x"]), ("a:1", ["z"]), ("b:1", ["y"])]


def test_a_failed_call_fails_each_of_its_callers() -> None:
    async def run() -> list[object]:
        replica = FakeReplica(fail=True)
        coalescer = CallCoalescer(replica.send, max_inflight=1)
        tasks = [asyncio.ensure_future(coalescer.infer("a:1", "m", "1", [t], "classify", 5.0)) for t in "abc"]
        await asyncio.sleep(0)
        replica.release.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    assert all(isinstance(r, TargetError) for r in asyncio.run(run()))


def test_a_waiting_caller_keeps_its_own_deadline() -> None:
    async def run() -> None:
        replica = FakeReplica()
        coalescer = CallCoalescer(replica.send, max_inflight=1)
        busy = asyncio.ensure_future(coalescer.infer("a:1", "m", "1", ["busy"], "classify", 5.0))
        await asyncio.sleep(0)
        with pytest.raises(TargetError) as info:
            await coalescer.infer("a:1", "m", "1", ["late"], "classify", 0.01)
        assert info.value.timeout
        replica.release.set()
        await busy
        await asyncio.sleep(0)
        assert [texts for _, texts in replica.calls] == [["busy"]]  # the caller that left is not sent

    asyncio.run(run())


def test_merged_calls_widen_the_routers_queue_limit() -> None:
    from router.choose import Candidate
    from router.estimates import Estimates
    from router.targets import FleetIndex, TargetCaller
    from tests.unit.router_fakes import POLICY_YAML, FakeEdge, make_policy, make_state

    index = FleetIndex.build(make_state(replicas_per_deployment=1))
    for enabled, expected in ((True, None), (False, "replica queues full (max_queue=2)")):
        text = POLICY_YAML.replace(
            "  max_inflight: 8\n",
            f"  max_inflight: 8\n  coalesce: {{enabled: {str(enabled).lower()}, max_batch: 4}}\n",
        )
        text = text.replace(
            "{name: clinc-banking, model: clinc-banking,",
            "{name: clinc-banking, model: clinc-banking, max_queue: 2,",
        )
        policy = make_policy(text)
        estimates = Estimates(0.2)
        caller = TargetCaller(FakeEdge(), {}, estimates)
        for _ in range(3):  # three texts outstanding: over 2 calls, under 2 calls of 4 texts
            estimates.begin("clinc-banking-0")
        est = caller.estimate(Candidate("clinc-banking", "edge"), index, policy, "classify", "hi", [])
        assert est.unavailable == expected
