"""`edgefleet status` tables: precision and ISA over the demo snapshot, and the LLM replicas' figures."""

from __future__ import annotations

from rich.console import Console

from cli.status_view import render_snapshot
from protos.edgefleet.v1 import fleet_pb2
from tui.demo import build_demo_snapshot


def test_status_shows_inference_precision_isa_and_fallback_reasons() -> None:
    console = Console(record=True, width=240, color_system=None)
    render_snapshot(build_demo_snapshot(), "127.0.0.1:50051", console)
    text = console.export_text()
    head = next(line for line in text.splitlines() if "edge-head" in line and "healthy" in line)
    assert "AVX512 VNNI AMX BF16" in head  # AVX2 is implied by AVX512
    assert "edge-head/CPU bf16:ready" in text and "kiosk-3/CPU f32:ready" in text
    generalist = next(line for line in text.splitlines() if line.startswith("│ generalist"))
    assert "│ FP32/f32 " in generalist  # the model's precision, then the policy
    assert "clinc-kitchen_and_dining-1: precision bf16 requested but this CPU has no BF16" in text


def test_node_names_stay_whole_on_an_80_column_terminal() -> None:
    console = Console(record=True, width=80, color_system=None)
    snap = build_demo_snapshot()
    render_snapshot(snap, "127.0.0.1:50051", console)
    text = console.export_text()
    assert all(n.name in text for n in snap.nodes)


def test_llm_replicas_show_tokens_ttft_and_waiting() -> None:
    snap = fleet_pb2.FleetSnapshot(version=3)
    snap.deployments.add(name="router", model="domain-router", task="classify", desired=1, ready=1)
    chat = snap.deployments.add(name="chat", model="smollm2-135m", task="generate", context_length=8192)
    chat.replicas.add(
        replica_id="chat-1a2b3c",
        node_name="edge-small",
        device="CPU",
        state="ready",
        stats=fleet_pb2.ReplicaStats(tokens_per_s=180.0, ttft_p50_ms=42.0, ttft_p95_ms=190.0, waiting=2),
    )
    console = Console(record=True, width=200)
    render_snapshot(snap, "127.0.0.1:50051", console)
    text = console.export_text()
    assert "LLM replicas" in text
    row = next(line for line in text.splitlines() if "chat-1a2b3c" in line)
    for value in ("edge-small", "180", "42 / 190", "8192"):
        assert value in row


def test_no_llm_table_without_generative_deployments() -> None:
    snap = fleet_pb2.FleetSnapshot(version=1)
    snap.deployments.add(name="router", model="domain-router", task="classify")
    console = Console(record=True, width=200)
    render_snapshot(snap, "x", console)
    assert "LLM replicas" not in console.export_text()


def test_status_lists_the_prometheus_targets_router_first() -> None:
    from cli.status_view import metrics_targets

    snap = build_demo_snapshot()
    replica = snap.deployments[0].replicas[0]
    replica.metrics_address = "10.0.0.7:41234"
    assert metrics_targets(snap, "http://127.0.0.1:8080/v1") == ["127.0.0.1:8080", "10.0.0.7:41234"]
    console = Console(record=True, width=240, color_system=None)
    render_snapshot(snap, "127.0.0.1:50051", console, http="http://127.0.0.1:8080/v1")
    assert "Prometheus /metrics: 127.0.0.1:8080, 10.0.0.7:41234" in console.export_text()


def test_collections_show_name_version_and_chunks() -> None:
    snap = fleet_pb2.FleetSnapshot(version=2)
    snap.deployments.add(name="router", model="domain-router", task="classify", desired=1, ready=1)
    rag = snap.deployments.add(
        name="squad-retriever",
        model="squad-dev",
        version="1-6caa0727b2de",
        task="retrieve",
        desired=1,
        ready=1,
    )
    rag.collection.CopyFrom(
        fleet_pb2.Collection(chunks=2464, documents=2067, index="brute", encoder="MiniLM")
    )
    console = Console(record=True, width=200)
    render_snapshot(snap, "127.0.0.1:50051", console)
    text = console.export_text()
    assert "Collections (retriever deployments)" in text
    row = next(line for line in text.splitlines() if "squad-retriever" in line and "2464" in line)
    for value in ("squad-dev", "1-6caa0727b2de", "2067", "brute"):
        assert value in row
    narrow = Console(record=True, width=80)
    render_snapshot(snap, "127.0.0.1:50051", narrow)
    assert any(
        "squad-retriever" in line and "1-6caa0727b2de" in line for line in narrow.export_text().splitlines()
    )
    console = Console(record=True, width=200)
    render_snapshot(fleet_pb2.FleetSnapshot(version=1), "x", console)
    assert "Collections" not in console.export_text()


def test_degraded_fleet_view_and_recent_events_are_shown() -> None:
    snap = fleet_pb2.FleetSnapshot(
        version=9,
        fleet_status="degraded",
        fleet_view_age_s=42.0,
        fleet_status_reason="no word from the control plane for 42 s (bound 30 s)",
        events=[f"12:00:0{i} event {i}" for i in range(10)],
    )
    console = Console(record=True, width=120, color_system=None)
    render_snapshot(snap, "127.0.0.1:50051", console)
    text = console.export_text()
    assert "fleet view DEGRADED (42 s old): no word from the control plane for 42 s" in text
    assert "event 9" in text and "event 2" in text and "event 1" not in text  # the last 8


def test_status_shows_the_offline_mode_and_the_deferred_queue() -> None:
    snap = build_demo_snapshot()
    console = Console(record=True, width=240, color_system=None)
    render_snapshot(snap, "127.0.0.1:50051", console)
    assert "OFFLINE" not in console.export_text()  # nothing degraded: no line
    snap.degraded.CopyFrom(
        fleet_pb2.Degraded(
            active=True, reason="hosted 'big' circuit open, next probe in 4.2s", answers=12,
            answers_last_minute=3, deferred_queued=5, deferred_sent=7,
        )
    )  # fmt: skip
    console = Console(record=True, width=240, color_system=None)
    render_snapshot(snap, "127.0.0.1:50051", console)
    line = next(line for line in console.export_text().splitlines() if "OFFLINE" in line)
    assert "hosted 'big' circuit open" in line and "12 degraded answers (3 in the last minute)" in line
    assert "deferred queue 5 (sent 7, refused 0)" in line
