"""The dashboard shows the control plane: rollouts, autoscaling and recent events in the traffic
panel, a canary and the replicas' versions in the deployments table."""

from __future__ import annotations

from rich.console import Console

from protos.edgefleet.v1 import fleet_pb2
from tui.demo import build_demo_snapshot
from tui.widgets.deployments_table import _version_text, _where_text
from tui.widgets.traffic_panel import control_plane_lines, traffic_figures


def _text(renderable: object) -> str:
    console = Console(record=True, width=120, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_control_plane_section_only_when_there_is_something() -> None:
    snap = build_demo_snapshot()
    assert control_plane_lines(snap) == [] and "Control plane" not in _text(traffic_figures(snap))
    dep = snap.deployments[0]
    dep.canary_version, dep.canary_share, dep.rollout = "7", 0.1, "canary 7 at 10%: 12/100 canary requests"
    dep.autoscale = "1..4 (capacity 3): 2, outstanding 1.2/replica (target 2): on target"
    snap.events.extend([f"12:00:0{i} event {i}" for i in range(8)])
    text = _text(traffic_figures(snap))
    assert "Control plane" in text and "rollout canary 7 at 10%: 12/100" in text
    assert "autoscale 1..4 (capacity 3)" in text and "event 7" in text and "event 1" not in text


def test_canary_and_replica_versions_in_the_deployments_table() -> None:
    dep = fleet_pb2.Deployment(name="d", model="d", version="3", precision="INT8")
    assert "canary" not in _version_text(dep).plain
    dep.canary_version, dep.canary_share = "4", 0.25
    assert _version_text(dep).plain.endswith("· canary 4 25%")
    replica = fleet_pb2.Replica(node_name="n1", device="CPU", version="4")
    assert _where_text(replica, "auto", "3").plain.startswith("4 n1")  # the canary's replica
    replica.version = "3"
    assert _where_text(replica, "auto", "3").plain.startswith("n1")  # the deployment's version
