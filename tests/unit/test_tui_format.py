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


def test_isa_and_precision_formats() -> None:
    assert fmt.isa_summary(["AVX2", "AVX512", "VNNI", "AMX", "BF16"]) == "AVX512 VNNI AMX BF16"
    assert fmt.isa_summary(["AVX2", "VNNI"]) == "AVX2 VNNI"
    assert fmt.isa_summary([]) == ""
    assert str(fmt.precision_text("", "auto")) == ""  # not reported yet
    assert fmt.precision_text("bf16", "auto").style == "bold"
    assert fmt.precision_text("f32", "auto").style == ""
    fallback = fmt.precision_text("f32", "bf16")  # bf16 asked, the CPU has none
    assert str(fallback) == "f32" and fallback.style == "yellow"
    assert fmt.precision_text("bf16", "bf16").style == "bold"


def test_demo_replicas_report_precision_and_isa() -> None:
    snap = build_demo_snapshot()
    replicas = {r.replica_id: r for d in snap.deployments for r in d.replicas}
    assert replicas["domain-router-1"].inference_precision == "bf16"  # auto on a CPU with AMX/BF16
    assert replicas["domain-router-2"].inference_precision == "f32"  # auto on an AVX2 VNNI CPU
    assert replicas["clinc-travel-1"].inference_precision == "f16"  # NPU
    assert replicas["generalist-1"].inference_precision == "f32"  # pinned f32 on a BF16 CPU
    kiosk = replicas["clinc-kitchen_and_dining-1"]
    assert kiosk.inference_precision == "f32" and "no BF16" in kiosk.detail and list(kiosk.isa) == []
    assert list(replicas["domain-router-1"].isa) == ["AVX2", "AVX512", "VNNI", "AMX", "BF16"]


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


def test_retrieval_and_verdict_lines_of_a_generation_trace() -> None:
    from types import SimpleNamespace as Step

    from tui.format import is_replay, retrieval_line, verdict_line

    steps = [
        Step(target="retrieve:squad-retriever", outcome="ok", reason="5 passages from squad-dev:1", ms=12.0),
        Step(
            target="policy:squad-policy", outcome="escalate", reason="p(good edge answer) 0.20 < 0.40", ms=1.0
        ),
        Step(target="llm", outcome="skip", reason="escalation policy", ms=0.0),
        Step(target="big", outcome="ok", reason="4 tokens, REPLAY of a recorded answer (stand-in)", ms=160.0),
    ]
    assert retrieval_line(steps).startswith("squad-retriever ok in 12") and "5 passages" in retrieval_line(
        steps
    )
    assert verdict_line(steps) == "escalation policy squad-policy -> hosted: p(good edge answer) 0.20 < 0.40"
    assert is_replay(steps) and not is_replay(steps[:2])
    plain = [Step(target="llm", outcome="escalate", reason="confidence 0.2 < 0.5", ms=5.0)]
    assert verdict_line(plain) == "escalated from llm (escalate): confidence 0.2 < 0.5"
    assert retrieval_line(plain) == "" and verdict_line([]) == ""


def test_degraded_summary_only_when_there_is_something_to_say() -> None:
    from protos.edgefleet.v1 import fleet_pb2

    assert fmt.degraded_summary(fleet_pb2.Degraded()) == ""
    back = fmt.degraded_summary(fleet_pb2.Degraded(answers=4, answers_last_minute=0))
    assert back == "hosted tier back · 4 degraded answers (0 in the last minute)"
    down = fmt.degraded_summary(
        fleet_pb2.Degraded(active=True, reason="hosted 'big' rate limited", deferred_queued=2)
    )
    assert down.startswith("OFFLINE: hosted 'big' rate limited") and "deferred queue 2" in down
