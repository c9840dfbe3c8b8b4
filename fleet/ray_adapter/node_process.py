"""The Ray processes that make this machine an edge node: started by ``edgefleet node join``,
stopped by ``edgefleet node leave``.

``ray start --address HEAD --block`` runs with the Ray of EdgeFleet's own environment (the ``ray``
next to this Python, so a venv needs no PATH), detached in its own session, its output in a log
file. It stays in the foreground of that session and owns the node's raylet and agents: stopping
it (SIGTERM) stops them all, and its reaper kills them if it dies. :class:`NodeProcess` records
its pid and children, so ``leave`` stops exactly what ``join`` started, never another Ray on
the machine (``ray stop`` would stop every Ray process here, a local head included).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fleet.errors import ClusterError

STARTED_LINE = "Ray runtime started"


def ray_executable() -> str:
    """The ``ray`` command of this Python's environment (else the one on PATH)."""
    here = Path(sys.executable).parent / "ray"
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    found = shutil.which("ray")
    if found is None:
        raise ClusterError(f"no `ray` command next to {sys.executable} nor on PATH: is Ray installed here?")
    return found


@dataclass
class NodeProcess:
    """A joined node as ``join`` left it: name, head, the ``ray start --block`` pid, its children."""

    name: str
    head: str
    pid: int
    log: str
    labels: dict[str, str] = field(default_factory=dict)
    children: list[int] = field(default_factory=list)
    started_unix: float = 0.0

    def to_json(self) -> str:
        """The record as JSON."""
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> NodeProcess:
        """A record from :meth:`to_json`."""
        data = json.loads(text)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def alive(self) -> bool:
        """True while the ``ray start --block`` process runs."""
        import psutil

        try:
            proc = psutil.Process(self.pid)
            return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False


def start_node(cmd: list[str], name: str, head: str, labels: dict[str, str], log: Path, env: dict[str, str],
               timeout_s: float = 90.0) -> NodeProcess:  # fmt: skip
    """Run `cmd` (a ``ray start --block`` line) detached and wait until the node runs (its log
    says so); ClusterError with the log's tail when it exits or times out first."""
    import psutil

    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout_s
    while STARTED_LINE not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            why = (
                f"exited with code {proc.returncode}"
                if proc.poll() is not None
                else f"not up after {timeout_s:.0f} s"
            )
            stop_pid(proc.pid, [], 10.0)
            tail = log.read_text(errors="replace")[-2000:]
            raise ClusterError(f"`ray start` {why} joining {head}; log {log}:\n{tail}")
        time.sleep(0.2)  # polling the child's log file, bounded by the deadline
    children = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    return NodeProcess(name, head, proc.pid, str(log), dict(labels), children, time.time())


def stop_pid(pid: int, children: list[int], timeout_s: float = 30.0) -> int:
    """SIGTERM `pid` (``ray start --block`` then stops its processes), wait for them (`children`,
    its processes when it started) to go, then SIGKILL whatever is left of it, its session and
    `children` (``ray start`` itself can linger after its processes are gone). Returns how many
    processes survived."""
    import psutil

    def members() -> list[psutil.Process]:
        out: dict[int, psutil.Process] = {}
        for p in psutil.process_iter():
            with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
                if p.pid == pid or p.pid in children or os.getsid(p.pid) == pid:
                    out[p.pid] = p
        return list(out.values())

    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)
    owned = [p for p in members() if p.pid != pid and not _is_reaper(p)]  # the reaper waits for pid
    if not owned:
        with contextlib.suppress(psutil.Error):
            owned = [psutil.Process(pid)]
    psutil.wait_procs(owned, timeout=timeout_s)
    with contextlib.suppress(psutil.Error):
        psutil.Process(pid).wait(timeout=2.0)
    rest = members()
    for p in rest:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(rest, timeout=10)
    return len([p for p in members() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE])


def _is_reaper(proc: object) -> bool:
    """Ray's process reaper (it kills the group once ``ray start`` is gone, so it outlives it)."""
    try:
        return any("reaper" in part for part in proc.cmdline())  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - gone or unreadable: not one to wait for
        return False
