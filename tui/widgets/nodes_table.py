"""Nodes: name, devices, labels, CPU/memory, health, heartbeat age, replicas hosted, CPU ISA."""

from __future__ import annotations

from rich.text import Text

from protos.edgefleet.v1 import fleet_pb2
from tui import format as fmt
from tui.widgets.fleet_table import FleetTable, Row


class NodesTable(FleetTable):
    """One row per node; the row key is the node name."""

    COLUMNS = (
        ("node", "Node"),
        ("health", "Health"),
        ("cpu", "CPU"),
        ("mem", "Mem"),
        ("hb", "Beat"),
        ("devices", "Devices"),
        ("replicas", "Replicas"),
        ("isa", "ISA"),
        ("labels", "Labels"),
    )

    def show(self, snapshot: fleet_pb2.FleetSnapshot) -> None:
        """Refresh from a snapshot."""
        deployment_of = {r.replica_id: d.name for d in snapshot.deployments for r in d.replicas}
        isa_of = {r.node_id: list(r.isa) for d in snapshot.deployments for r in d.replicas if r.isa}
        rows: list[Row] = []
        for node in snapshot.nodes:
            health = node.health or ("healthy" if node.alive else "dead")
            if node.drained and health != "dead":
                health = "drained"
            hosted = [deployment_of.get(replica_id, replica_id) for replica_id in node.replicas]
            devices = ", ".join(d.name + ("*" if d.simulated else "") for d in node.devices)
            stale = node.heartbeat_age_s >= 10
            rows.append(
                (
                    node.name,
                    [
                        Text(node.name, style="bold"),
                        fmt.health_text(health),
                        fmt.load_text(node.cpu_percent),
                        fmt.load_text(node.memory_percent),
                        Text(fmt.age(node.heartbeat_age_s), style="red" if stale else "", justify="right"),
                        devices or "–",
                        f"{len(hosted)} " + fmt.truncate(", ".join(sorted(set(hosted))), 36)
                        if hosted
                        else "0",
                        fmt.isa_summary(isa_of.get(node.node_id, [])) or "–",
                        fmt.labels_text(node.labels) or "–",
                    ],
                )
            )
        self.sync_rows(rows)

    def selected_node(self) -> str | None:
        """The node name under the cursor."""
        return self.selected_key
