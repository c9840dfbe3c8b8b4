"""Pure helpers of the dashboard: formatting, backoff, and the in-memory client."""

from __future__ import annotations

import pytest

from tui import format as fmt
from tui.backoff import Backoff
from tui.client import RouterUnavailable
from tui.demo import build_demo_snapshot
from tui.memory_client import MemoryFleetClient


def test_escalations_show_the_four_known_reasons_first_and_merge_aliases() -> None:
    rows = fmt.escalation_rows({"out-of-scope": 3, "oos": 2, "timeout": 1, "circuit_open": 4})
    assert rows == [
        ("low confidence", 0),
        ("out-of-scope", 5),
        ("latency budget", 0),
        ("error", 1),
        ("circuit open", 4),
    ]


def test_number_formats() -> None:
    assert fmt.sparkline_text([0, 1, 2, 4], width=3) == "▃▅█"
    assert fmt.sparkline_text([0, 0]) == "▁▁"
    assert fmt.sparkline_text([]) == ""
    assert fmt.usd(0) == "$0"
    assert fmt.usd(0.0000006) == "$0.000001"
    assert fmt.usd(18.9452) == "$18.945"
    assert fmt.usd(1234.5) == "$1,234.50"
    assert fmt.age(0.42) == "0.4s" and fmt.age(45) == "45s" and fmt.age(600) == "10m"
    assert fmt.clock(1_767_225_605_000) == "00:00:05"
    assert fmt.clock(0) == "--:--:--"
    assert fmt.ratio_percent(1, 3) == "33.3%" and fmt.ratio_percent(1, 0) == "–"
    assert fmt.truncate("abcdef", 4) == "abc…"


def test_backoff_doubles_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(initial_s=0.5, cap_s=3.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5
    jittery = Backoff(initial_s=1.0, cap_s=10.0, jitter=0.1)
    assert all(0.9 <= jittery.next_delay() / 2**i <= 1.1 for i in range(3))


async def test_memory_client_scale_drain_and_unreachable() -> None:
    client = MemoryFleetClient(build_demo_snapshot())
    version = client.snapshot.version
    result = await client.scale("clinc-travel", 3)
    assert result.ok and client.snapshot.version == version + 1
    travel = next(d for d in client.snapshot.deployments if d.name == "clinc-travel")
    assert (travel.desired, travel.ready, len(travel.replicas)) == (3, 3, 3)
    assert not (await client.scale("nope", 1)).ok

    result = await client.drain("store-2")
    store2 = next(n for n in client.snapshot.nodes if n.name == "store-2")
    assert result.ok and store2.drained and store2.health == "drained" and not store2.replicas
    assert all(r.node_name != "store-2" for d in client.snapshot.deployments for r in d.replicas)
    assert (await client.drain("store-2", undrain=True)).ok and not store2.drained

    stream = client.watch(min_interval_ms=0)
    first = await anext(stream)
    assert first.version == client.snapshot.version
    client.set_unreachable(True)
    with pytest.raises(RouterUnavailable):
        await anext(stream)
    with pytest.raises(RouterUnavailable):
        await client.get()
    client.fail_actions = "busy"
    client.set_unreachable(False)
    assert (await client.reload_policy()).message == "busy"
