"""The process behind ``edgefleet up``: starts the local Ray cluster (head plus
simulated nodes), the controller and its replicas, the hosted stand-in(s) and the
router, records itself in the run-state file, and tears everything down in
reverse order on SIGTERM/SIGINT (also when start-up fails half-way)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from cli.fleet_log import export_log_format, fleet_log_path, output_to_log
from cli.runstate import RunState
from edgefleet.logfmt import LogFormat, configure_logging
from edgefleet.policy import Policy, load_policy

log = logging.getLogger("edgefleet.supervisor")


@dataclass
class RunningFleet:
    """Handles to everything a local fleet runs; `router_address` is what apps call."""

    policy: Policy
    config: str
    router_address: str
    ray_address: str
    hosted_urls: dict[str, str] = field(default_factory=dict)
    router: Any = None
    http_url: str = ""  # the OpenAI-compatible front door's base URL ("" when router.http_listen is null)
    client_tls: Any = None  # TlsClientConfig the CLI and dashboard reach the router with (None: plaintext)


def registry_path(policy: Policy, config: str | Path) -> Path:
    """The model registry folder, resolved against the policy file's folder."""
    return (Path(config).resolve().parent / policy.registry).resolve()


def missing_models(policy: Policy, registry: Path) -> list[str]:
    """Models the policy deploys (or the stand-in needs) that the registry lacks."""
    from fleet.errors import ModelLoadError
    from fleet.models.manifest import resolve_model_dir

    needed = {policy.model(d.model).name for d in policy.deployments}
    needed |= {h.stand_in.model for h in policy.hosted if h.stand_in is not None}
    missing = []
    for name in sorted(needed):
        try:
            resolve_model_dir(registry, name, policy.model(name).version)
        except (ModelLoadError, FileNotFoundError):
            missing.append(name)
    return missing


def ensure_models(policy: Policy, registry: Path) -> None:
    """Build what the policy needs and the registry lacks: SmolLM2, the squad-dev collection, the
    model factory (MiniLM models and students; minutes on first run, cached after), then the hashed
    default set."""
    from factory.hashed_models import build_default_models, default_model_names
    from fleet.errors import ModelLoadError

    missing = missing_models(policy, registry)
    if not missing:
        return
    log.info("building missing models: %s", ", ".join(missing))
    from factory.llm_import import DEFAULT_LLM_NAME, build_default_llm
    from factory.rag_squad import SQUAD_COLLECTION, build_squad_collection

    if DEFAULT_LLM_NAME in missing:
        build_default_llm(registry)
        missing = missing_models(policy, registry)
    if SQUAD_COLLECTION in missing:
        build_squad_collection(registry)
        missing = missing_models(policy, registry)
    if set(missing) - set(default_model_names()):
        from factory.pipeline import build_registry

        build_registry(registry, progress=True)
        missing = missing_models(policy, registry)
    hashed = [m for m in missing if m in default_model_names()]
    if hashed:
        build_default_models(registry, only=hashed)
    left = missing_models(policy, registry)
    if left:
        raise ModelLoadError(
            f"the policy needs models the registry {registry} does not have and "
            f"no builder makes: {', '.join(left)} (register them with `edgefleet models add`)"
        )


@contextlib.asynccontextmanager
async def running_fleet(
    config: str, *, ready_timeout: float = 300.0, log_format: LogFormat = "text", tls: str = "off"
) -> AsyncIterator[RunningFleet]:
    """Start a whole local fleet; stop it (in reverse order) on exit. The actors log in
    `log_format` (exported to them through the environment Ray's raylets inherit). A fresh fleet
    token goes to the replicas (through Ray) and the router; `tls` ``dev`` makes a local CA and
    turns on mutual TLS everywhere (cli.fleet_security)."""
    from cli.fleet_security import fleet_security
    from cli.runstate import home
    from fleet.ray_adapter.cluster import start_local_cluster
    from fleet.ray_adapter.controller import start_controller
    from fleet.ray_adapter.fleet_source import RayFleetSource
    from router.edge_client import EdgeClient
    from router.server import serve
    from standin.tier import HostedTier

    policy = load_policy(config)
    registry = registry_path(policy, config)
    config_path = await asyncio.to_thread(Path(config).resolve)
    await asyncio.to_thread(ensure_models, policy, registry)
    export_log_format(log_format)
    security = await asyncio.to_thread(fleet_security, policy, tls, home())
    async with contextlib.AsyncExitStack() as stack:
        cluster = start_local_cluster(policy)  # on the main thread: ray.init installs signal handlers
        stack.callback(cluster.shutdown)
        generation_fallbacks = {r.fallback for r in policy.routes if r.task == "generate" and r.fallback}
        tier = await HostedTier.start(security.hosted, registry, warm_llm=generation_fallbacks)
        stack.push_async_callback(tier.aclose)
        controller = await start_controller(policy, config_path, registry, guard=security.guard)
        stack.push_async_callback(controller.shutdown)
        await controller.wait_ready(timeout_s=ready_timeout)
        source = RayFleetSource(controller)
        await source.start()
        stack.push_async_callback(source.aclose)
        server = await serve(
            policy,
            source,
            tier.clients,
            policy.router.listen,
            policy_path=config,
            http_listen=policy.router.http_listen,
            edge=EdgeClient(**security.edge_client_kwargs(), coalesce=policy.router.coalesce),  # type: ignore[arg-type]
            tls=security.router_tls,
        )
        stack.push_async_callback(server.stop)
        urls = {name: s.base_url for name, s in tier.stand_ins.items()}
        yield RunningFleet(
            policy,
            config,
            server.address,
            cluster.address,
            urls,
            server,
            server.http_url,
            security.client_tls,
        )


