"""The dashboard shows generation: tokens at the edge vs hosted in the traffic panel, and an LLM
replica's tokens/s and time to first token in the deployments table."""

from __future__ import annotations

from rich.console import Console

from protos.edgefleet.v1 import fleet_pb2
from tui.demo import build_demo_snapshot
from tui.widgets.deployments_table import _where_text
from tui.widgets.traffic_panel import traffic_figures


def _text(renderable: object) -> str:
    console = Console(record=True, width=120, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_traffic_panel_shows_generation_only_when_there_is_some() -> None:
    snap = build_demo_snapshot()
    assert "Generation" not in _text(traffic_figures(snap))
    g = snap.traffic.generation
    g.requests, g.edge, g.hosted, g.retractions, g.cancelled = 10, 8, 2, 1, 1
    g.edge_completion_tokens, g.hosted_completion_tokens = 300, 100
    text = _text(traffic_figures(snap))
    assert "Generation" in text and "8 / 2" in text and "300 / 100" in text and "75.0%" in text


def test_llm_replica_row_shows_speed_and_time_to_first_token() -> None:
    replica = fleet_pb2.Replica(node_name="edge-accel", device="CPU", inference_precision="f32")
    assert "tok/s" not in _where_text(replica, "auto").plain
    replica.stats.tokens_per_s, replica.stats.ttft_p50_ms, replica.stats.ttft_p95_ms = 180.0, 42.0, 190.0
    replica.stats.waiting = 2
    plain = _where_text(replica, "auto").plain
    assert "180 tok/s" in plain and "TTFT 42/190 ms" in plain and "2 waiting" in plain


def test_traffic_panel_shows_the_offline_mode_and_the_deferred_queue() -> None:
    snap = build_demo_snapshot()
    assert "OFFLINE" not in _text(traffic_figures(snap))
    snap.degraded.active, snap.degraded.reason = True, "hosted 'big' circuit open, next probe in 3.0s"
    snap.degraded.answers, snap.degraded.deferred_queued = 9, 4
    text = _text(traffic_figures(snap))
    assert "OFFLINE: hosted 'big' circuit open" in text and "9 degraded answers" in text
    assert "deferred queue 4" in text
