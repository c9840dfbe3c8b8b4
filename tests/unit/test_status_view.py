"""`edgefleet status` tables over the demo snapshot (no router): precision and ISA are shown."""

from __future__ import annotations

from rich.console import Console

from cli.status_view import render_snapshot
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
