"""The chaos scenarios and how one is run: start a bounded load in its own process, strike at a
fixed point of it, heal (where the harness can), watch the controller until the fleet is whole
again, and summarise the requests (:mod:`bench.chaos.report`).

Scenarios (in the order they run; the last ones leave the fleet broken or stopped):
``hosted-slow``, ``hosted-5xx``, ``hosted-429``, ``hosted-down`` (the proxy misbehaves between the
fault and the heal), ``replica-kill`` (SIGKILL one clinc-banking replica process), ``rollout`` (a
new clinc-banking version in the registry), ``raylet-kill`` (SIGKILL the raylet of a node with a
clinc-banking replica: the node is lost), ``router-restart`` (SIGTERM the router process, start a
new one), ``controller-kill`` (SIGKILL the controller actor's process), ``sigterm`` (SIGTERM the
router, as ``edgefleet down`` does first, then the fleet stops).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bench.chaos.fleet import ChaosFleet
from bench.chaos.load import read_records
from bench.chaos.report import ScenarioResult, summarize, verdict
from edgefleet.state import FleetState

Action = Callable[[ChaosFleet], Awaitable[str]]


@dataclass(frozen=True)
class Timing:
    """How long a scenario's load runs and when it strikes (seconds from the load's start)."""

    rate: float
    load_s: float
    fault_at_s: float
    heal_at_s: float
    deadline_s: float = 6.0
    fleet_wait_s: float = 60.0  # how long to watch for the fleet to be whole again


FULL = Timing(rate=20.0, load_s=30.0, fault_at_s=8.0, heal_at_s=18.0)
SHORT = Timing(rate=10.0, load_s=12.0, fault_at_s=3.0, heal_at_s=6.0, fleet_wait_s=45.0)


@dataclass(frozen=True)
class Scenario:
    """One fault: how to inject it, how to heal it (None: it heals itself or never), and what the
    fleet must show to be whole again (None: nothing to watch)."""

    name: str
    inject: Action
    heal: Action | None = None
    whole: Callable[[FleetState, str], bool] | None = None
    expect_recovery: bool = True


def _all_ready(state: FleetState, _: str) -> bool:
    return all(d.ready == d.desired and d.desired > 0 for d in state.deployments)


def _replaced(state: FleetState, gone: str) -> bool:
    """Whole again, and the replicas (or the node) hit are gone from the fleet."""
    ids = {r.replica_id for d in state.deployments for r in d.replicas if r.state == "ready"}
    nodes = {r.node_id for d in state.deployments for r in d.replicas if r.state == "ready"}
    return _all_ready(state, gone) and gone not in ids and gone not in nodes


def _banking_replica(state: FleetState | None) -> object:
    if state is None:
        raise RuntimeError("the controller does not answer")
    dep = next(d for d in state.deployments if d.name == "clinc-banking")
    return next(r for r in dep.replicas if r.state == "ready")


def hosted(mode: str, **kw: float) -> Action:
    """Put the hosted proxy in `mode`."""

    async def act(fleet: ChaosFleet) -> str:
        assert fleet.hosted is not None
        fleet.hosted.set_mode(mode, **kw)
        return f"hosted {mode}" + "".join(f" {k}={v:g}" for k, v in kw.items())

    return act


async def kill_replica(fleet: ChaosFleet) -> str:
    """SIGKILL the process of one clinc-banking replica."""
    replica = _banking_replica(await fleet.state())
    port = int(str(getattr(replica, "address", "")).rsplit(":", 1)[1])
    pid = fleet.pid_listening_on(port)
    if pid is None:
        raise RuntimeError(f"no process of this cluster listens on {port}")
    fleet.kill(pid)
    fleet.hit = str(getattr(replica, "replica_id", ""))
    return f"SIGKILL replica {fleet.hit} (pid {pid})"


async def kill_raylet(fleet: ChaosFleet) -> str:
    """SIGKILL the raylet of the node of one clinc-banking replica: the node is lost."""
    replica = _banking_replica(await fleet.state())
    node_id, node = str(getattr(replica, "node_id", "")), str(getattr(replica, "node_name", ""))
    pid = fleet.raylet_pids()[node_id]
    fleet.kill(pid)
    fleet.hit = node_id
    return f"SIGKILL raylet of {node} (pid {pid})"


async def kill_controller(fleet: ChaosFleet) -> str:
    """SIGKILL the controller actor's process."""
    pid = fleet.controller_pid()
    if pid is None:
        raise RuntimeError("no controller process in this cluster")
    fleet.kill(pid)
    fleet.hit = "controller"
    return f"SIGKILL controller (pid {pid})"


async def restart_router(fleet: ChaosFleet) -> str:
    """SIGTERM the router process, then start a new one on the same address."""
    started = time.monotonic()
    code = await fleet.stop_router(signal.SIGTERM)
    took = await fleet.start_router()
    return f"router SIGTERM (exit {code}), new one serving {time.monotonic() - started:.1f}s later ({took:.1f}s start)"


