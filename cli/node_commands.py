"""``edgefleet node join|leave``: make this machine an edge node of a fleet, and stop being one.

``join`` starts ``ray start --address HEAD --block`` (the Ray of this environment) in the
background, advertising this machine's OpenVINO devices, CPUs and labels, and records it in
``$EDGEFLEET_HOME/nodes/NAME.json`` (its log beside it). ``leave`` asks the fleet's controller
to drain the node (its replicas move to other eligible nodes, or stop when none fits) and waits
for it, then stops exactly the processes ``join`` started and forgets the record.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cli.runstate import home
from edgefleet.constants import CONTROLLER_NAME, DEFAULT_NAMESPACE

if TYPE_CHECKING:
    from edgefleet.state import FleetState, NodeState
    from fleet.ray_adapter.node_process import NodeProcess


def nodes_dir() -> Path:
    """Where joined nodes are recorded."""
    return home() / "nodes"


def parse_labels(text: str) -> dict[str, str]:
    """``k=v,k2=v2`` as a dict (SystemExit naming a malformed pair)."""
    labels: dict[str, str] = {}
    for pair in (p.strip() for p in text.split(",")):
        if not pair:
            continue
        if "=" not in pair:
            raise SystemExit(f"--labels: {pair!r} is not key=value")
        key, value = pair.split("=", 1)
        labels[key.strip()] = value.strip()
    return labels


def node_join(args: argparse.Namespace) -> int:
    """Join this machine to a fleet's Ray cluster as an edge node (in the background)."""
    from fleet.control.placement import NODE_NAME_LABEL
    from fleet.errors import ClusterError
    from fleet.ray_adapter.cluster import join_command, join_env
    from fleet.ray_adapter.node_process import NodeProcess, start_node

    labels = {NODE_NAME_LABEL: args.name or os.uname().nodename, **parse_labels(args.labels)}
    name = labels[NODE_NAME_LABEL]
    cmd = join_command(args.head, labels, args.num_cpus, block=True)
    if args.dry_run:
        print(" ".join(cmd))
        return 0
    record = nodes_dir() / f"{name}.json"
    if record.exists():
        old = NodeProcess.from_json(record.read_text())
        if old.alive():
            print(
                f"node {name} already joined {old.head} (pid {old.pid}); `edgefleet node leave` first",
                file=sys.stderr,
            )
            return 1
    try:
        node = start_node(cmd, name, args.head, labels, nodes_dir() / f"{name}.log", join_env(), args.timeout)
    except ClusterError as exc:
        print(f"cannot join: {exc}", file=sys.stderr)
        return 1
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(node.to_json())
    print(f"node {name} joined {args.head} (pid {node.pid}, labels {labels}); log {node.log}")
    print("leave with `edgefleet node leave" + (f" --name {name}`" if args.name else "`"))
    return 0


def _joined(name: str | None) -> Path:
    records = sorted(nodes_dir().glob("*.json"))
    if name is not None:
        path = nodes_dir() / f"{name}.json"
        if not path.exists():
            raise SystemExit(f"no node {name!r} was joined from here (records in {nodes_dir()})")
        return path
    if len(records) != 1:
        known = ", ".join(p.stem for p in records) or "none"
        raise SystemExit(f"name the node to leave with --name (joined from here: {known})")
    return records[0]


def node_leave(args: argparse.Namespace) -> int:
    """Drain this machine's node through the controller, then stop its Ray processes."""
    from fleet.ray_adapter.node_process import NodeProcess, stop_pid

    path = _joined(args.name)
    node = NodeProcess.from_json(path.read_text())
    started = time.monotonic()
    if not args.no_drain and node.alive():
        problem = asyncio.run(
            _drain(
                node, args.namespace or DEFAULT_NAMESPACE, args.controller or CONTROLLER_NAME, args.timeout
            )
        )
        if problem:
            print(f"drain of {node.name} incomplete: {problem}; stopping it anyway", file=sys.stderr)
    drained = time.monotonic()
    left = stop_pid(node.pid, node.children)
    path.unlink(missing_ok=True)
    if left:
        print(f"node {node.name} stopped, but {left} process(es) would not die", file=sys.stderr)
        return 1
    took = f"drained in {drained - started:.1f} s, stopped in {time.monotonic() - drained:.1f} s"
    print(f"node {node.name} left {node.head} ({took}); no process of it left")
    return 0


async def _drain(node: NodeProcess, namespace: str, controller: str, timeout_s: float) -> str:
    """Drain `node` and wait (bounded) until it hosts no replica; '' when done, else why not."""
    from fleet.errors import FleetError
    from fleet.ray_adapter.client import ControllerClient
    from fleet.ray_adapter.cluster import auth_enabled_by_default

    name, head = node.name, node.head
    if auth_enabled_by_default():
        os.environ["RAY_AUTH_MODE"] = "token"  # an explicit address needs it (see fleet.ray_adapter.cluster)
    try:
        client = ControllerClient.connect(namespace, controller, head)
        print(await client.drain(name))
        deadline = time.monotonic() + timeout_s
        state = await client.get_state(0, 0)
        while (found := _live(state, name)) is not None and found.replicas:
            left = deadline - time.monotonic()
            if left <= 0:
                return f"{len(found.replicas)} replica(s) still there after {timeout_s:.0f} s"
            state = await client.get_state(state.version, min(left, 5.0))
        return ""
    except FleetError as exc:
        return str(exc)
    finally:
        ControllerClient.disconnect()


def _live(state: FleetState, name: str) -> NodeState | None:
    """The live node called `name` (a node that left earlier under the same name is dead)."""
    return next((n for n in state.nodes if n.name == name and n.alive), None)