def run_supervisor(
    config: str,
    *,
    ready_timeout: float = 300.0,
    log_format: LogFormat = "text",
    foreground: bool = False,
    tls: str = "off",
) -> int:
    """Run a fleet until SIGTERM/SIGINT; keep the run-state file up to date. In the `foreground`
    (``edgefleet up`` without ``--detach``) the terminal shows progress and the addresses only,
    everything else goes to the fleet log; detached, this process's output already is the log."""
    if not foreground:
        configure_logging(log_format)
        return _supervise(config, ready_timeout, log_format, sys.stdout, "", tls)
    path = fleet_log_path()
    with output_to_log(path, log_format) as terminal:
        print(f"starting the fleet (Ray head + simulated nodes, replicas, stand-in, router); log: {path}",
              file=terminal)  # fmt: skip
        return _supervise(config, ready_timeout, log_format, terminal, str(path), tls)


def _supervise(
    config: str, ready_timeout: float, log_format: LogFormat, out: TextIO, log_path: str, tls: str = "off"
) -> int:
    state = RunState(pid=os.getpid(), pgid=os.getpgid(0), config=config, router="", log=log_path)
    state.write()

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        t0 = time.monotonic()
        try:
            async with running_fleet(
                config, ready_timeout=ready_timeout, log_format=log_format, tls=tls
            ) as fleet:
                # Again, now that this process joined Ray: ray.init replaced SIGTERM's handler with one
                # that exits at once (and Ray's core worker dumps, and may crash, on it). Ours stops
                # the fleet in order, the router first, so that what it accepted is answered.
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, stop.set)
                state.router = fleet.router_address
                state.ray_address = fleet.ray_address
                state.hosted = fleet.hosted_urls
                state.http = fleet.http_url
                if fleet.client_tls is not None:
                    state.tls = fleet.client_tls.model_dump()
                state.ready = True
                state.write()
                log.info("fleet ready in %.1fs; router %s", time.monotonic() - t0, fleet.router_address)
                front_door = f", OpenAI API {fleet.http_url}" if fleet.http_url else ""
                metrics = f", metrics {fleet.http_url.removesuffix('/v1')}/metrics" if fleet.http_url else ""
                print(f"fleet ready: router {fleet.router_address}{front_door}{metrics} (Ctrl-C to stop)",
                      file=out, flush=True)  # fmt: skip
                await stop.wait()
                log.info("stopping")
                print("stopping the fleet...", file=out, flush=True)
        except Exception as exc:  # start-up failure: record it for `edgefleet up --detach`
            log.exception("fleet failed")
            state.error = f"{type(exc).__name__}: {exc}"
            state.write()
            where = f" (log: {log_path})" if log_path else ""
            print(f"fleet failed: {state.error}{where}", file=out, flush=True)
            return 1
        return 0

    try:
        return asyncio.run(main())
    finally:
        current = RunState.read()
        if current is not None and current.pid == os.getpid() and not current.error:
            RunState.clear()


def main() -> int:
    """``python -m cli.supervisor --config F`` (what ``edgefleet up --detach`` runs)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--ready-timeout", type=float, default=300.0)
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument("--tls", choices=("off", "dev"), default="off")
    args = parser.parse_args()
    return run_supervisor(
        args.config, ready_timeout=args.ready_timeout, log_format=args.log_format, tls=args.tls
    )


if __name__ == "__main__":
    sys.exit(main())
