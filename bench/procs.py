"""Run benchmark servers and one-shot measurements in separate processes.

:class:`ServerHost` spawns a process that builds async servers (named by a
``"module:function"`` builder), reports their addresses, serves until told to stop, then
shuts them down. :func:`run_in_process` runs one function in a fresh process and returns its
(picklable) result. Both use the ``spawn`` start method: a clean interpreter, no inherited
Ray or gRPC state, and every child is stopped (then terminated, then killed) on exit.
"""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing as mp
import sys
import traceback
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any

Builder = Callable[[dict[str, Any]], Awaitable[tuple[dict[str, str], Callable[[], Awaitable[None]]]]]


class BenchProcessError(RuntimeError):
    """A benchmark child process failed to start or to finish."""


@contextmanager
def _spawnable_main() -> Iterator[None]:
    """Hide a ``__main__.__file__`` that is not a real file (``python - < script``): ``spawn`` would
    try to re-run it in the child and fail. Children never need the parent's main module."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None or Path(path).is_file():
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


def start_process(proc: Any) -> None:
    """``proc.start()`` safe for any kind of ``__main__``."""
    with _spawnable_main():
        proc.start()


def _resolve(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _host_main(conn: Connection, builder_path: str, spec: dict[str, Any]) -> None:
    asyncio.run(_host(conn, builder_path, spec))


async def _host(conn: Connection, builder_path: str, spec: dict[str, Any]) -> None:
    try:
        builder: Builder = _resolve(builder_path)
        addresses, stop = await builder(spec)
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises
        conn.send(("error", traceback.format_exc()))
        return
    conn.send(("ready", addresses))
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(None, _wait_for_stop, conn)
    finally:
        await stop()
        try:
            conn.send(("stopped", {}))
        except (OSError, EOFError):
            pass


def _wait_for_stop(conn: Connection) -> None:
    try:
        conn.recv()
    except (EOFError, OSError):
        pass  # the parent went away: stop too


class ServerHost:
    """Context manager: servers built by `builder_path(spec)` in a child process.

    ``with ServerHost("bench.services:build_echo", {}) as addresses: ...``
    """

    def __init__(self, builder_path: str, spec: dict[str, Any], start_timeout_s: float = 120.0) -> None:
        self.builder_path = builder_path
        self.spec = spec
        self.start_timeout_s = start_timeout_s
        self.addresses: dict[str, str] = {}
        self._ctx = mp.get_context("spawn")
        self._conn: Connection | None = None
        self._proc: Any = None

    def __enter__(self) -> dict[str, str]:
        parent, child = self._ctx.Pipe()
        self._conn = parent
        self._proc = self._ctx.Process(
            target=_host_main, args=(child, self.builder_path, self.spec), name=f"bench-{self.builder_path}"
        )
        start_process(self._proc)
        child.close()
        if not parent.poll(self.start_timeout_s):
            self.close()
            raise BenchProcessError(f"{self.builder_path} did not start within {self.start_timeout_s:.0f} s")
        try:
            kind, payload = parent.recv()
        except EOFError as exc:
            self.close()
            raise BenchProcessError(f"{self.builder_path} died while starting") from exc
        if kind != "ready":
            self.close()
            raise BenchProcessError(f"{self.builder_path} failed to start:\n{payload}")
        self.addresses = dict(payload)
        return self.addresses

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """The child's process id (None before start)."""
        return None if self._proc is None else int(self._proc.pid)

    def close(self, timeout_s: float = 20.0) -> None:
        """Ask the child to stop; terminate then kill it if it does not."""
        if self._conn is not None:
            try:
                self._conn.send("stop")
                if self._conn.poll(timeout_s):
                    self._conn.recv()
            except (OSError, EOFError, BrokenPipeError):
                pass
            self._conn.close()
            self._conn = None
        _reap(self._proc)
        self._proc = None


def _reap(proc: Any, timeout_s: float = 10.0) -> None:
    if proc is None:
        return
    proc.join(timeout_s)
    if proc.is_alive():
        proc.terminate()
        proc.join(5.0)
    if proc.is_alive():
        proc.kill()
        proc.join(5.0)


def _call_main(conn: Connection, fn_path: str, kwargs: dict[str, Any]) -> None:
    try:
        result = _resolve(fn_path)(**kwargs)
        conn.send(("ok", result))
    except BaseException:  # noqa: BLE001 - reported to the parent
        conn.send(("error", traceback.format_exc()))


def run_in_process(fn_path: str, kwargs: dict[str, Any], timeout_s: float = 600.0) -> Any:
    """Run ``fn_path(**kwargs)`` in a fresh spawned process and return its result."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_call_main, args=(child, fn_path, kwargs), name=f"bench-{fn_path}")
    start_process(proc)
    child.close()
    try:
        if not parent.poll(timeout_s):
            raise BenchProcessError(f"{fn_path} did not finish within {timeout_s:.0f} s")
        try:
            kind, payload = parent.recv()
        except EOFError as exc:
            raise BenchProcessError(f"{fn_path} died (exit code {proc.exitcode})") from exc
        if kind != "ok":
            raise BenchProcessError(f"{fn_path} failed:\n{payload}")
        return payload
    finally:
        parent.close()
        _reap(proc)
