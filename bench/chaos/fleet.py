"""The fleet the chaos suite breaks: a local Ray cluster (a head that runs only the control plane
and three simulated edge nodes), the controller and its replicas of the hashed CLINC150 models, the
stand-in behind a fault proxy (:mod:`bench.chaos.faults`) as the hosted tier, and the router in its
own process (:mod:`bench.chaos.router_proc`). This process is the Ray driver; every process it
kills is found among the descendants of its own cluster's raylets (other Ray clusters on the
machine are never touched), by its id.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from bench.chaos.faults import HostedFaults
from edgefleet.policy.loader import load_policy
from edgefleet.state import FleetState

DOMAINS = "[banking, credit_cards, kitchen_and_dining, home, auto_and_commute, travel, utility, work, small_talk, meta]"
POLICY = """\
version: 1
registry: {registry}
router:
  listen: 127.0.0.1:{port}
  http_listen: null
  default_timeout_ms: 3000
  ledger: {run}/ledger.db
  escalation_log: {run}/escalations.jsonl
  deferred_queue: {run}/deferred.db
fleet:
  namespace: edgefleet-chaos
  controller_name: edgefleet-chaos-controller
  reconcile_interval_s: 0.5
  health_timeout_s: 2.0
  head_num_cpus: 0
  simulated_nodes:
    - {{name: edge-a, num_cpus: 1, labels: {{site: a}}}}
    - {{name: edge-b, num_cpus: 1, labels: {{site: b}}}}
    - {{name: edge-c, num_cpus: 1, labels: {{site: c}}}}
deployments:
  - {{name: domain-router, model: domain-router, replicas: 2, price_per_call_usd: 0.000001}}
  - {{name: clinc-banking, model: clinc-banking, replicas: 2, price_per_call_usd: 0.000002}}
  - {{name: generalist, model: generalist, replicas: 1, price_per_call_usd: 0.000005}}
hosted:
  - name: big
    base_url: {hosted}
    model: stand-in
    price_per_1k_input_usd: 0.0025
    price_per_1k_output_usd: 0.01
    timeout_ms: 2000
    retries: 1
    backoff_ms: 50
    circuit: {{failures: 3, reset_s: 2}}
routes:
  - name: clinc
    task: classify
    domains: {domains}
    domain_model: domain-router
    specialists: {{banking: [clinc-banking]}}
    targets: [generalist]
    fallback: big
    min_confidence: 0.5
    defer_escalations: true
"""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare_registry(cache: Path, run: Path) -> Path:
    """The hashed CLINC150 models, built once into `cache` (content-hashed, reused), copied into
    `run` so that a rollout's new version never touches the cache."""
    from factory.hashed_models import build_default_models

    build_default_models(cache, only=["generalist", "domain-router", "clinc-banking"], progress=False)
    registry = run / "models"
    shutil.copytree(cache, registry, ignore=shutil.ignore_patterns(".*"), dirs_exist_ok=True)
    return registry


