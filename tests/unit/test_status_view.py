"""cli.status_view: the tables of `edgefleet status`, including the LLM replicas' figures."""

from __future__ import annotations

from rich.console import Console

from cli.status_view import render_snapshot
from protos.edgefleet.v1 import fleet_pb2


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
