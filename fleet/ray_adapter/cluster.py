"""Starting Ray for EdgeFleet: a local cluster with simulated edge nodes, or joining a machine.

``start_local_cluster(policy)`` starts a head plus one real raylet per
``policy.fleet.simulated_nodes`` entry (``ray.cluster_utils.Cluster``), each advertising its
devices as resources ``ov_<DEV>`` and its labels plus ``edgefleet.io/node: <name>`` and
``edgefleet.io/simulated: "true"``; it connects this process to it.
``join_node(head, labels)`` runs ``ray start --address`` (the Ray of this environment) on a real
machine, advertising the OpenVINO devices it really has; ``edgefleet node join`` runs it detached
with ``--block`` and ``edgefleet node leave`` stops exactly that (:mod:`fleet.ray_adapter.node_process`).

Token authentication (Ray 2.60): with ``RAY_AUTH_MODE=token`` every Ray process checks a shared
token, read from ``$RAY_AUTH_TOKEN``, the file ``$RAY_AUTH_TOKEN_PATH``, or ``~/.ray/auth_token``
(created by ``ray get-auth-token --generate``). ``auth=True`` (the default) turns it on here and
generates the token file when missing; joining machines need the same token (copy the file or set
``RAY_AUTH_TOKEN``). Clients connecting with ``address="auto"`` pick it up automatically; with an
explicit address they need ``RAY_AUTH_MODE=token`` in their environment. ``auth=False`` (or
``EDGEFLEET_RAY_AUTH=disabled``) starts the cluster without it.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from edgefleet.constants import DEFAULT_NAMESPACE
from edgefleet.policy.schema import Policy
from fleet.control.placement import DEVICE_RESOURCE_PREFIX, NODE_NAME_LABEL, SIMULATED_LABEL
from fleet.errors import ClusterError
from fleet.ray_adapter.node_process import ray_executable

log = logging.getLogger("edgefleet.cluster")

OBJECT_STORE_BYTES = 96 * 1024 * 1024
AUTH_ENV = "EDGEFLEET_RAY_AUTH"


def auth_enabled_by_default() -> bool:
    """Token auth unless ``EDGEFLEET_RAY_AUTH`` (or ``RAY_AUTH_MODE``) says ``disabled``."""
    return os.environ.get(AUTH_ENV, os.environ.get("RAY_AUTH_MODE", "token")).lower() != "disabled"


def enable_token_auth() -> None:
    """Turn Ray token auth on for this process and its children; create the token if missing."""
    os.environ["RAY_AUTH_MODE"] = "token"
    from ray._private.authentication.authentication_token_setup import ensure_token_if_auth_enabled
    from ray._raylet import Config  # type: ignore[attr-defined]

    Config.initialize("")  # re-read RAY_AUTH_MODE
    ensure_token_if_auth_enabled(None, create_token_if_missing=True)


def disable_token_auth() -> None:
    """Turn Ray token auth off for this process and its children."""
    os.environ["RAY_AUTH_MODE"] = "disabled"
    from ray._raylet import Config  # type: ignore[attr-defined]

    Config.initialize("")


def _restore_auth_mode(previous: str | None) -> None:
    if previous is None:
        os.environ.pop("RAY_AUTH_MODE", None)
    else:
        os.environ["RAY_AUTH_MODE"] = previous
    from ray._raylet import Config  # type: ignore[attr-defined]

    Config.initialize("")


@dataclass
class LocalCluster:
    """A running local Ray cluster (head + simulated nodes) this process is connected to."""

    address: str
    cluster: Any
    node_names: list[str] = field(default_factory=list)
    namespace: str = DEFAULT_NAMESPACE
    started_s: float = 0.0
    previous_auth_mode: str | None = None

    def shutdown(self) -> None:
        """Disconnect and stop every raylet of the cluster (idempotent)."""
        import ray

        if self.cluster is None:
            return
        try:
            ray.shutdown()
        finally:
            try:
                self.cluster.shutdown()
            finally:
                self.cluster = None
                _restore_auth_mode(self.previous_auth_mode)


def _add_nodes(cluster: Any, fleet: Any, head_resources: dict[str, float], object_store_bytes: int) -> None:
    """The head (control plane only when simulated nodes exist), then one raylet per simulated node."""
    cluster.add_node(
        num_cpus=fleet.head_num_cpus,
        resources=head_resources,
        labels={NODE_NAME_LABEL: "head"},
        include_dashboard=False,
        object_store_memory=object_store_bytes,
    )
    for node in fleet.simulated_nodes:
        labels = {**node.labels, NODE_NAME_LABEL: node.name, SIMULATED_LABEL: "true"}
        extra: dict[str, Any] = {}
        if node.memory_mb is not None:
            extra["memory"] = node.memory_mb * 1024 * 1024
        cluster.add_node(
            num_cpus=node.num_cpus,
            resources={f"{DEVICE_RESOURCE_PREFIX}{d}": 1.0 for d in node.devices},
            labels=labels,
            object_store_memory=object_store_bytes,
            **extra,
        )


def start_local_cluster(
    policy: Policy,
    *,
    auth: bool | None = None,
    object_store_bytes: int = OBJECT_STORE_BYTES,
    connect: bool = True,
) -> LocalCluster:
    """Start a head and the policy's simulated nodes on this machine; connect this process.

    The head advertises ``ov_CPU`` only when the policy declares no simulated nodes (so replicas
    have somewhere to go); otherwise it runs the control plane only.
    """
    import ray
    from ray.cluster_utils import Cluster

    if connect and ray.is_initialized():
        raise ClusterError("this process is already connected to Ray; call ray.shutdown() first")
    previous_auth_mode = os.environ.get("RAY_AUTH_MODE")
    use_auth = auth if auth is not None else auth_enabled_by_default()
    if use_auth:
        enable_token_auth()
    else:
        disable_token_auth()
    started = time.monotonic()
    fleet = policy.fleet
    head_resources = {} if fleet.simulated_nodes else {f"{DEVICE_RESOURCE_PREFIX}CPU": 1.0}
    # Ray installs signal handlers when it owns shutdown-at-exit: only possible on the main thread.
    on_main = threading.current_thread() is threading.main_thread()
    # A raylet must register with the GCS within Ray's fixed 30 s; on an overloaded machine it
    # sometimes does not. That one failure is worth a second attempt, nothing else is.
    for attempt in (1, 2):
        cluster = Cluster(shutdown_at_exit=on_main)
        try:
            _add_nodes(cluster, fleet, head_resources, object_store_bytes)
            if connect:
                ray.init(address=cluster.address, namespace=fleet.namespace, log_to_driver=False)
            break
        except Exception as exc:
            cluster.shutdown()
            if attempt == 1 and "timed out during startup" in str(exc):
                log.warning("a raylet did not register in time (%s); starting the cluster again", exc)
                continue
            _restore_auth_mode(previous_auth_mode)
            raise ClusterError(f"cannot start the local Ray cluster: {type(exc).__name__}: {exc}") from exc
    if not on_main:
        atexit.register(cluster.shutdown)
    names = ["head", *(n.name for n in fleet.simulated_nodes)]
    elapsed = time.monotonic() - started
    log.info("local Ray cluster at %s with nodes %s in %.1fs", cluster.address, names, elapsed)
    return LocalCluster(cluster.address, cluster, names, fleet.namespace, elapsed, previous_auth_mode)


def local_device_resources() -> dict[str, float]:
    """``ov_<DEV>`` resources for the OpenVINO devices of this machine (``GPU.0`` -> ``ov_GPU``)."""
    from fleet.serving.runtime import available_devices

    kinds = {d.name.split(".")[0] for d in available_devices()}
    return {f"{DEVICE_RESOURCE_PREFIX}{kind}": 1.0 for kind in sorted(kinds)}


def join_command(
    head_address: str,
    labels: dict[str, str],
    num_cpus: float | None = None,
    resources: dict[str, float] | None = None,
    *,
    block: bool = False,
) -> list[str]:
    """The ``ray start`` command line that joins this machine as an edge node, with the ``ray``
    of this environment (`block`: it stays in the foreground, owning the node's processes)."""
    ray_bin = ray_executable()
    cpus = int(num_cpus) if num_cpus is not None else (os.cpu_count() or 1)
    res = resources if resources is not None else local_device_resources()
    label_text = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    cmd = [
        ray_bin,
        "start",
        f"--address={head_address}",
        f"--num-cpus={cpus}",
        f"--resources={json.dumps(res)}",
        "--disable-usage-stats",
        f"--object-store-memory={OBJECT_STORE_BYTES}",
    ]
    if label_text:
        cmd.append(f"--labels={label_text}")
    if block:
        cmd.append("--block")
    return cmd


def join_node(
    head_address: str,
    labels: dict[str, str],
    num_cpus: float | None = None,
    *,
    auth: bool | None = None,
    dry_run: bool = False,
) -> int:
    """Join this machine to a fleet's Ray cluster, advertising its OpenVINO devices.

    `labels` should include ``edgefleet.io/node`` (the node name; defaults to the host name).
    Returns the exit code of ``ray start`` (0 on success). With token auth the token must be
    present here (``~/.ray/auth_token`` or ``$RAY_AUTH_TOKEN``); ClusterError says so otherwise.
    """
    labels = {NODE_NAME_LABEL: os.uname().nodename, **labels}
    cmd = join_command(head_address, labels, num_cpus)
    env = join_env(auth)
    if dry_run:
        print(" ".join(cmd))
        return 0
    log.info("joining %s: %s", head_address, " ".join(cmd))
    return subprocess.run(cmd, env=env, check=False).returncode


def join_env(auth: bool | None = None) -> dict[str, str]:
    """The environment ``ray start`` joins with: token auth on unless disabled, with the token
    present here (ClusterError saying how to get it otherwise)."""
    env = dict(os.environ)
    use_auth = auth if auth is not None else auth_enabled_by_default()
    if use_auth:
        token_file = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
        if not os.environ.get("RAY_AUTH_TOKEN") and not os.path.exists(token_file):
            raise ClusterError(
                "Ray token authentication is on but no token is here: copy the head's ~/.ray/auth_token "
                f"to {token_file} or set RAY_AUTH_TOKEN (or pass auth=False for a cluster without auth)"
            )
        env["RAY_AUTH_MODE"] = "token"
    else:
        env["RAY_AUTH_MODE"] = "disabled"
    return env


def pin_simulated_nodes(local: LocalCluster) -> dict[str, int]:
    """Pin each simulated node's raylet, and so every worker it starts (replicas), to a core of its
    own, round robin over this process's cores (name -> core): a simulated node then offers one
    core, like a one-core edge box (benchmarks of scaling on one machine). Returns the mapping."""
    import psutil
    import ray

    names = {n["NodeID"]: (n.get("Labels") or {}).get(NODE_NAME_LABEL, "") for n in ray.nodes()}
    workers = sorted(local.cluster.worker_nodes, key=lambda node: names.get(node.node_id, ""))
    cores = sorted(os.sched_getaffinity(0))
    pinned: dict[str, int] = {}
    for i, node in enumerate(workers):
        core = cores[i % len(cores)]
        raylet = psutil.Process(node.all_processes["raylet"][0].process.pid)
        for proc in [raylet, *raylet.children(recursive=True)]:
            os.sched_setaffinity(proc.pid, {core})
        pinned[names.get(node.node_id, node.node_id)] = core
    return pinned
