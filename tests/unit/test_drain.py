"""In-flight requests and their deadlines (router.drain): what a graceful shutdown waits for."""

from __future__ import annotations

import asyncio

from router.drain import Inflight, reserve_s


def test_reserve_is_capped_at_a_tenth_of_the_budget() -> None:
    assert reserve_s(100.0, 3000.0) == 0.1
    assert reserve_s(100.0, 500.0) == 0.05
    assert reserve_s(0.0, 3000.0) == 0.0


def test_latest_deadline_of_the_requests_in_flight() -> None:
    now = [10.0]
    inflight = Inflight(clock=lambda: now[0])
    assert inflight.latest_deadline_s() == 0.0
    a = inflight.add(3.0)
    b = inflight.add(30.0)
    now[0] += 1.0
    assert len(inflight) == 2 and inflight.latest_deadline_s() == 29.0
    inflight.remove(b)
    assert inflight.latest_deadline_s() == 2.0
    inflight.remove(a)
    inflight.remove(a)  # twice is harmless
    assert len(inflight) == 0


async def test_wait_idle_returns_when_the_last_request_ends() -> None:
    inflight = Inflight()
    assert await inflight.wait_idle(0.0)
    token = inflight.add(5.0)
    waiter = asyncio.create_task(inflight.wait_idle(10.0))
    await asyncio.sleep(0)
    assert not waiter.done()
    inflight.remove(token)
    assert await asyncio.wait_for(waiter, 5.0)


async def test_wait_idle_gives_up_after_its_timeout() -> None:
    inflight = Inflight()
    inflight.add(5.0)
    assert not await inflight.wait_idle(0.01)
