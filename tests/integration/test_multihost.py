"""A second machine for real: an edge node in its own network namespace (``ip netns`` + a veth
pair with its own address; root needed, traffic stays between this machine and the namespace)
joins a head on this machine's end of the veth with ``edgefleet node join``, gets replicas by
selector, serves routed traffic, is lost (its processes killed: replicas re-placed on the head),
joins again and leaves with ``edgefleet node leave`` (drained, its processes stopped). The
scenario runs in a driver process (tests/fixtures/multihost_driver.py); this test builds and
removes the namespace and the head. Marked ``multihost`` (run with ``-m multihost`` or ``make
multihost``; about two minutes, so not part of ``make test``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleet.errors import ClusterError
from fleet.ray_adapter.cluster import OBJECT_STORE_BYTES
from fleet.ray_adapter.node_process import ray_executable, start_node, stop_pid
from tests.fixtures.models import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.multihost]
FAST_NODE_DEATH = {  # the GCS declares a lost node dead after ~3 s instead of ~30 s
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


@dataclass(frozen=True)
class Machine:
    """The second machine: its namespace and the two ends of the veth."""

    netns: str
    host_ip: str
    node_ip: str


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def second_machine() -> Iterator[Machine]:
    """A network namespace joined to this machine by a veth pair (10.231.K.1 here, .2 there)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 (ip netns) for a second machine")
    pid = os.getpid()
    netns, here, there, k = f"efmh{pid}", f"efh{pid % 100000}", f"efn{pid % 100000}", pid % 250
    machine = Machine(netns, f"10.231.{k}.1", f"10.231.{k}.2")
    try:
        _ip("netns", "add", netns)
        _ip("link", "add", here, "type", "veth", "peer", "name", there)
        _ip("link", "set", there, "netns", netns)
        _ip("addr", "add", f"{machine.host_ip}/30", "dev", here)
        _ip("link", "set", here, "up")
        _ip("netns", "exec", netns, "ip", "addr", "add", f"{machine.node_ip}/30", "dev", there)
        _ip("netns", "exec", netns, "ip", "link", "set", there, "up")
        _ip("netns", "exec", netns, "ip", "link", "set", "lo", "up")
        yield machine
    finally:
        pids = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True, check=False)
        for p in pids.stdout.split():
            subprocess.run(["kill", "-9", p], check=False, capture_output=True)
        subprocess.run(["ip", "netns", "del", netns], check=False, capture_output=True)
        subprocess.run(["ip", "link", "del", here], check=False, capture_output=True)


RAY_ADDRESS_FILE = Path("/tmp/ray/ray_current_cluster")  # `ray start` (the joining node) rewrites it


@pytest.fixture
def head(second_machine: Machine) -> Iterator[str]:
    """A Ray head bound to this machine's end of the veth (labels zone=z1, one ov_CPU); the
    machine's current-cluster address file is put back afterwards."""
    saved = RAY_ADDRESS_FILE.read_bytes() if RAY_ADDRESS_FILE.exists() else None
    subprocess.run(  # the cluster token, as `edgefleet up` makes it (both machines share this disk)
        [
            sys.executable,
            "-c",
            "from fleet.ray_adapter.cluster import enable_token_auth; enable_token_auth()",
        ],
        check=True,
        timeout=60,
    )
    with socket.socket() as s:
        s.bind((second_machine.host_ip, 0))
        port = s.getsockname()[1]
    temp = tempfile.mkdtemp(prefix="efmh", dir="/tmp")
    cmd = [ray_executable(), "start", "--head", f"--node-ip-address={second_machine.host_ip}", f"--port={port}",
           "--num-cpus=1", '--resources={"ov_CPU": 1.0}', "--labels=edgefleet.io/node=head,zone=z1",
           "--include-dashboard=false", "--disable-usage-stats", f"--object-store-memory={OBJECT_STORE_BYTES}",
           f"--temp-dir={temp}", "--block"]  # fmt: skip
    env = {**os.environ, **FAST_NODE_DEATH, "RAY_AUTH_MODE": "token"}
    try:
        node = start_node(cmd, "head", "", {}, Path(temp) / "head.log", env)
    except ClusterError:  # an overloaded machine can miss Ray's own start-up deadlines: once more
        node = start_node(cmd, "head", "", {}, Path(temp) / "head-again.log", env)
    try:
        yield f"{second_machine.host_ip}:{port}"
    finally:
        stop_pid(node.pid, node.children)
        shutil.rmtree(temp, ignore_errors=True)
        if saved is not None:
            RAY_ADDRESS_FILE.write_bytes(saved)
        else:
            RAY_ADDRESS_FILE.unlink(missing_ok=True)


def test_second_machine_joins_serves_is_lost_and_leaves(
    head: str, second_machine: Machine, model_registry: Path, tmp_path: Path
) -> None:
    cmd = [sys.executable, "-m", "tests.fixtures.multihost_driver", "--head", head,
           "--netns", second_machine.netns, "--home", str(tmp_path / "home"),
           "--registry", str(Path(model_registry).resolve())]  # fmt: skip
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    done = subprocess.run(
        cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=420, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, f"driver failed ({done.returncode}):\n{done.stderr[-4000:]}"
    out = json.loads(lines[-1])
    assert out["join"]["rc"] == 0, out["join"]
    assert out["node_address"] == second_machine.node_ip  # a machine with its own address
    before = out["served_before_loss"]
    assert set(before["store"]) == {"store-7"} and set(before["shared"]) == {"head", "store-7"}
    assert out["killed_processes"] > 0 and "site=store-7" in out["store_error_after_loss"]
    assert out["traffic_shared"]["ok"] >= 40 and out["rejoin_rc"] == 0
    assert out["leave"]["rc"] == 0, out["leave"]
    assert "drained" in out["leave"]["stdout"] and out["netns_pids_after_leave"] == []
    assert out["store_after_leave"] == []
    print(
        f"\nmulti-host: joined in {out['join_s']} s; after the machine was lost `shared` was re-placed in "
        f"{out['replaced_s']} s (shared route: {out['traffic_shared']}; store route: {out['traffic_store']}); "
        f"leave took {out['leave_s']} s: {out['leave']['stdout'].strip().splitlines()[-1]}"
    )
