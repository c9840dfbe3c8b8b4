"""Builders of the servers a benchmark measures, run inside a :class:`bench.procs.ServerHost`.

Each builder is ``async def build(spec) -> (addresses, stop)``: it starts servers on
127.0.0.1 port 0 and returns their addresses and a coroutine function that stops them.

- ``build_echo``: the bare grpc.aio echo server.
- ``build_replicas``: one KServe v2 server (``fleet.serving.kserve_server.serve_kserve``) per model,
  all in this process, optionally plus the hosted STAND-IN (``standin.server``).
- ``build_routers``: one or more router servers (``router.server``), each with a
  ``StaticFleet`` pointing at replicas given by address, and HostedClients for the stand-in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.echo import start_echo_server

Stop = Callable[[], Awaitable[None]]


async def build_echo(spec: dict[str, Any]) -> tuple[dict[str, str], Stop]:
    """The bare echo server: ``{"echo": address}``."""
    server, address = await start_echo_server()

    async def stop() -> None:
        await server.stop(grace=1.0)

    return {"echo": address}, stop


def _stop_grpc_server(server: Any) -> None:
    server.stop(1.0).wait(3.0)


async def build_replicas(spec: dict[str, Any]) -> tuple[dict[str, str], Stop]:
    """KServe replicas for ``spec["models"]`` (``[{"deployment", "dir", "threaded"?}]``: grpc.aio with
    dynamic batching per ``spec["batching"]``, or the thread-pool server when ``threaded``) and, when
    ``spec["stand_in"]`` is ``{"dir", "latency_ms"}``, the hosted stand-in.

    Addresses: deployment name -> ``host:port``; ``"stand_in"`` -> base URL.
    """
    from edgefleet.policy.batching_options import BatchingOptions
    from fleet.models.manifest import load_bundle
    from fleet.serving.kserve_aio import serve_kserve
    from fleet.serving.kserve_server import serve_kserve_threaded
    from fleet.serving.runtime import TextModel

    servers: list[Any] = []
    addresses: dict[str, str] = {}
    batching = BatchingOptions(**spec["batching"]) if spec.get("batching") else None
    for item in spec.get("models", []):
        model = TextModel.load(load_bundle(Path(item["dir"])))
        replica = f"{item['deployment']}-0"
        max_queue = int(spec.get("max_queue", 4096))
        server: Any
        if item.get("threaded"):  # the thread-pool server, for comparison
            server, port = serve_kserve_threaded(
                model, node="bench-node", replica=replica, max_queue=max_queue
            )
        else:
            server, port = serve_kserve(
                model, node="bench-node", replica=replica, max_queue=max_queue, batching=batching
            )
        servers.append(server)
        addresses[item["deployment"]] = f"127.0.0.1:{port}"
    stand_in: Any = None
    if spec.get("stand_in"):
        from standin.server import StandInServer

        cfg = spec["stand_in"]
        stand_in = StandInServer(
            TextModel.load(load_bundle(Path(cfg["dir"]))), latency_ms=float(cfg["latency_ms"])
        )
        addresses["stand_in"] = stand_in.start()

    async def stop() -> None:
        if stand_in is not None:
            await asyncio.to_thread(stand_in.stop)
        for server in servers:
            await asyncio.to_thread(_stop_grpc_server, server)

    return addresses, stop


def fleet_state_of(deployments: list[dict[str, Any]]) -> Any:
    """A one-node FleetState whose deployments each have one ready replica at the given address."""
    from edgefleet.state import DeploymentState, FleetState, NodeState, ReplicaPhase, ReplicaState

    deps = []
    for d in deployments:
        replica = ReplicaState(
            replica_id=f"{d['name']}-0",
            deployment=d["name"],
            node_id="bench-node",
            node_name="bench-node",
            device="CPU",
            address=d["address"],
            state=ReplicaPhase.READY,
            model=d["model"],
            version=d["version"],
            precision=d["precision"],
        )
        deps.append(
            DeploymentState(
                name=d["name"],
                model=d["model"],
                version=d["version"],
                precision=d["precision"],
                desired=1,
                ready=1,
                replicas=[replica],
                price_per_call_usd=float(d["price_per_call_usd"]),
                task=d["task"],
                labels=list(d["labels"]),
            )
        )
    node = NodeState(
        node_id="bench-node",
        name="bench-node",
        address="127.0.0.1",
        replicas=[r.replica_id for dep in deps for r in dep.replicas],
    )
    return FleetState(version=1, unix_ms=0.0, nodes=[node], deployments=deps, events=[])


async def build_routers(spec: dict[str, Any]) -> tuple[dict[str, str], Stop]:
    """Routers named by ``spec["routers"]`` (name -> policy YAML text), sharing one StaticFleet of
    ``spec["deployments"]`` (see :func:`fleet_state_of`); hosted endpoints of each policy that are
    named in ``spec["hosted_urls"]`` get a HostedClient at that base URL (the stand-in).

    ``spec["freeze_gc"]`` / ``spec["defer_accounting"]`` (default true) are passed to
    :func:`router.server.serve`. Addresses: router name -> ``host:port``.
    """
    from edgefleet.policy.loader import parse_policy
    from router.fleet_source import StaticFleet
    from router.hosted.client import HostedClient
    from router.server import serve

    fleet = StaticFleet(fleet_state_of(spec["deployments"]))
    servers: list[Any] = []
    clients: list[Any] = []
    addresses: dict[str, str] = {}
    for name, text in spec["routers"].items():
        policy = parse_policy(text, source=f"<bench router {name}>")
        hosted: dict[str, Any] = {}
        for cfg in policy.hosted:
            url = spec.get("hosted_urls", {}).get(cfg.name)
            if url:
                hosted[cfg.name] = HostedClient(cfg, base_url=url)
                clients.append(hosted[cfg.name])
        server = await serve(
            policy,
            fleet,
            hosted,
            "127.0.0.1:0",
            freeze_gc=bool(spec.get("freeze_gc", True)),
            defer_accounting=bool(spec.get("defer_accounting", True)),
        )
        servers.append(server)
        addresses[name] = server.address

    async def stop() -> None:
        for server in servers:
            await server.stop(1.0)
        for client in clients:
            await client.aclose()

    return addresses, stop
