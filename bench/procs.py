"""Run benchmark servers and measurement probes in separate processes.

:class:`ServerHost` spawns a process that builds async servers (named by a
``"module:function"`` builder), reports their addresses, serves until told to stop, then shuts
them down. :class:`Probe` builds an object in a child process and lets the parent call its
methods (a measurement that must run elsewhere, interleaved with the parent's own). Both use the
``spawn`` start method: a clean interpreter, no inherited Ray or gRPC state; every child is
stopped (then terminated, then killed) on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import multiprocessing as mp
import sys
import traceback
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any, Self

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
    if spec.get("event_loop") == "uvloop":  # the builder's servers run on uvloop's event loop
        import uvloop

        uvloop.run(_host(conn, builder_path, spec))
        return
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
        with suppress(OSError, EOFError):
            conn.send(("stopped", {}))


def _wait_for_stop(conn: Connection) -> None:
    with contextlib.suppress(EOFError, OSError):  # the parent went away: stop too
        conn.recv()


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

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
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


def _probe_main(conn: Connection, factory_path: str, kwargs: dict[str, Any]) -> None:
    try:
        probe = _resolve(factory_path)(**kwargs)
    except BaseException:  # noqa: BLE001 - reported to the parent
        conn.send(("error", traceback.format_exc()))
        return
    conn.send(("ready", getattr(probe, "info", {})))
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return
            if message is None:
                return
            method, args = message
            try:
                conn.send(("ok", getattr(probe, method)(*args)))
            except BaseException:  # noqa: BLE001 - reported to the parent
                conn.send(("error", traceback.format_exc()))
    finally:
        close = getattr(probe, "close", None)
        if close is not None:
            close()


class Probe:
    """Context manager: an object built by `factory_path(**kwargs)` in a child process, whose
    methods the parent calls with ``call(method, *args)`` (a measurement that must run elsewhere,
    e.g. a Ray driver, interleaved with the parent's other measurements)."""

    def __init__(self, factory_path: str, kwargs: dict[str, Any], start_timeout_s: float = 180.0) -> None:
        self.factory_path = factory_path
        self.kwargs = kwargs
        self.start_timeout_s = start_timeout_s
        self.info: Any = None
        self._conn: Connection | None = None
        self._proc: Any = None

    def start(self) -> None:
        """Spawn the child; `wait_ready` collects its answer (so startup overlaps other work)."""
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self._conn = parent
        self._proc = ctx.Process(
            target=_probe_main,
            args=(child, self.factory_path, self.kwargs),
            name=f"bench-probe-{self.factory_path}",
        )
        start_process(self._proc)
        child.close()

    def wait_ready(self) -> Any:
        """Block until the probe is built; its ``info``."""
        if self.info is not None:
            return self.info
        assert self._conn is not None
        if not self._conn.poll(self.start_timeout_s):
            raise BenchProcessError(f"{self.factory_path} did not start within {self.start_timeout_s:.0f} s")
        try:
            kind, payload = self._conn.recv()
        except EOFError as exc:
            raise BenchProcessError(f"{self.factory_path} died while starting") from exc
        if kind != "ready":
            raise BenchProcessError(f"{self.factory_path} failed to start:\n{payload}")
        self.info = payload if payload is not None else {}
        return self.info

    def call(self, method: str, *args: Any, timeout_s: float = 600.0) -> Any:
        """Run ``probe.method(*args)`` in the child and return its result."""
        self.wait_ready()
        assert self._conn is not None
        self._conn.send((method, args))
        if not self._conn.poll(timeout_s):
            raise BenchProcessError(f"{self.factory_path}.{method} did not finish within {timeout_s:.0f} s")
        kind, payload = self._conn.recv()
        if kind != "ok":
            raise BenchProcessError(f"{self.factory_path}.{method} failed:\n{payload}")
        return payload

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self, timeout_s: float = 30.0) -> None:
        """Tell the child to close the probe and exit; terminate it if it does not."""
        if self._conn is not None:
            with suppress(OSError, BrokenPipeError):
                self._conn.send(None)
            self._conn.close()
            self._conn = None
        _reap(self._proc, timeout_s)
        self._proc = None