async def rollout(fleet: ChaosFleet) -> str:
    """A new clinc-banking version becomes latest in the registry: the controller rolls it out."""
    from fleet.models.manifest import ModelBundle, load_bundle, resolve_model_dir
    from fleet.models.registry import save_bundle, unique_version

    bundle = load_bundle(resolve_model_dir(fleet.registry, "clinc-banking"))
    version = unique_version("chaos")
    manifest = bundle.manifest.model_copy(update={"version": version})
    await asyncio.to_thread(save_bundle, fleet.registry, ModelBundle(manifest, bundle.files))
    fleet.hit = version
    return f"clinc-banking {bundle.version} -> {version}"


def _rolled_out(state: FleetState, version: str) -> bool:
    """Every replica of clinc-banking serves the new version, as many as desired."""
    dep = next(d for d in state.deployments if d.name == "clinc-banking")
    serving = [r for r in dep.replicas if r.state == "ready" and r.version == version]
    return _all_ready(state, version) and len(serving) == dep.desired == len(dep.replicas)


async def sigterm(fleet: ChaosFleet) -> str:
    """SIGTERM the router (what `edgefleet down` does first); the rest stops after the load."""
    started = time.monotonic()
    code = await fleet.stop_router(signal.SIGTERM)
    return f"router SIGTERM: drained and exited {code} after {time.monotonic() - started:.1f}s"


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("hosted-slow", hosted("slow", delay_s=4.0), hosted("pass")),
        Scenario("hosted-5xx", hosted("error"), hosted("pass")),
        Scenario("hosted-429", hosted("ratelimit", retry_after_s=1.0), hosted("pass")),
        Scenario("hosted-down", hosted("down"), hosted("pass")),
        Scenario("replica-kill", kill_replica, whole=_replaced),
        Scenario("rollout", rollout, whole=_rolled_out),
        Scenario("raylet-kill", kill_raylet, whole=_replaced),
        Scenario("router-restart", restart_router),
        Scenario("controller-kill", kill_controller, whole=_all_ready),
        Scenario("sigterm", sigterm, expect_recovery=False),
    )
}
SHORT_SET = ("hosted-down", "replica-kill", "router-restart", "sigterm")


async def run_scenario(fleet: ChaosFleet, scenario: Scenario, timing: Timing, texts: Path) -> ScenarioResult:
    """Run one scenario under load and summarise it."""
    out = fleet.run / f"load-{scenario.name}.jsonl"
    load = _start_load(fleet.address, texts, out, timing)
    start = time.monotonic()
    watcher: asyncio.Task[float | None] | None = None
    try:
        await asyncio.sleep(max(0.0, start + timing.fault_at_s - time.monotonic()))  # the schedule
        fault_at = time.monotonic()
        fault = await scenario.inject(fleet)
        fault_ended = fault_at
        if scenario.whole is not None:
            watcher = asyncio.create_task(_watch(fleet, scenario.whole, fault_at, timing.fleet_wait_s))
        if scenario.heal is not None:
            await asyncio.sleep(max(0.0, start + timing.heal_at_s - time.monotonic()))
            await scenario.heal(fleet)
            fault_ended = time.monotonic()
        await asyncio.to_thread(load.wait, timing.load_s + timing.deadline_s * 6 + 60)
        fleet_back = await watcher if watcher is not None else None
    finally:
        if load.poll() is None:
            load.kill()
            load.wait(10)
        if watcher is not None and not watcher.done():
            watcher.cancel()
    records = read_records(out)
    result = summarize(scenario.name, fault, records, fault_ended, expect_recovery=scenario.expect_recovery,
                       fleet_back_after_s=fleet_back)  # fmt: skip
    if scenario.whole is not None and fleet_back is None:
        result.notes.append(f"the fleet was not whole again within {timing.fleet_wait_s:.0f}s of the fault")
        result.verdict = verdict(result, scenario.expect_recovery, fleet_whole=False)
    return result


def _start_load(address: str, texts: Path, out: Path, timing: Timing) -> subprocess.Popen[bytes]:
    """The load process of one scenario (bounded in count and time)."""
    cmd = [
        sys.executable, "-m", "bench.chaos.load", "--address", address, "--texts", str(texts),
        "--out", str(out), "--rate", str(timing.rate), "--seconds", str(timing.load_s),
        "--max-requests", str(int(timing.rate * timing.load_s) + 1), "--deadline-s", str(timing.deadline_s),
    ]  # fmt: skip
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL)


async def _watch(
    fleet: ChaosFleet, whole: Callable[[FleetState, str], bool], since: float, limit_s: float
) -> float | None:
    """Seconds from `since` until the controller shows the fleet whole (None: not within `limit_s`)."""
    while time.monotonic() - since < limit_s:
        state = await fleet.state(timeout_s=2.0)
        if state is not None and whole(state, fleet.hit):
            return time.monotonic() - since
        await asyncio.sleep(0.25)  # a poll period
    return None


async def settle(fleet: ChaosFleet, limit_s: float = 90.0) -> bool:
    """Before a scenario: the hosted proxy passes, every deployment is ready (bounded)."""
    if fleet.hosted is not None:
        fleet.hosted.set_mode("pass")
    since = time.monotonic()
    while time.monotonic() - since < limit_s:
        state = await fleet.state(timeout_s=2.0)
        if state is not None and _all_ready(state, ""):
            return True
        await asyncio.sleep(0.5)
    return False
