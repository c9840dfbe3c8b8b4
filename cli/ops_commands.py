"""CLI commands that start, stop and inspect a fleet: ``up``, ``down`` and ``status``
(``node join|leave``: :mod:`cli.node_commands`)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cli.runstate import RunState, api_key, client_tls, home, pid_alive, router_address


def up(args: argparse.Namespace) -> int:
    """Start the local fleet, in the foreground or detached."""
    config = str(Path(args.config).resolve())
    running = RunState.read()
    if running is not None and pid_alive(running.pid):
        print(
            f"a fleet is already running (pid {running.pid}, router {running.router}); "
            "`edgefleet down` first",
            file=sys.stderr,
        )
        return 1
    RunState.clear()
    if not args.detach:
        from cli.supervisor import run_supervisor

        return run_supervisor(
            config,
            ready_timeout=args.ready_timeout,
            log_format=args.log_format,
            foreground=True,
            tls=args.tls,
        )
    log = home() / "run" / "fleet.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cli.supervisor",
                "--config",
                config,
                "--ready-timeout",
                str(args.ready_timeout),
                "--log-format",
                args.log_format,
                "--tls",
                args.tls,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + args.ready_timeout + 30
    while time.monotonic() < deadline:
        state = RunState.read()
        if state is not None and state.pid == proc.pid and (state.ready or state.error):
            if state.error:
                print(f"fleet failed to start: {state.error}\nlog: {log}", file=sys.stderr)
                _stop_session(proc.pid, 30)
                return 1
            print(f"fleet up (pid {proc.pid})\n  router: {state.router}\n  ray:    {state.ray_address}")
            if state.http:
                print(f"  openai: {state.http}  (OpenAI-compatible front door)")
            for name, url in state.hosted.items():
                print(f"  hosted {name}: {url}")
            print(f"  log:    {log}\nstop with `edgefleet down`")
            return 0
        if proc.poll() is not None:
            print(
                f"fleet exited with code {proc.returncode} before it was ready\nlog: {log}", file=sys.stderr
            )
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
            _stop_session(proc.pid, 10)
            return 1
        time.sleep(0.2)  # polling a child process's state file, bounded by the deadline
    print(f"fleet not ready after {args.ready_timeout:.0f}s; stopping it. log: {log}", file=sys.stderr)
    _stop_session(proc.pid, 30)
    return 1


def down(args: argparse.Namespace) -> int:
    """Stop the fleet started by ``edgefleet up`` and everything it started."""
    state = RunState.read()
    if state is None:
        print("no fleet is running")
        return 0
    left = _stop_session(state.pid, args.timeout)
    RunState.clear()
    if left:
        print(f"stopped, but {left} process(es) would not die", file=sys.stderr)
        return 1
    print(f"fleet stopped (pid {state.pid}); no process left behind")
    return 0


def _stop_session(pid: int, timeout: float) -> int:
    """SIGTERM the supervisor, wait, then kill whatever is left in its session.
    Returns how many processes survived."""
    import psutil

    def members() -> list[psutil.Process]:
        out = []
        for p in psutil.process_iter():
            try:
                if os.getsid(p.pid) == pid:
                    out.append(p)
            except (ProcessLookupError, PermissionError, psutil.Error):
                continue
        return out

    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
            psutil.Process(pid).wait(timeout=timeout)
    rest = members()
    for p in rest:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(rest, timeout=10)
    return len([p for p in members() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE])


def status(args: argparse.Namespace) -> int:
    """Print nodes, deployments, routes and traffic of a running router."""
    from google.protobuf import json_format

    from cli.status_view import render_snapshot
    from client import EdgeFleetClient, EdgeFleetError

    address = router_address(args.router)
    with EdgeFleetClient(address, api_key=api_key(args.api_key), timeout_s=10.0, tls=client_tls(args)) as ef:
        try:
            snap = ef.fleet.get()
        except EdgeFleetError as exc:
            print(f"router {address} unreachable: {exc}", file=sys.stderr)
            return 2
    running = RunState.read()
    http = running.http if running is not None and running.router == address else ""
    if args.json:
        print(json_format.MessageToJson(snap, preserving_proto_field_name=True))
    else:
        render_snapshot(snap, address, http=http)
    return 0
