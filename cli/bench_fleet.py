"""The whole local fleet as a benchmark server (``edgefleet bench e2e``): what ``edgefleet up`` starts
(a Ray cluster with the policy's simulated nodes, the controller and its replicas, the hosted
stand-in, the router), built inside a :class:`bench.procs.ServerHost` child process.

The bench layer does not import the CLI: ``edgefleet bench`` hands the e2e suite this builder by
name (``cli.bench_fleet:build_fleet``), as the composition root.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

from bench.services import Stop

BUILDER = "cli.bench_fleet:build_fleet"


async def build_fleet(spec: dict[str, Any]) -> tuple[dict[str, str], Stop]:
    """Start the fleet of ``spec["policy_yaml"]`` (written to a temporary folder; its ``registry``
    should be absolute). Addresses: ``router`` -> host:port, ``ray`` -> the cluster's address."""
    from cli.supervisor import running_fleet

    folder = tempfile.TemporaryDirectory(prefix="edgefleet-bench-e2e-")
    config = Path(folder.name) / "edgefleet.yaml"
    config.write_text(spec["policy_yaml"], encoding="utf-8")
    stack = contextlib.AsyncExitStack()
    stack.callback(folder.cleanup)
    try:
        fleet = await stack.enter_async_context(
            running_fleet(str(config), ready_timeout=float(spec.get("ready_timeout_s", 600.0)))
        )
    except BaseException:
        await stack.aclose()
        raise
    return {"router": fleet.router_address, "ray": fleet.ray_address}, stack.aclose