class ChaosFleet:
    """Start it (:meth:`start`), break it, close it (:meth:`close`, always)."""

    def __init__(self, run: Path, cache: Path) -> None:
        self.run = run
        self.cache = cache
        self.registry = run / "models"
        self.config = run / "chaos.yaml"
        self.address = ""
        self.cluster: Any = None
        self.controller: Any = None
        self.hosted: HostedFaults | None = None
        self._stand_in: Any = None
        self._router: subprocess.Popen[bytes] | None = None
        self._router_log = run / "router.log"
        self.hit = ""  # what the last fault hit (a replica id, a node id, a version)

    async def start(self, ready_timeout_s: float = 240.0) -> None:
        """Registry, hosted tier, cluster, controller and replicas, router."""
        from fleet.models.manifest import load_bundle, resolve_model_dir
        from fleet.ray_adapter.cluster import start_local_cluster
        from fleet.ray_adapter.controller import start_controller
        from fleet.serving.runtime import TextModel
        from standin.server import StandInServer

        self.run.mkdir(parents=True, exist_ok=True)
        self.registry = await asyncio.to_thread(prepare_registry, self.cache, self.run)
        model = TextModel.load(load_bundle(resolve_model_dir(self.registry, "generalist")))
        self._stand_in = StandInServer(model)
        self.hosted = HostedFaults(self._stand_in.start())
        port = free_port()
        self.address = f"127.0.0.1:{port}"
        self.config.write_text(
            POLICY.format(registry=self.registry, port=port, run=self.run, hosted=self.hosted.base_url,
                          domains=DOMAINS),
            encoding="utf-8",
        )  # fmt: skip
        policy = load_policy(self.config)
        self.cluster = start_local_cluster(policy)  # this thread: Ray installs signal handlers
        self.controller = await start_controller(policy, self.config, self.registry)
        await self.controller.wait_ready(timeout_s=ready_timeout_s)
        await self.start_router()

    async def start_router(self, timeout_s: float = 120.0) -> float:
        """Start the router process; returns the seconds it took to serve."""
        ready = self.run / "router.ready"
        ready.unlink(missing_ok=True)
        started = time.monotonic()
        self._router = self._spawn_router(ready)
        while not ready.exists():  # bounded: the process is watched and the wait has a deadline
            if self._router.poll() is not None:
                raise RuntimeError(
                    f"the router exited with {self._router.returncode}; see {self._router_log}"
                )
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(
                    f"the router did not serve within {timeout_s:.0f}s; see {self._router_log}"
                )
            await asyncio.sleep(0.1)
        return time.monotonic() - started

    def _spawn_router(self, ready: Path) -> subprocess.Popen[bytes]:
        with open(self._router_log, "ab") as log:
            cmd = [sys.executable, "-m", "bench.chaos.router_proc", "--config", str(self.config),
                   "--ready-file", str(ready), "--ray-address", str(self.cluster.address)]  # fmt: skip
            return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    async def stop_router(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int | None:
        """Signal the router process and wait for it; its exit code (None: killed after `timeout_s`)."""
        proc, self._router = self._router, None
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        proc.send_signal(sig)
        try:
            return await asyncio.to_thread(proc.wait, timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait, 10)
            return None

    async def state(self, timeout_s: float = 10.0) -> FleetState | None:
        """The controller's fleet state (None when it does not answer)."""
        try:
            return await asyncio.wait_for(self.controller.get_state(0, 0), timeout_s)
        except Exception:  # noqa: BLE001 -- a dead controller is one of the faults
            return None

    # -- processes of this cluster ----------------------------------------------------------------
    def raylet_pids(self) -> dict[str, int]:
        """node id -> raylet pid, for every node of this cluster."""
        out = {}
        for node in self.cluster.cluster.list_all_nodes():
            procs = node.all_processes.get("raylet") or []
            if procs:
                out[str(node.node_id)] = int(procs[0].process.pid)
        return out

    def cluster_pids(self) -> set[int]:
        """The raylets of this cluster and every process they started (workers, actors)."""
        pids: set[int] = set()
        for pid in self.raylet_pids().values():
            try:
                raylet = psutil.Process(pid)
                pids.add(pid)
                pids.update(p.pid for p in raylet.children(recursive=True))
            except psutil.Error:
                continue
        return pids

    def pid_listening_on(self, port: int) -> int | None:
        """The process of this cluster listening on `port` (a replica's KServe server)."""
        ours = self.cluster_pids()
        for conn in psutil.net_connections(kind="tcp"):
            if (
                conn.status == psutil.CONN_LISTEN
                and conn.laddr
                and conn.laddr.port == port
                and conn.pid in ours
            ):
                return int(conn.pid)
        return None

    def controller_pid(self) -> int | None:
        """The controller actor's worker process."""
        for pid in self.cluster_pids():
            try:
                if "ControllerActor" in " ".join(psutil.Process(pid).cmdline()):
                    return pid
            except psutil.Error:
                continue
        return None

    @staticmethod
    def kill(pid: int) -> None:
        """SIGKILL one process (of this cluster, found above)."""
        os.kill(pid, signal.SIGKILL)

    async def close(self) -> None:
        """Stop everything this fleet started (idempotent, best effort, every step bounded)."""
        await self.stop_router()
        if self.controller is not None:
            with contextlib.suppress(Exception):  # a killed controller cannot shut down
                await asyncio.wait_for(self.controller.shutdown(), 60)
            self.controller = None
        if self.cluster is not None:
            await asyncio.to_thread(self.cluster.shutdown)
            self.cluster = None
        if self.hosted is not None:
            self.hosted.stop()
        if self._stand_in is not None:
            self._stand_in.stop()
